/**
 * Health and balancing through the real server (supervisor, two uWS workers, real origins):
 * active health checks run once for the whole process tree and take a server out and back in
 * (fall/rise), backups serve only while no primary is usable, 503 names an upstream with no usable
 * server, one worker's passive ejection holds in every worker, weights are honoured, least_request
 * favours the idle server, and the hash policy maps a key to the same server across workers and
 * across restarts, moving only the keys of a server that leaves.
 */
import type http from 'node:http';
import t, { type Test } from 'tap';
import type { Cli } from './lib/cli.js';
import { request } from './lib/client.js';
import { startOrigin, type Origin } from './lib/origins.js';
import { startCliWithConfig } from './lib/tls.js';
import { freePort, waitFor } from './lib/util.js';

const T = { timeout: 60_000 };

interface Named extends Origin {
  name: string;
  /** Proxied requests (not health probes) seen so far. */
  served(): number;
  /** Health probes seen so far. */
  probes(): number;
}

/** An origin that answers its name; /healthz answers `health.status` (200 until changed). */
async function named(t: Test, name: string, opts: { delay?: number; health?: { status: number } } = {}): Promise<Named> {
  const health = opts.health ?? { status: 200 };
  const origin = await startOrigin(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    if (req.url === '/healthz') {
      res.writeHead(health.status).end();
      return;
    }
    const answer = (): void => void res.writeHead(200, { 'x-origin': name }).end(name);
    if (opts.delay) setTimeout(answer, opts.delay);
    else answer();
  });
  return Object.assign(origin, {
    name,
    served: () => origin.requests.filter((r) => r.url !== '/healthz').length,
    probes: () => origin.requests.filter((r) => r.url === '/healthz').length,
  });
}

/** GET on a new connection (so that requests spread over the workers); the body. */
async function get(port: number, path = '/', headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
  const res = await request({ port, path, headers, timeout: 10_000 });
  return { status: res.status, body: res.body.toString() };
}

async function tally(port: number, n: number, headers: http.OutgoingHttpHeaders = {}): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const { body } = await get(port, '/', headers);
    counts.set(body, (counts.get(body) ?? 0) + 1);
  }
  return counts;
}

/**
 * Wait for the supervisor's line about a health change, then for every worker to have applied it:
 * a scrape of /status goes to each worker over the same IPC channel as the change, after it, so a
 * worker's answer means it has the change.
 */
async function supervisorSays(cli: Cli, msg: string, upstream: string, after: number, adminPort: number): Promise<void> {
  await cli.waitForLine((l) => l.msg === msg && l['upstream'] === upstream && cli.lines.indexOf(l) >= after, 10_000, `"${msg}" for ${upstream}`);
  const status = await request({ port: adminPort, path: '/status', timeout: 5000 });
  if (status.status !== 200) throw new Error(`/status answered ${status.status}`);
}

