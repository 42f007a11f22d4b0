/**
 * A rolling restart under keep-alive load, through the real server (supervisor, two uWS
 * workers): `POST /workers/restart` (and SIGUSR2) replaces every worker one at a time, the new one
 * listening before the old one drains, with /ready 200 throughout and no request lost on a
 * kept-alive connection. Connections the kernel queued on an old worker's listener as it closed
 * are moved to the new one only with net.ipv4.tcp_migrate_req=1; otherwise they are reset, and
 * the test counts them (it does not change the machine's setting).
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { request } from './lib/client.js';
import { keepAliveLoad } from './lib/keepalive-load.js';
import { startOrigin } from './lib/origins.js';
import { startCliWithConfig } from './lib/tls.js';
import { freePort, waitFor } from './lib/util.js';

const migrate = ((): boolean => {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '1';
  } catch {
    return false;
  }
})();

t.test('POST /workers/restart and SIGUSR2 replace every worker under load; no request on a kept-alive connection is lost', { timeout: 60_000 }, async (t) => {
  const origin = await startOrigin(t, (req, res) => {
    req.resume();
    res.end('ok');
  });
  const port = await freePort();
  const adminPort = await freePort();
  const cli = await startCliWithConfig(
    t,
    `listen: [127.0.0.1:${port}]
workers: 2
log: { access: false }
admin: { listen: 127.0.0.1:${adminPort} }
upstreams:
  app: { servers: [127.0.0.1:${origin.port}] }
`,
    port,
  );
  const load = keepAliveLoad(t, port);
  const outcomes = load.outcomes;
  const notReady: number[] = [];
  let running = true;
  const readiness = (async () => {
    while (running) {
      const r = await request({ port: adminPort, path: '/ready' });
      if (r.status !== 200) notReady.push(r.status);
    }
  })();
  await waitFor(() => outcomes.length >= 200, 10_000, 'load before the restart');

  const before = cli.children().sort();
  const r = await request({ port: adminPort, method: 'POST', path: '/workers/restart', timeout: 30_000 });
  t.equal(r.status, 200);
  t.match(JSON.parse(r.body.toString()), { ok: true, workers: 2 });
  const after = cli.children().sort();
  t.equal(after.length, 2, 'two workers again');
  t.same(after.filter((p) => before.includes(p)), [], `every worker was replaced (${before} -> ${after})`);

  // SIGUSR2 does the same.
  const mark = outcomes.length;
  cli.proc.kill('SIGUSR2');
  await cli.waitForLine((l) => l.msg === 'rolling restart done' && l['trigger'] === 'SIGUSR2', 30_000, 'the SIGUSR2 restart');
  await waitFor(() => outcomes.length >= mark + 200, 10_000, 'load after the restarts');
  running = false;
  await Promise.all([load.stop(), readiness]);

  t.same(notReady, [], '/ready answered 200 throughout');
  const ok = outcomes.filter((o) => o.status === 200).length;
  const lost = outcomes.filter((o) => o.error !== null && o.reused);
  t.same(lost, [], `no request on a kept-alive connection lost (${ok} of ${outcomes.length} served)`);
  const reset = outcomes.filter((o) => o.error !== null && !o.reused);
  if (migrate) t.same(reset, [], 'tcp_migrate_req=1: no new connection reset either');
  else {
    t.ok(reset.every((o) => o.error === 'ECONNRESET'), 'new connections were only reset (queued on a closing listener)');
    t.comment(`tcp_migrate_req=0: ${reset.length} new connections of ${outcomes.length} requests were reset as old listeners closed`);
  }
  t.ok(outcomes.every((o) => o.error !== null || o.status === 200), 'every answered request was a 200');
});
