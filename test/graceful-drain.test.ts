/**
 * A graceful stop under keep-alive load, through the real server (supervisor, two uWS workers):
 * from SIGTERM, /ready answers 503 while the listeners keep accepting for drain_delay and every
 * response says Connection: close; then the listeners close, a request in flight finishes, and
 * the process exits. No client loses a request it sent: the only errors are refused connections
 * once the listeners are closed (a client then goes to another replica).
 */
import type http from 'node:http';
import t from 'tap';
import { request } from './lib/client.js';
import { keepAliveLoad } from './lib/keepalive-load.js';
import { startOrigin } from './lib/origins.js';
import { startCliWithConfig } from './lib/tls.js';
import { freePort, waitFor } from './lib/util.js';

for (const drainDelay of [1500, 0]) t.test(`SIGTERM with drain_delay ${drainDelay} ms: not ready, Connection: close${drainDelay ? ', still accepting' : ''}; then closed; no request lost`, { timeout: 60_000 }, async (t) => {
  const held: http.ServerResponse[] = [];
  const origin = await startOrigin(t, (req, res) => {
    req.resume();
    if (req.url === '/slow') held.push(res);
    else res.end('ok');
  });
  const port = await freePort();
  const adminPort = await freePort();
  const cli = await startCliWithConfig(
    t,
    `listen: [127.0.0.1:${port}]
workers: 2
drain_delay: ${drainDelay}ms
log: { access: false }
admin: { listen: 127.0.0.1:${adminPort} }
upstreams:
  app: { servers: [127.0.0.1:${origin.port}] }
`,
    port,
  );
  const load = keepAliveLoad(t, port);
  const outcomes = load.outcomes;
  await waitFor(() => outcomes.length >= 200, 10_000, 'load before the stop');
  const slow = request({ port, path: '/slow', timeout: 15_000 });
  await waitFor(() => held.length === 1, 5000, 'the slow request at the origin');

  const termAt = Date.now();
  cli.proc.kill('SIGTERM');
  await waitFor(async () => (await request({ port: adminPort, path: '/ready' })).status === 503, 2000, '/ready to answer 503');
  const readyOff = Date.now() - termAt;
  t.ok(readyOff < 1000, `/ready answered 503 within ${readyOff} ms of SIGTERM`);

  // During drain_delay: requests still succeed, now with Connection: close.
  if (drainDelay > 0) await waitFor(() => outcomes.some((o) => o.at > termAt + 300 && o.status === 200), 3000, 'a request served while draining');
  const closedAt = await waitFor(() => outcomes.find((o) => o.error === 'ECONNREFUSED')?.at ?? false, 10_000, 'the listeners to close');
  held[0]!.end('slow done');
  t.equal((await slow).body.toString(), 'slow done', 'the request in flight at SIGTERM finished');
  await load.stop();
  const exited = await cli.exited;
  t.equal(exited.code, 0, 'the process exited cleanly');

  const closedAfter = (closedAt as number) - termAt;
  t.ok(closedAfter >= drainDelay - 100, `the listeners closed ${closedAfter} ms after SIGTERM (drain_delay ${drainDelay} ms)`);
  const draining = outcomes.filter((o) => o.at > termAt + 200 && o.status === 200);
  if (drainDelay > 0) t.ok(draining.length > 0, `${draining.length} requests served while draining`);
  if (drainDelay > 0) t.ok(draining.every((o) => o.connection === 'close'), `each with Connection: close (${JSON.stringify([...new Set(draining.map((o) => o.connection))])})`);
  // A request sent on a kept-alive connection is never lost. A new connection the kernel queued on
  // a listener as it closed is reset by the kernel (no other replica here to migrate it to); its
  // client saw no response and may resend, as it would after a refused connection.
  const lost = outcomes.filter((o) => o.error !== null && o.error !== 'ECONNREFUSED' && o.reused);
  t.same(lost, [], `no request on a keep-alive connection lost, of ${outcomes.length}`);
  const resetAtClose = outcomes.filter((o) => o.error !== null && o.error !== 'ECONNREFUSED' && !o.reused);
  t.ok(resetAtClose.every((o) => o.error === 'ECONNRESET' && Math.abs(o.at - (closedAt as number)) < 200), `new connections reset only as the listeners closed (${resetAtClose.length})`);
});
