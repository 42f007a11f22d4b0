/**
 * Clients that stop reading a response, through the CLI (uWS frontend). uWS 20.30 on its own cuts
 * a client that has taken no bytes for about 10 s; Portcullis keeps it for `send_timeout` (60 s,
 * as nginx), then closes it and drops the upstream socket that carried half the response.
 */
import http from 'node:http';
import t, { type Test } from 'tap';
import { cliFrontend, toOrigins } from './lib/frontends.js';
import { startOrigin } from './lib/origins.js';
import { withTimeout } from './lib/util.js';

const MiB = 1024 * 1024;
// Far more than loopback's socket buffers hold, so the proxy's writes back up while the client waits.
const SIZE = 32 * MiB;
const BLOCK = Buffer.alloc(MiB, 0x5a);

async function bigOrigin(t: Test) {
  return startOrigin(t, (req, res) => {
    res.writeHead(200, { 'content-length': String(SIZE), 'content-type': 'application/octet-stream' });
    let i = 0;
    const pump = (): void => {
      while (i < SIZE / MiB) {
        i++;
        if (!res.write(BLOCK)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
}

/**
 * GET the big body, reading nothing for `stallMs` after the head: how it ended, what arrived, and
 * when the head arrived.
 */
function download(port: number, stallMs: number): Promise<{ complete: boolean; bytes: number; headAt: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/big', agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      const headAt = Date.now();
      res.pause();
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ complete: res.complete, bytes, headAt }));
      res.on('error', () => resolve({ complete: false, bytes, headAt }));
      res.on('close', () => {
        if (!res.complete) resolve({ complete: false, bytes, headAt });
      });
      setTimeout(() => res.resume(), stallMs);
    });
  });
}

t.test('a client that takes nothing for 14 s (past uWS 20.30\'s own ~10 s cut) still gets the whole response', { timeout: 60_000 }, async (t) => {
  const origin = await bigOrigin(t);
  const proxy = await cliFrontend.start(t, toOrigins(origin.port));
  const got = await withTimeout(download(proxy.port, 14_000), 45_000, 'the stalled download');
  t.equal(got.complete, true, 'the body ended cleanly');
  t.equal(got.bytes, SIZE, 'every byte arrived');
});

t.test('send_timeout: a client that takes nothing for longer is closed, and the upstream socket is dropped', { timeout: 60_000 }, async (t) => {
  const origin = await bigOrigin(t);
  let upstreamClosedAt = 0;
  origin.server.on('connection', (s) => s.on('close', () => (upstreamClosedAt = Date.now())));
  const proxy = await cliFrontend.start(t, { ...toOrigins(origin.port), sendTimeout: 1_000 });
  // The client resumes after 7 s: sooner than uWS's own cut (8 s at the earliest), so only
  // send_timeout can end this response early.
  const got = await withTimeout(download(proxy.port, 7_000), 30_000, 'the stalled download');
  t.equal(got.complete, false, 'the response was cut');
  t.ok(got.bytes < SIZE, `only part of the body arrived (${got.bytes} bytes)`);
  await withTimeout(
    new Promise<void>((resolve) => {
      const check = (): void => void origin.server.getConnections((_, n) => (n === 0 ? resolve() : setTimeout(check, 50)));
      check();
    }),
    5_000,
    'the upstream connection to close',
  );
  const after = upstreamClosedAt - got.headAt;
  t.ok(after >= 900 && after < 6_500, `the proxy gave up ${after} ms after the head, past send_timeout and before the client read again`);
  t.equal(origin.connections, 1, 'the one upstream connection, which carried half the response, is closed');
  const line = await proxy.cli!.waitForLine((l) => l.msg === 'access', 5_000, 'the access line');
  t.equal(line.aborted, true, 'the access log marks the request aborted');
});