t.test('active health checks: one probe per interval for all workers; fall takes a server out, rise brings it back; backups; 503 naming the upstream', T, async (t) => {
  const b = await named(t, 'b');
  const primary = await named(t, 'primary');
  const spare = await named(t, 'spare');
  const solo = await named(t, 'solo', { health: { status: 500 } });
  const aHealth = { status: 200 };
  const a2 = await named(t, 'a2', { health: aHealth });
  const port = await freePort();
  const adminPort = await freePort();
  const check = '{ path: /healthz, interval: 200ms, timeout: 150ms, rise: 2, fall: 2 }';
  const started = Date.now();
  const cli = await startCliWithConfig(
    t,
    `listen: [127.0.0.1:${port}]
workers: 2
admin: { listen: 127.0.0.1:${adminPort} }
upstreams:
  app:
    servers: [127.0.0.1:${a2.port}, 127.0.0.1:${b.port}]
    health_check: ${check}
  withbackup:
    servers: [127.0.0.1:${primary.port}, { address: 127.0.0.1:${spare.port}, backup: true }]
    health_check: ${check}
  solo:
    servers: [127.0.0.1:${solo.port}]
    health_check: ${check}
routes:
  - { host: backup.test, upstream: withbackup }
  - { host: solo.test, upstream: solo }
  - { path: /, upstream: app }
`,
    port,
  );
  // Round robin over both while both pass.
  const before = await tally(port, 12);
  t.ok((before.get('a2') ?? 0) > 0 && (before.get('b') ?? 0) > 0, `both servers serve: ${JSON.stringify([...before])}`);

  // a2 starts failing: after `fall` probes it is out, in both workers.
  let mark = cli.lines.length;
  aHealth.status = 503;
  await supervisorSays(cli, 'server fails its health checks: out of rotation', 'app', mark, adminPort);
  const servedBefore = a2.served();
  const during = await tally(port, 16);
  t.equal(a2.served(), servedBefore, `no request reached the failing server: ${JSON.stringify([...during])}`);
  t.equal(during.get('b'), 16);
  // /status and /metrics say so.
  const status = JSON.parse((await request({ port: adminPort, path: '/status', timeout: 5000 })).body.toString()) as {
    upstreams: Array<{ name: string; servers: Array<{ server: string; health: string; check?: { healthy: boolean; lastStatus: number | null; failures: number } }> }>;
  };
  const shown = status.upstreams.find((u) => u.name === 'app')!.servers[0]!;
  t.match(shown, { server: `127.0.0.1:${a2.port}`, health: 'unhealthy', check: { healthy: false, lastStatus: 503 } });
  const metrics = (await request({ port: adminPort, path: '/metrics', timeout: 5000 })).body.toString();
  const labels = `upstream="app",server="127.0.0.1:${a2.port}"`;
  t.ok(metrics.includes(`portcullis_upstream_server_up{${labels}} 0`), 'server_up 0');
  const fails = /portcullis_health_checks_total\{([^}]*)\} (\d+)/g;
  const failed = [...metrics.matchAll(fails)].find((m) => m[1] === `${labels},result="fail"`);
  t.ok(failed !== undefined && Number(failed[2]) >= 2, `failed probes counted: ${failed?.[0]}`);

  // Probes: one per interval per server for the whole tree, not one per worker.
  const elapsed = Date.now() - started;
  t.ok(a2.probes() <= elapsed / 200 + 2, `${a2.probes()} probes in ${elapsed} ms at a 200 ms interval (two workers would double them)`);
  t.ok(a2.probes() >= 3);

  // It passes again: after `rise` probes it is back.
  mark = cli.lines.length;
  aHealth.status = 200;
  await supervisorSays(cli, 'server passes its health checks again: back in rotation', 'app', mark, adminPort);
  const after = await tally(port, 12);
  t.ok((after.get('a2') ?? 0) > 0, `back in rotation: ${JSON.stringify([...after])}`);

  // The backup idles while the primary is up.
  const backup = await tally(port, 6, { host: 'backup.test' });
  t.same([...backup], [['primary', 6]]);
  t.equal(spare.served(), 0);

  // A single server failing its checks: 503 with a body naming the upstream, and a log line why.
  await supervisorSays(cli, 'server fails its health checks: out of rotation', 'solo', 0, adminPort);
  const refused = await get(port, '/', { host: 'solo.test' });
  t.equal(refused.status, 503);
  t.equal(refused.body, '503 Service Unavailable: no server of upstream "solo" is available\n');
  const logged = await cli.waitForLine((l) => typeof l['err'] === 'string' && (l['err'] as string).includes('upstream "solo"'), 5000, 'the log line');
  t.equal(logged['err'], 'no usable server in upstream "solo" (1 unhealthy)');
  t.equal(solo.served(), 0);
});

