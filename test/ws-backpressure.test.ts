/**
 * Backpressure with bounded memory, through the CLI (uWS relay): a 1 GiB stream to a client that
 * reads slowly while the worker's RSS is sampled, and a client writing to an upstream that does
 * not read, which must end with 1013 rather than unbounded buffering.
 */
import t from 'tap';
import { rssBytes } from './lib/cli.js';
import { cliWs, connect, rawWebSocket, startWsOrigin } from './lib/ws.js';
import { sleep, withTimeout } from './lib/util.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

t.test('1 GiB from the upstream to a slow reader: everything arrives, the worker stays small', { timeout: 90_000 }, async (t) => {
  const origin = await startWsOrigin(t);
  const proxy = await cliWs.start(t, { servers: [origin.port] });
  const [pid] = proxy.pids();
  t.ok(pid, 'one worker');
  const before = rssBytes(pid!);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid!))), 50);
  t.teardown(() => clearInterval(sampler));

  const c = connect(proxy.port, `/stream?bytes=${GiB}&size=65536`);
  await c.opened;
  const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
  let received = 0;
  let nextPause = 8 * MiB;
  const done = new Promise<void>((resolve, reject) => {
    c.ws.on('message', (data: Buffer, binary: boolean) => {
      if (!binary) {
        if (data.toString() === 'done') resolve();
        else reject(new Error(`unexpected text ${data.toString().slice(0, 50)}`));
        return;
      }
      received += data.length;
      if (received >= nextPause) {
        // A slow reader: stop reading for a while every 8 MiB.
        nextPause += 8 * MiB;
        socket.pause();
        setTimeout(() => socket.resume(), 25);
      }
    });
    c.ws.on('close', (code: number, reason: Buffer) => {
      // Say why: the close code and what the proxy logged at warn or worse.
      const logged = proxy.cli!.lines.filter((l) => Number(l.level) >= 40).map((l) => JSON.stringify(l)).slice(-5);
      reject(new Error(`closed after ${received} bytes with ${code} ${reason.toString()}; proxy logged: ${logged.join(' | ') || 'nothing'}; stderr: ${proxy.cli!.stderr().slice(-500)}`));
    });
  });
  // Drop the messages the helper keeps, or the test process would hold the whole GiB.
  c.messages.length = 0;
  const keep = setInterval(() => (c.messages.length = 0), 100);
  t.teardown(() => clearInterval(keep));
  const started = Date.now();
  await withTimeout(done, 80_000, `the 1 GiB stream (${received} bytes so far)`);
  clearInterval(sampler);
  t.equal(received, GiB, 'every byte arrived, in order of messages');
  const grew = peak - before;
  t.comment(`1 GiB in ${((Date.now() - started) / 1000).toFixed(1)} s; worker RSS ${(before / MiB).toFixed(0)} MiB before, peak ${(peak / MiB).toFixed(0)} MiB`);
  t.ok(grew < 96 * MiB, `the worker's RSS grew by ${(grew / MiB).toFixed(1)} MiB (< 96 MiB) while relaying 1 GiB`);
  c.ws.close();
  await c.closed;
});

t.test('an upstream that stops reading: the client is closed with 1013 once max_buffered is held', { timeout: 30_000 }, async (t) => {
  const origin = await startWsOrigin(t, {
    deaf: rawWebSocket((io) => io.socket.pause()),
  });
  const proxy = await cliWs.start(t, { servers: [origin.port], websocket: { max_buffered: '1MiB' } });
  const [pid] = proxy.pids();
  const before = rssBytes(pid!);
  const c = connect(proxy.port, '/raw/deaf');
  await c.opened;
  const chunk = Buffer.alloc(64 * 1024, 3);
  let sent = 0;
  let closed = false;
  void c.closed.then(() => (closed = true));
  // Bounded: at most 256 MiB, paced by the client's own socket.
  while (!closed && sent < 256 * MiB) {
    c.ws.send(chunk);
    sent += chunk.length;
    if (c.ws.bufferedAmount > 8 * MiB) await sleep(5);
    if (sent % (4 * MiB) === 0) await sleep(0);
  }
  const result = await withTimeout(c.closed, 10_000, 'the 1013 close');
  t.equal(result.code, 1013, `closed with 1013 after ${(sent / MiB).toFixed(0)} MiB sent`);
  t.ok(sent < 256 * MiB, 'long before the bound of the test');
  const grew = rssBytes(pid!) - before;
  t.ok(grew < 64 * MiB, `the worker's RSS grew by ${(grew / MiB).toFixed(1)} MiB`);
});
