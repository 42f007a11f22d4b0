/**
 * Several WebSockets streaming to slow readers through one worker at once, every message intact.
 *
 * The upstream hop reads into a buffer shared by the worker's upstream sockets (core's
 * read-buffer.ts): a frame that spans reads, a fragment, or bytes a backed-up client cannot take
 * yet must be copied before the next read of any socket reuses that memory. Each stream here
 * fills its messages with its own byte, so bytes of one stream showing up in another fail it.
 */
import type net from 'node:net';
import t from 'tap';
import { withTimeout } from './lib/util.js';
import { connect, startWsOrigin, wsFrontends } from './lib/ws.js';

const STREAMS = 4;
const MiB = 1024 * 1024;
const BYTES = 32 * MiB;
const SIZE = 65536;

for (const fe of wsFrontends) {
  t.test(`${fe.name}: ${STREAMS} WebSocket streams of ${BYTES / MiB} MiB at once to slow readers arrive intact`, { timeout: 60_000 }, async (t) => {
    const origin = await startWsOrigin(t);
    const proxy = await fe.start(t, { servers: [origin.port] });
    const streams = Array.from({ length: STREAMS }, (_, i) => {
      const fill = 10 + i;
      const expected = Buffer.alloc(SIZE, fill);
      const c = connect(proxy.port, `/stream?bytes=${BYTES}&size=${SIZE}&fill=${fill}`);
      let received = 0;
      let wrong = 0;
      let stalls = 0;
      const done = c.opened.then(
        () =>
          new Promise<void>((resolve, reject) => {
            const socket = (c.ws as unknown as { _socket: net.Socket })._socket;
            c.ws.on('message', (data: Buffer, binary: boolean) => {
              c.messages.length = 0;
              if (!binary) return data.toString() === 'done' ? resolve() : reject(new Error(`unexpected text ${data.toString().slice(0, 40)}`));
              received += data.length;
              if (data.length !== SIZE || !data.equals(expected)) wrong++;
              // A slow reader: a short stop every 2 MiB.
              if (received >= (stalls + 1) * 2 * MiB) {
                stalls++;
                socket.pause();
                setTimeout(() => socket.resume(), 10);
              }
            });
            c.ws.on('close', (code: number) => reject(new Error(`stream ${i} closed with ${code} after ${received} bytes`)));
          }),
      );
      return { c, done, get received() { return received; }, get wrong() { return wrong; } };
    });
    await withTimeout(Promise.all(streams.map((s) => s.done)), 50_000, () => `the streams (${streams.map((s) => s.received).join(', ')} bytes so far)`);
    streams.forEach((s, i) => {
      t.equal(s.received, BYTES, `stream ${i}: every byte arrived`);
      t.equal(s.wrong, 0, `stream ${i}: every message is its own stream's bytes, whole`);
      s.c.ws.close();
    });
    await Promise.all(streams.map((s) => s.c.closed));
  });
}
