/**
 * The admin endpoint served by the supervisor: /ready is 503 from the moment the process starts
 * (the endpoint is up before the workers) until every worker listens, 200 then, and 503 again as
 * soon as a graceful stop begins while a slow request is still in flight (/live stays 200 until
 * the end); the bearer token (401 without it or with a wrong one); 404 and 405; /status with
 * workers, servers and certificates; a stopped worker makes a scrape report it late after the
 * scrape timeout instead of waiting for it; a worker killed with SIGKILL is reported missing by a
 * scrape during its restart, /ready is 503 until its replacement listens, and the restart is counted.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type http from 'node:http';
import t from 'tap';
import { certDir, issue, makeCa } from './lib/certs.js';
import { startCli } from './lib/cli.js';
import { request, type ClientResponse } from './lib/client.js';
import { startOrigin } from './lib/origins.js';
import { startCliWithConfig, tempDir } from './lib/tls.js';
import { freePort, sleep, waitFor, withTimeout } from './lib/util.js';

const T = { timeout: 30_000 };

async function get(port: number, path: string, opts: { token?: string; method?: string } = {}): Promise<ClientResponse> {
  const headers: http.OutgoingHttpHeaders = opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` };
  return request({ port, path, headers, method: opts.method ?? 'GET', timeout: 5000 });
}

/** The value of one sample line of the Prometheus text (labels written as prom-client writes them). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

t.test('/ready: 503 while starting, 200 when every worker listens, 503 once a graceful stop begins; /live 200 throughout', T, async (t) => {
  /** Responses to /slow are held until release(). */
  const held: http.ServerResponse[] = [];
  const origin = await startOrigin(t, (req, res) => {
    req.resume();
    if (req.url === '/slow') held.push(res);
    else res.end('ok');
  });
  const port = await freePort();
  const adminPort = await freePort();
  const dir = tempDir(t, 'portcullis-admin-');
  const config = join(dir, 'portcullis.yaml');
  writeFileSync(
    config,
    `listen: [127.0.0.1:${port}]
workers: 2
admin: { listen: 127.0.0.1:${adminPort} }
upstreams:
  app: { servers: [127.0.0.1:${origin.port}] }
`,
  );
  const cli = await startCli(t, ['--config', config], { waitReady: false, port });

  // From the spawn on: connection refused until the endpoint listens, then 503, then 200.
  const seen: Array<{ status: number; body: string }> = [];
  await waitFor(
    async () => {
      try {
        const res = await get(adminPort, '/ready');
        seen.push({ status: res.status, body: res.body.toString() });
        return res.status === 200;
      } catch {
        return false;
      }
    },
    15_000,
    '/ready to answer 200',
    5,
  );
  const first200 = seen.findIndex((s) => s.status === 200);
  t.ok(seen.slice(0, first200).length > 0, `/ready answered before the workers listened (${first200} answers before the first 200)`);
  t.ok(seen.slice(0, first200).every((s) => s.status === 503 && s.body === 'not ready: starting\n'), '503 "not ready: starting" until then');
  await cli.waitForLine((l) => l.msg === 'ready', 2000, 'the ready line');
  t.equal((await get(adminPort, '/live')).status, 200, '/live 200');

  const slow = request({ port, path: '/slow', timeout: 15_000 });
  await waitFor(() => held.length === 1, 5000, 'the slow request at the origin');
  cli.proc.kill('SIGTERM');
  const stopping = await waitFor(
    async () => {
      const res = await get(adminPort, '/ready');
      return res.status === 503 && res;
    },
    3000,
    '/ready 503 after SIGTERM',
    5,
  );
  t.equal(stopping.body.toString(), 'not ready: stopping\n', '503 "not ready: stopping" while the slow request is in flight');
  t.equal((await get(adminPort, '/live')).status, 200, '/live still 200 while draining');
  t.equal(held.length, 1, 'the slow request is still held');
  t.equal(cli.proc.exitCode, null, 'the process is still running');
  held[0]!.end('slow done');
  const res = await slow;
  t.equal(res.status, 200, 'the slow request completed');
  t.equal(res.body.toString(), 'slow done');
  const exit = await withTimeout(cli.exited, 10_000, 'the CLI to exit');
  t.equal(exit.code, 0, 'clean exit');
  await t.rejects(get(adminPort, '/live'), 'the admin endpoint closed with the process');
});