t.test('backup takes over only while the primary fails its checks', T, async (t) => {
  const health = { status: 200 };
  const primary = await named(t, 'primary', { health });
  const spare = await named(t, 'spare');
  const port = await freePort();
  const adminPort = await freePort();
  const cli = await startCliWithConfig(
    t,
    `listen: [127.0.0.1:${port}]
workers: 2
admin: { listen: 127.0.0.1:${adminPort} }
upstreams:
  app:
    servers: [127.0.0.1:${primary.port}, { address: 127.0.0.1:${spare.port}, backup: true }]
    health_check: { path: /healthz, interval: 150ms, timeout: 100ms, rise: 1, fall: 1 }
`,
    port,
  );
  t.same([...(await tally(port, 6))], [['primary', 6]]);
  let mark = cli.lines.length;
  health.status = 500;
  await supervisorSays(cli, 'server fails its health checks: out of rotation', 'app', mark, adminPort);
  t.same([...(await tally(port, 6))], [['spare', 6]], 'the backup serves while the primary is out');

  // A worker that dies and is replaced starts with what holds now: the primary out.
  const victim = cli.children()[0]!;
  const replaced = cli.waitForLine((l) => l.msg === 'worker replaced', 15_000, 'the replacement worker');
  process.kill(victim, 'SIGKILL');
  await replaced;
  t.notOk(cli.children().includes(victim));
  t.same([...(await tally(port, 8))], [['spare', 8]], 'the new worker keeps the primary out too');
  t.equal(primary.served(), 6, 'the primary got nothing since it failed its checks');

  mark = cli.lines.length;
  health.status = 200;
  await supervisorSays(cli, 'server passes its health checks again: back in rotation', 'app', mark, adminPort);
  t.same([...(await tally(port, 6))], [['primary', 6]], 'and idles again once it is back');
});

t.test('passive health: one worker ejects a server that refuses connections, and every worker stops trying it', T, async (t) => {
  const live = await named(t, 'live');
  const deadPort = await freePort();
  const port = await freePort();
  const adminPort = await freePort();
  const cli = await startCliWithConfig(
    t,
    `listen: [127.0.0.1:${port}]
workers: 2
admin: { listen: 127.0.0.1:${adminPort} }
log: { level: info, access: true }
upstreams:
  app:
    servers: [127.0.0.1:${live.port}, 127.0.0.1:${deadPort}]
    passive_health: { consecutive_failures: 2, base_ejection_time: 60s }
`,
    port,
  );
  // Each refused connection is retried on the live server: clients see only 200s.
  let sent = 0;
  const ejected = cli.waitForLine((l) => l.msg === 'server ejected by passive health in every worker', 15_000, 'the ejection');
  let done = false;
  void ejected.then(() => (done = true), () => (done = true));
  while (!done && sent < 200) {
    t.equal((await get(port)).status, 200);
    sent++;
  }
  const line = await ejected;
  t.equal(line['server'], `127.0.0.1:${deadPort}`);
  // Every worker has the ejection once it answered a scrape sent after it (same IPC channel).
  t.equal((await request({ port: adminPort, path: '/status', timeout: 5000 })).status, 200);
  // Access lines are batched (up to 100 ms): count once all of them are in.
  const access = (): number => cli.lines.filter((l) => l.msg === 'access').length;
  await waitFor(() => access() >= sent, 5000, 'the access log lines so far');
  const retriedBefore = cli.lines.filter((l) => l.msg === 'access' && Number(l['retries'] ?? 0) > 0).length;
  // From now on no worker tries the dead server: no request is retried.
  for (let i = 0; i < 30; i++) t.equal((await get(port)).body, 'live');
  await waitFor(() => access() >= sent + 30, 5000, 'the access log lines');
  const retriedAfter = cli.lines.filter((l) => l.msg === 'access' && Number(l['retries'] ?? 0) > 0).length;
  t.ok(retriedBefore >= 2, `${retriedBefore} requests were retried before the ejection`);
  t.equal(retriedAfter, retriedBefore, 'none after it, in either worker');
  if (retriedAfter !== retriedBefore) t.comment(JSON.stringify(cli.lines.filter((l) => l.msg !== 'access' || Number(l['retries'] ?? 0) > 0)));
  const pids = new Set(cli.lines.filter((l) => l.msg === 'access').slice(-30).map((l) => l.pid));
  t.equal(pids.size, 2, 'both workers served requests after the ejection');
});

