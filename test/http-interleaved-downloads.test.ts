/**
 * Several slow downloads through one worker at once, each arriving byte-exact.
 *
 * Upstream sockets read into one buffer shared by the worker (core's read-buffer.ts), so a body
 * chunk a backed-up client cannot take yet must be copied before another socket's read reuses
 * that memory. One download alone never shows a missed copy (its own socket is paused while the
 * chunk waits); several interleaved slow readers do, as a wrong sha256.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { sha, slowGet } from './lib/client.js';
import { frontends, toOrigins } from './lib/frontends.js';
import { startOrigin } from './lib/origins.js';
import { sleep, withTimeout } from './lib/util.js';

/**
 * Two shapes of slow reader. Many short stalls catch a response whose last chunk is still
 * waiting for its client when the upstream finishes; a first long stall (the kernel's loopback
 * buffers fill, so the proxy itself holds bytes) catches chunks kept without a copy.
 */
const SHAPES = [
  { downloads: 6, size: 4 * 1024 * 1024, firstStall: 0, burst: 256 * 1024, pause: 20 },
  { downloads: 4, size: 16 * 1024 * 1024, firstStall: 300, burst: 1024 * 1024, pause: 10 },
];
const BODIES = Array.from({ length: 6 }, () => randomBytes(16 * 1024 * 1024));

for (const fe of frontends) {
  t.test(fe.name, async (t) => {
    for (const shape of SHAPES) {
      for (const framing of ['content-length', 'chunked'] as const) {
        const what = `${shape.downloads} slow downloads of ${shape.size / 1024 / 1024} MiB at once (${framing}, ${shape.burst / 1024} KiB bursts${shape.firstStall ? `, a ${shape.firstStall} ms stall first` : ''})`;
        t.test(`${what} each arrive byte-exact`, { timeout: 60_000 }, async (t) => {
          const size = shape.size;
          const origin = await startOrigin(t, (req, res) => {
            const i = Number(req.url!.slice(1));
            const body = BODIES[i]!.subarray(0, size);
            res.writeHead(200, framing === 'content-length' ? { 'content-length': String(size) } : {});
            // In 64 KiB writes, so the proxy's reads of the downloads' sockets interleave.
            let at = 0;
            const pump = (): void => {
              while (at < size) {
                const part = body.subarray(at, at + 65536);
                at += part.length;
                if (!res.write(part)) return void res.once('drain', pump);
              }
              res.end();
            };
            pump();
          });
          const proxy = await fe.start(t, { ...toOrigins(origin.port), workers: 1 });
          await sleep(50);
          const got = await withTimeout(
            Promise.all(BODIES.slice(0, shape.downloads).map((_, i) => slowGet(proxy.port, `/${i}`, shape))),
            45_000,
            what,
          );
          got.forEach((g, i) => {
            t.equal(g.complete, true, `download ${i} ended cleanly`);
            t.equal(g.length, size, `download ${i} got ${size} bytes`);
            t.equal(g.sha, sha(BODIES[i]!.subarray(0, size)), `download ${i} is byte-exact`);
          });
        });
      }
    }
  });
}
