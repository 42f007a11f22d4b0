/**
 * The CLI's worker processes: with --workers 2 both serve (access log lines carry the worker's
 * pid), and a worker killed with SIGKILL is replaced while the port keeps answering and the other
 * worker keeps running untouched.
 */
import t from 'tap';
import { request } from './lib/client.js';
import { accessPids } from './lib/cli.js';
import { cliFrontend, toOrigins } from './lib/frontends.js';
import { startOrigin } from './lib/origins.js';
import { waitFor } from './lib/util.js';

const T = { timeout: 90_000 };

/** One request on a new connection; a failure (error or 5xx) is retried once. */
async function getWithOneRetry(port: number, path: string): Promise<{ status: number; retried: boolean }> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const res = await request({ port, path, agent: false, timeout: 5000 });
      if (res.status === 200 || attempt === 1) return { status: res.status, retried: attempt === 1 };
    } catch (e) {
      if (attempt === 1) throw e;
    }
  }
  throw new Error('unreachable');
}

t.test('--workers 2: both worker processes serve requests', T, async (t) => {
  const origin = await startOrigin(t);
  const proxy = await cliFrontend.start(t, { ...toOrigins(origin.port), workers: 2 });
  const cli = proxy.cli!;
  const workers = await waitFor(() => {
    const c = cli.children();
    return c.length === 2 && c;
  }, 10_000, 'two worker processes');
  for (let i = 0; i < 40; i++) {
    const res = await request({ port: proxy.port, path: `/w/${i}`, agent: false });
    if (res.status !== 200) t.fail(`request ${i}: status ${res.status}`);
  }
  await waitFor(() => cli.lines.filter((l) => l.msg === 'access').length >= 40, 5000, '40 access log lines');
  const served = accessPids(cli);
  t.same([...served].sort(), [...workers].sort(), `access log pids ${[...served].join(',')} are both workers ${workers.join(',')}`);
});

t.test('a worker killed with SIGKILL is replaced while the port keeps answering, and the other worker is never restarted', T, async (t) => {
  const origin = await startOrigin(t);
  const proxy = await cliFrontend.start(t, { ...toOrigins(origin.port), workers: 2 });
  const cli = proxy.cli!;
  const [victim, survivor] = await waitFor(() => {
    const c = cli.children();
    return c.length === 2 && c;
  }, 10_000, 'two worker processes');

  const statuses: number[] = [];
  let retries = 0;
  let survivorAlways = true;
  const step = async (i: number): Promise<void> => {
    const r = await getWithOneRetry(proxy.port, `/k/${i}`);
    statuses.push(r.status);
    if (r.retried) retries++;
    if (!cli.children().includes(survivor!)) survivorAlways = false;
  };

  for (let i = 0; i < 10; i++) await step(i);
  process.kill(victim!, 'SIGKILL');
  let i = 10;
  // keep requests flowing until a replacement worker shows up (bounded)
  const deadline = Date.now() + 15_000;
  let replacement: number | undefined;
  while (Date.now() < deadline) {
    await step(i++);
    replacement = cli.children().find((p) => p !== victim && p !== survivor);
    if (replacement) break;
  }
  t.ok(replacement, `a replacement worker appeared (children now ${cli.children().join(',')})`);
  // keep going: the replacement must take a share of new connections once it listens
  const linesBefore = cli.lines.length;
  const servedAfter = (): Set<number> =>
    new Set(cli.lines.slice(linesBefore).filter((l) => l.msg === 'access').map((l) => Number(l.pid)));
  const sentBefore = statuses.length;
  const until = Date.now() + 10_000;
  while (Date.now() < until && !(replacement && servedAfter().has(replacement))) {
    await step(i++);
    if (replacement && !servedAfter().has(replacement)) {
      await waitFor(() => servedAfter().has(replacement!), 20, 'an access line from the replacement').catch(() => {});
    }
  }
  const sentAfter = statuses.length - sentBefore;
  t.same(statuses.filter((s) => s !== 200), [], `every request got 200 (${statuses.length} requests, ${retries} retried once)`);
  t.ok(survivorAlways, 'the other worker was present throughout');
  t.ok(cli.children().includes(survivor!), 'the other worker is still the same process');
  t.notOk(cli.children().includes(victim!), 'the killed worker is gone');
  if (replacement) {
    t.ok(servedAfter().has(replacement), `the replacement serves requests (${sentAfter} requests after it appeared; access pids: ${[...servedAfter()].join(',')})`);
  }
});