t.test('token, errors, /status, a late worker and a killed one', T, async (t) => {
  const origin = await startOrigin(t);
  const certs = certDir(t);
  const leaf = issue(makeCa(certs), 'admin', { dns: ['admin.test'] });
  const token = 'c0ffee-and-a-long-random-token';
  const tokenFile = join(certs, 'admin.token');
  writeFileSync(tokenFile, `${token}\n`);
  const port = await freePort();
  const tlsPort = await freePort();
  const adminPort = await freePort();
  const cli = await startCliWithConfig(
    t,
    `workers: 2
listen:
  - 127.0.0.1:${port}
  - address: 127.0.0.1:${tlsPort}
    tls: { cert: ${leaf.chain.path}, key: ${leaf.key.path} }
admin:
  listen: 127.0.0.1:${adminPort}
  token_file: ${tokenFile}
  scrape_timeout: 500ms
upstreams:
  app: { servers: [127.0.0.1:${origin.port}] }
`,
    port,
  );

  await t.test('bearer token', async (t) => {
    for (const path of ['/metrics', '/status', '/nope']) {
      const none = await get(adminPort, path);
      t.equal(none.status, 401, `${path} without a token: 401`);
      t.match(none.header('www-authenticate')[0], /^Bearer /, 'with a Bearer challenge');
      const wrong = await get(adminPort, path, { token: 'c0ffee-and-a-long-random-tokeN' });
      t.equal(wrong.status, 401, `${path} with a wrong token: 401`);
      t.match(wrong.header('www-authenticate')[0], /invalid_token/);
    }
    t.equal((await get(adminPort, '/status', { token: 'short' })).status, 401, 'a token of another length: 401');
    t.equal((await get(adminPort, '/status', { token })).status, 200, 'the right token: 200');
    // The probes are open: they say only whether the process is up and ready.
    t.equal((await get(adminPort, '/live')).status, 200, '/live without a token: 200');
    t.equal((await get(adminPort, '/ready')).status, 200, '/ready without a token: 200');
    t.equal((await get(adminPort, '/reload', { method: 'POST' })).status, 401, 'POST /reload without a token: 401');
    t.equal((await get(adminPort, '/metrics', { token })).status, 200);
  });

  await t.test('404, 405, HEAD', async (t) => {
    t.equal((await get(adminPort, '/nope', { token })).status, 404);
    t.equal((await get(adminPort, '/metrics/', { token })).status, 404, 'paths match exactly');
    const post = await get(adminPort, '/metrics', { token, method: 'POST' });
    t.equal(post.status, 405);
    t.equal(post.header('allow')[0], 'GET, HEAD');
    const head = await get(adminPort, '/live', { token, method: 'HEAD' });
    t.equal(head.status, 200);
    t.equal(head.body.length, 0, 'HEAD has no body');
    t.equal((await get(adminPort, '/live?x=1', { token })).status, 200, 'a query is ignored');
  });

  await t.test('/status', async (t) => {
    await request({ port, path: '/warm' });
    const res = await get(adminPort, '/status', { token });
    t.equal(res.status, 200);
    t.match(res.header('content-type')[0], /^application\/json/);
    const s = res.json<Record<string, any>>();
    t.match(s, { version: /^\d+\.\d+\.\d+/, node: process.version, config: /portcullis\.yaml$/, ready: true, stopping: false });
    t.type(s.uptime, 'number');
    t.equal(s.workers.length, 2);
    t.same(new Set(s.workers.map((w: any) => w.pid)), new Set(cli.children()), 'the workers by pid');
    for (const w of s.workers) t.match(w, { slot: Number, pid: Number, uptime: Number, restarts: 0, ready: true, answered: true });
    t.equal(s.upstreams.length, 1);
    const server = s.upstreams[0].servers[0];
    t.match(s.upstreams[0], { name: 'app', balance: 'round_robin' });
    t.match(server, { server: `127.0.0.1:${origin.port}`, index: 0, weight: 1, backup: false, health: 'up', ejectedUntil: null, ejections: 0, queue: 0, workersReporting: 2 });
    t.match(server.pool, { open: Number, connecting: 0, idle: Number, busy: 0 });
    t.ok(server.pool.open >= 1 && server.pool.idle === server.pool.open, 'the warm-up connection is idle');
    t.equal(s.certificates.length, 1);
    const cert = s.certificates[0];
    t.match(cert, { listener: `127.0.0.1:${tlsPort}`, certFile: leaf.chain.path, names: ['admin.test'] });
    t.ok(Date.parse(cert.notAfter) > Date.now(), `notAfter ${cert.notAfter} is a future date`);
    const metrics = (await get(adminPort, '/metrics', { token })).body.toString();
    const notAfter = sample(metrics, `portcullis_tls_certificate_not_after_seconds{listener="127.0.0.1:${tlsPort}",cert_file="${leaf.chain.path}",names="admin.test"}`);
    t.equal(notAfter, Date.parse(cert.notAfter) / 1000, 'the not-after metric matches');
  });

  await t.test('a stopped worker is reported late after the scrape timeout, not waited for', async (t) => {
    const [stopped] = cli.children();
    process.kill(stopped!, 'SIGSTOP');
    t.teardown(() => {
      try {
        process.kill(stopped!, 'SIGCONT');
      } catch {
        /* gone */
      }
    });
    const started = performance.now();
    const res = await get(adminPort, '/metrics', { token });
    const elapsed = performance.now() - started;
    t.equal(res.status, 200);
    t.ok(elapsed >= 450 && elapsed < 1500, `answered after the 500 ms timeout (${elapsed.toFixed(0)} ms)`);
    const text = res.body.toString();
    t.equal(sample(text, 'portcullis_scrape_workers{result="answered"}'), 1);
    t.equal(sample(text, 'portcullis_scrape_workers{result="late"}'), 1);
    const status = (await get(adminPort, '/status', { token })).json<{ workers: Array<{ pid: number; answered: boolean }> }>();
    t.same(status.workers.map((w) => w.answered).sort(), [false, true], '/status says which worker did not answer');
    t.equal(status.workers.find((w) => !w.answered)!.pid, stopped);
    process.kill(stopped!, 'SIGCONT');
    await waitFor(async () => sample((await get(adminPort, '/metrics', { token })).body.toString(), 'portcullis_scrape_workers{result="answered"}') === 2, 5000, 'both workers answering again');
  });

  await t.test('a worker killed with SIGKILL: scrapes answer during its restart and report it missing', async (t) => {
    const before = (await get(adminPort, '/status', { token })).json<{ workers: Array<{ pid: number; slot: number }> }>();
    const victim = before.workers[1]!;
    const reasons = new Set<string>();
    const watchReady = (async () => {
      const statuses: number[] = [];
      const end = Date.now() + 10_000;
      while (Date.now() < end) {
        const r = await get(adminPort, '/ready', { token });
        statuses.push(r.status);
        if (r.status === 503) reasons.add(r.body.toString());
        if (statuses.includes(503) && r.status === 200) break;
        await sleep(5);
      }
      return statuses;
    })();
    process.kill(victim.pid, 'SIGKILL');
    const started = performance.now();
    const res = await get(adminPort, '/metrics', { token });
    const elapsed = performance.now() - started;
    t.equal(res.status, 200, 'the scrape answers');
    t.ok(elapsed < 1500, `within the timeout (${elapsed.toFixed(0)} ms)`);
    const text = res.body.toString();
    t.equal(sample(text, 'portcullis_scrape_workers{result="answered"}'), 1, 'one worker answered');
    t.equal((sample(text, 'portcullis_scrape_workers{result="late"}') ?? 0) + (sample(text, 'portcullis_scrape_workers{result="down"}') ?? 0), 1, 'the killed one is reported missing');
    t.equal(sample(text, 'portcullis_ready'), 0, 'not ready while it restarts');
    const statuses = await withTimeout(watchReady, 12_000, '/ready polling');
    t.ok(statuses.includes(503), '/ready went 503 while the worker restarted');
    t.same([...reasons], [`not ready: worker ${victim.slot} restarting\n`], 'saying which worker restarts');
    t.equal(statuses.at(-1), 200, 'and 200 once its replacement listens');
    const after = (await get(adminPort, '/metrics', { token })).body.toString();
    t.equal(sample(after, `portcullis_worker_restarts_total{worker="${victim.slot}"}`), 1, 'the restart is counted for its slot');
    t.equal(sample(after, 'portcullis_scrape_workers{result="answered"}'), 2, 'both workers answer again');
    const status = (await get(adminPort, '/status', { token })).json<{ workers: Array<{ pid: number; slot: number; restarts: number }> }>();
    const replaced = status.workers.find((w) => w.slot === victim.slot)!;
    t.not(replaced.pid, victim.pid, 'a new process in the slot');
    t.equal(replaced.restarts, 1);
  });
});