t.test('weights are honoured across workers; least_request favours the idle server', T, async (t) => {
  const heavy = await named(t, 'heavy');
  const light = await named(t, 'light');
  const port = await freePort();
  await startCliWithConfig(
    t,
    `listen: [127.0.0.1:${port}]
workers: 2
log: { access: false }
upstreams:
  app:
    servers: [{ address: 127.0.0.1:${heavy.port}, weight: 3 }, 127.0.0.1:${light.port}]
`,
    port,
  );
  const counts = await tally(port, 200);
  const share = (counts.get('heavy') ?? 0) / 200;
  t.ok(share >= 0.65 && share <= 0.85, `weight 3 of 4 got ${(share * 100).toFixed(0)}% (expected 75% ± 10)`);

  const slow = await named(t, 'slow', { delay: 150 });
  const fast = await named(t, 'fast');
  const port2 = await freePort();
  await startCliWithConfig(
    t,
    `listen: [127.0.0.1:${port2}]
workers: 1
log: { access: false }
upstreams:
  app:
    servers: [127.0.0.1:${slow.port}, 127.0.0.1:${fast.port}]
    balance: least_request
`,
    port2,
  );
  const seen = new Map<string, number>();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = 0; i < 12; i++) {
        const { body } = await get(port2);
        seen.set(body, (seen.get(body) ?? 0) + 1);
      }
    }),
  );
  const fastShare = (seen.get('fast') ?? 0) / 96;
  t.ok(fastShare > 0.7, `the idle server got ${(fastShare * 100).toFixed(0)}% of 96 requests (round robin would give 50%)`);
});

t.test('hash: the same key goes to the same server in every worker and after a restart; a server leaving moves only its keys', T, async (t) => {
  const origins = await Promise.all(['s0', 's1', 's2', 's3', 's4'].map((n) => named(t, n)));
  const users = Array.from({ length: 60 }, (_, i) => `user-${i}`);
  const config = (servers: Named[], port: number): string =>
    `listen: [127.0.0.1:${port}]
workers: 2
log: { access: false }
upstreams:
  app:
    servers: [${servers.map((o) => `127.0.0.1:${o.port}`).join(', ')}]
    balance: hash
    hash_key: header:X-User
`;
  /** Each user's server; every user asked 3 times on new connections (spread over both workers). */
  const mapping = async (port: number): Promise<Map<string, string>> => {
    const m = new Map<string, string>();
    for (const u of users) {
      const answers = new Set<string>();
      for (let i = 0; i < 3; i++) answers.add((await get(port, '/', { 'x-user': u })).body);
      t.equal(answers.size, 1, `${u}: one server for all its requests (${[...answers].join(', ')})`);
      m.set(u, [...answers][0]!);
    }
    return m;
  };
  const port = await freePort();
  const first = await startCliWithConfig(t, config(origins, port), port);
  const m1 = await mapping(port);
  t.ok(new Set(m1.values()).size >= 4, 'the keys spread over the servers');
  await first.stop();

  const port2 = await freePort();
  const second = await startCliWithConfig(t, config(origins, port2), port2);
  const m2 = await mapping(port2);
  t.same([...m2], [...m1], 'the same mapping after a restart');
  await second.stop();

  // s2 leaves the configuration: only its keys move.
  const port3 = await freePort();
  await startCliWithConfig(t, config(origins.filter((o) => o.name !== 's2'), port3), port3);
  const m3 = await mapping(port3);
  const moved = users.filter((u) => m3.get(u) !== m1.get(u));
  const wereOnS2 = users.filter((u) => m1.get(u) === 's2');
  t.same(moved, wereOnS2, `only the keys of the server that left moved (${moved.length} of ${users.length})`);
  t.ok(moved.length / users.length < 0.4, 'about 1/N of the keys');
});
