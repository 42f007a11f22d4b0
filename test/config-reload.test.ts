/**
 * Configuration reload through the real server (supervisor, two uWS workers, real origins and
 * clients): under continuous keep-alive load, 20 reloads that move the catch-all route between
 * two upstreams fail no request, every request that started between two reloads is served by the
 * configuration then in force, and WebSockets opened before the first reload still echo after
 * the last; a broken file leaves the running configuration, with the error in the answer, the log,
 * the metric and /status; an added route and upstream serve at once; a removed server drains.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import t from 'tap';
import { startCli } from './lib/cli.js';
import { request } from './lib/client.js';
import { startOrigin, type Origin } from './lib/origins.js';
import { startCliWithConfig } from './lib/tls.js';
import { freePort, waitFor } from './lib/util.js';
import { connect, startWsOrigin } from './lib/ws.js';

const T = { timeout: 90_000 };

async function named(t: Parameters<typeof startOrigin>[0], name: string): Promise<Origin> {
  return startOrigin(t, (req, res) => {
    req.resume();
    res.end(name);
  });
}

async function reload(adminPort: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request({ port: adminPort, method: 'POST', path: '/reload', timeout: 15_000 });
  return { status: res.status, body: JSON.parse(res.body.toString()) as Record<string, unknown> };
}

function configText(port: number, adminPort: number, routeTo: string, origins: Record<string, Origin>, wsPort: number, extra = ''): string {
  return `listen: [127.0.0.1:${port}]
workers: 2
log: { access: false }
admin: { listen: 127.0.0.1:${adminPort} }
upstreams:
${Object.entries(origins)
  .map(([name, o]) => `  ${name}: { servers: [127.0.0.1:${o.port}] }`)
  .join('\n')}
  ws: { servers: [127.0.0.1:${wsPort}] }
${extra}routes:
  - { path: /ws/, upstream: ws, strip_prefix: true }
  - { path: /, upstream: ${routeTo} }
`;
}

t.test('20 reloads under keep-alive load: no failed request, each served by the configuration in force, WebSockets untouched', T, async (t) => {
  const one = await named(t, 'one');
  const two = await named(t, 'two');
  const wsOrigin = await startWsOrigin(t);
  const port = await freePort();
  const adminPort = await freePort();
  const origins = { one, two };
  const cli = await startCliWithConfig(t, configText(port, adminPort, 'one', origins, wsOrigin.port), port);

  // Opened ten at a time. Known, and not about reloads: uWS 20.30 occasionally closes a socket it
  // has just upgraded asynchronously, 1006 right after the 101 (docs/websockets.md, "Known
  // issue"). So the sockets that echo before the first reload are the ones followed through the
  // reloads; at most a few may be missing.
  const opened: ReturnType<typeof connect>[] = [];
  for (let b = 0; b < 5; b++) {
    const batch = Array.from({ length: 10 }, () => connect(port, '/ws/echo'));
    await Promise.all(batch.map((s) => s.opened));
    opened.push(...batch);
  }
  for (const [i, s] of opened.entries()) s.ws.send(`before ${i}`);
  const first = await Promise.allSettled(opened.map((s) => s.next(3000)));
  const sockets = opened.filter((_, i) => first[i]!.status === 'fulfilled' && (first[i] as PromiseFulfilledResult<{ data: Buffer }>).value.data.toString() === `before ${i}`);
  t.ok(sockets.length >= 45, `${sockets.length} of 50 WebSockets echo before the first reload`);
  const closesBefore = wsOrigin.closes.length;

  // The configuration in force: the upstream the catch-all route names, and when it took effect.
  // `settled` is false from the moment a reload is asked for until its answer arrives.
  let inForce = 'one';
  let settled = true;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  t.teardown(() => agent.destroy());
  let running = true;
  let sent = 0;
  const failures: string[] = [];
  const mismatches: string[] = [];
  const loop = async (): Promise<void> => {
    while (running) {
      const expected = settled ? inForce : null;
      try {
        const res = await request({ port, path: '/', agent, timeout: 10_000 });
        const body = res.body.toString();
        sent++;
        if (res.status !== 200) failures.push(`${res.status} ${body}`);
        else if (expected !== null && settled && body !== expected) mismatches.push(`expected ${expected}, got ${body}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const loops = Array.from({ length: 8 }, loop);

  for (let i = 1; i <= 20; i++) {
    const routeTo = i % 2 === 1 ? 'two' : 'one';
    writeFileSync(cli.configPath, configText(port, adminPort, routeTo, origins, wsOrigin.port));
    settled = false;
    const r = await reload(adminPort);
    t.equal(r.status, 200, `reload ${i} applied`);
    inForce = routeTo;
    settled = true;
    // Some requests under each configuration.
    const until = sent + 40;
    await waitFor(() => sent >= until, 10_000, 'requests under the new configuration');
  }
  running = false;
  await Promise.all(loops);
  t.same(failures, [], `no failed request of ${sent}`);
  t.same(mismatches.slice(0, 5), [], 'every request started between two reloads went where the configuration in force said');
  t.ok(one.requests.length > 100 && two.requests.length > 100, `both upstreams served (${one.requests.length}, ${two.requests.length})`);

  // The WebSockets opened before the first reload: all open, all echoing.
  for (const [i, s] of sockets.entries()) s.ws.send(`after ${i}`);
  const echoes = await Promise.all(sockets.map((s) => s.next()));
  t.ok(echoes.every((e, i) => e.data.toString() === `after ${i}`), `all ${sockets.length} still echo after 20 reloads`);
  t.equal(wsOrigin.closes.length, closesBefore, 'none was closed by the reloads');

  const metrics = (await request({ port: adminPort, path: '/metrics' })).body.toString();
  t.match(metrics, /portcullis_config_reloads_total\{result="success"\} 20/);
  void cli;
});

t.test('a broken file on reload: the running configuration stays; the error is answered, logged, counted and in /status', T, async (t) => {
  const one = await named(t, 'one');
  const wsOrigin = await startWsOrigin(t);
  const port = await freePort();
  const adminPort = await freePort();
  const cli = await startCliWithConfig(t, configText(port, adminPort, 'one', { one }, wsOrigin.port), port);
  writeFileSync(cli.configPath, configText(port, adminPort, 'one', { one }, wsOrigin.port).replace('servers: [127.0.0.1', 'servres: [127.0.0.1'));
  const r = await reload(adminPort);
  t.equal(r.status, 422);
  t.equal(r.body['ok'], false);
  t.match(String(r.body['error']), /portcullis\.yaml:6:\d+: upstreams\.one\.servres: unknown key \(did you mean "servers"\?\)/);
  t.equal((await request({ port, path: '/' })).body.toString(), 'one', 'still served by the running configuration');
  const logged = await cli.waitForLine((l) => l.msg === 'configuration reload failed; the running configuration stays', 5000, 'the log line');
  t.match(String(logged['err']), /servres/);
  const metrics = (await request({ port: adminPort, path: '/metrics' })).body.toString();
  t.match(metrics, /portcullis_config_reloads_total\{result="failure"\} 1/);
  const status = JSON.parse((await request({ port: adminPort, path: '/status' })).body.toString()) as { lastReload: { ok: boolean; error: string; trigger: string } };
  t.match(status.lastReload, { ok: false, trigger: 'POST /reload', error: /servres/ });

  // SIGHUP reloads too, once the file is fixed.
  writeFileSync(cli.configPath, configText(port, adminPort, 'one', { one }, wsOrigin.port));
  cli.proc.kill('SIGHUP');
  await cli.waitForLine((l) => l.msg === 'configuration reloaded' && l['trigger'] === 'SIGHUP', 10_000, 'the SIGHUP reload');
});

t.test('a route and an upstream added by a reload serve at once; a server removed drains; a new listener and worker count apply by a rolling restart', T, async (t) => {
  const one = await named(t, 'one');
  const extra = await named(t, 'extra');
  const gone = await named(t, 'gone');
  const wsOrigin = await startWsOrigin(t);
  const port = await freePort();
  const adminPort = await freePort();
  const both = `  pair: { servers: [127.0.0.1:${one.port}, 127.0.0.1:${gone.port}] }\n`;
  const cli = await startCliWithConfig(t, configText(port, adminPort, 'pair', { one }, wsOrigin.port, '').replace('  ws: {', `${both}  ws: {`), port);
  // Keep-alive connections to both servers of "pair".
  for (let i = 0; i < 6; i++) await request({ port, path: '/' });
  t.ok(gone.connections > 0);
  const port2 = await freePort();
  const before = cli.children().sort();
  const text = configText(port, adminPort, 'pair', { one, extra }, wsOrigin.port, '')
    .replace('  ws: {', `  pair: { servers: [127.0.0.1:${one.port}] }\n  ws: {`)
    .replace('routes:\n', 'routes:\n  - { path: /extra/, upstream: extra }\n')
    .replace(`listen: [127.0.0.1:${port}]`, `listen: [127.0.0.1:${port}, 127.0.0.1:${port2}]`)
    .replace('workers: 2', 'workers: 3');
  writeFileSync(cli.configPath, text);
  const r = await reload(adminPort);
  t.equal(r.status, 200);
  t.same(r.body['needsRestart'], [], 'nothing waits for a restart');
  t.equal((await request({ port: port2, path: '/extra/y' })).body.toString(), 'extra', 'the new listener serves');
  const after = cli.children();
  t.equal(after.length, 3, 'three workers now');
  t.same(after.filter((p) => before.includes(p)), [], 'each worker was replaced, one at a time');
  t.equal((await request({ port, path: '/extra/x' })).body.toString(), 'extra', 'the added route and upstream serve at once');
  for (let i = 0; i < 6; i++) t.equal((await request({ port, path: '/' })).body.toString(), 'one', 'the removed server gets nothing');
  // Its idle keep-alive connections were closed by both workers.
  await waitFor(async () => {
    const res = await request({ port: adminPort, path: '/status' });
    const s = JSON.parse(res.body.toString()) as { upstreams: Array<{ name: string; servers: Array<{ server: string }> }> };
    return s.upstreams.find((u) => u.name === 'pair')!.servers.length === 1;
  }, 5000, '/status to list one server');
  await waitFor(
    () => new Promise<boolean>((resolve) => gone.server.getConnections((_e, count) => resolve(count === 0))),
    5000,
    "the removed server's connections to close",
  );
});

t.test('watch: true reloads on a change of the file, a Kubernetes ConfigMap symlink swap included; unchanged content is not reloaded', T, async (t) => {
  const one = await named(t, 'one');
  const two = await named(t, 'two');
  const wsOrigin = await startWsOrigin(t);
  const port = await freePort();
  const adminPort = await freePort();
  const origins = { one, two };
  const text = (to: string): string => `watch: true\n${configText(port, adminPort, to, origins, wsOrigin.port)}`;
  // The layout kubelet writes for a ConfigMap volume: the file is a symlink through "..data",
  // itself a symlink to a timestamped directory that an update replaces with a rename.
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-configmap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const version = (name: string, body: string): void => {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'portcullis.yaml'), body);
  };
  version('..v1', text('one'));
  symlinkSync('..v1', join(dir, '..data'));
  symlinkSync('..data/portcullis.yaml', join(dir, 'portcullis.yaml'));
  const cli = await startCli(t, ['--config', join(dir, 'portcullis.yaml')], { port });
  t.equal((await request({ port, path: '/' })).body.toString(), 'one');

  // The swap: a new directory, a new "..data" link renamed over the old, the old directory gone.
  version('..v2', text('two'));
  symlinkSync('..v2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  rmSync(join(dir, '..v1'), { recursive: true });
  await cli.waitForLine((l) => l.msg === 'configuration reloaded' && l['trigger'] === 'file change', 10_000, 'the reload after the swap');
  t.equal((await request({ port, path: '/' })).body.toString(), 'two', 'served by the swapped-in configuration');

  // Touching the file without changing it reloads nothing.
  const reloads = (): number => cli.lines.filter((l) => l.msg === 'configuration reloaded').length;
  const before = reloads();
  writeFileSync(join(dir, '..v2', 'portcullis.yaml'), text('two'));
  await cli.waitForLine((l) => l.msg === 'configuration file changed on disk but not its content: not reloaded', 10_000, 'the skipped reload');
  // A change after it proves the watch is still alive.
  writeFileSync(join(dir, '..v2', 'portcullis.yaml'), text('one'));
  await cli.waitForLine((l) => l.msg === 'configuration reloaded' && cli.lines.indexOf(l) > 0 && reloads() > before, 10_000, 'the reload after a write');
  t.equal(reloads(), before + 1, 'one reload: the unchanged write was skipped');
  t.equal((await request({ port, path: '/' })).body.toString(), 'one');
});
