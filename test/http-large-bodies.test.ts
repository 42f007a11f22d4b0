/**
 * 64 MiB both ways with bounded proxy memory. The proxy runs in its own processes (CLI workers;
 * the node:http adapter in a child) so its VmRSS can be read from /proc.
 *
 * To make buffering visible, the receiving side stalls for STALL_MS before it reads: a proxy that
 * honours backpressure stops reading from the sender during the stall and holds only socket-sized
 * buffers; one that does not reads the whole 64 MiB into memory in that time (loopback moves it
 * in well under a second). Two bounds are checked:
 * - growth during the stall < STALL_LIMIT (backpressure), well under the 64 MiB body;
 * - peak growth over the whole transfer < TOTAL_LIMIT (bounded memory; it allows for garbage the
 *   collector has not yet returned).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import t from 'tap';
import { request } from './lib/client.js';
import { rssBytes } from './lib/cli.js';
import { frontends, toOrigins, type RunningProxy } from './lib/frontends.js';
import { startOrigin } from './lib/origins.js';
import { deferred, randomBody, sleep, waitFor, withTimeout } from './lib/util.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
const BLOCK = randomBody(MiB);
const STALL_MS = 1500;
const STALL_LIMIT = 40 * MiB;
const TOTAL_LIMIT = 150 * MiB;
const T = { timeout: 120_000 };

/** The i-th MiB of the 64 MiB body: a shared random block stamped with its index. */
function block(i: number): Buffer {
  const b = Buffer.from(BLOCK);
  b.writeUInt32BE(i, 0);
  return b;
}

const expectedSha = ((): string => {
  const h = createHash('sha256');
  for (let i = 0; i < SIZE / MiB; i++) h.update(block(i));
  return h.digest('hex');
})();

/** Samples the summed VmRSS of the proxy's processes every 20 ms. */
function sampler(pids: number[]) {
  const total = (): number => pids.reduce((a, p) => a + rssBytes(p), 0);
  const baseline = total();
  let peak = baseline;
  let stallPeak = baseline;
  let inStall = true;
  const timer = setInterval(() => {
    const v = total();
    peak = Math.max(peak, v);
    if (inStall) stallPeak = Math.max(stallPeak, v);
  }, 20);
  return {
    baseline,
    endStall() {
      stallPeak = Math.max(stallPeak, total());
      inStall = false;
    },
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, total());
      return { baseline, peak, stallPeak };
    },
  };
}

async function proxyProcesses(proxy: RunningProxy): Promise<number[]> {
  return waitFor(() => {
    const p = proxy.proxyPids();
    return p.length > 0 && p;
  }, 5000, 'the proxy process ids');
}

const fmt = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;

/** The proxy's last log lines, for a failure message (the CLI's; the node:http child logs nothing). */
function proxyLog(proxy: RunningProxy): string {
  const out = proxy.cli ? `${proxy.cli.stdout()}${proxy.cli.stderr()}` : '';
  const tail = out.trim().split('\n').slice(-15).join('\n');
  return tail ? `; the proxy's last log lines:\n${tail}` : '';
}

for (const fe of frontends) {
  t.test(fe.name, async (t) => {
    t.test('a 64 MiB upload streams through with bounded proxy memory and arrives byte-exact', T, async (t) => {
      const stallOver = deferred<void>();
      let arrived = 0;
      let sent = 0;
      const origin = await startOrigin(t, (req, res) => {
        if (req.method !== 'POST') return void res.end('warm');
        req.pause();
        const h = createHash('sha256');
        setTimeout(() => {
          stallOver.resolve();
          req.on('data', (d: Buffer) => {
            h.update(d);
            arrived += d.length;
          });
          req.on('end', () => res.end(JSON.stringify({ length: arrived, sha: h.digest('hex') })));
          req.resume();
        }, STALL_MS);
      });
      const proxy = await fe.start(t, toOrigins(origin.port), { inChild: true });
      t.equal((await request({ port: proxy.port, path: '/warm' })).status, 200, 'warm-up request');
      await sleep(200);
      const pids = await proxyProcesses(proxy);
      const mem = sampler(pids);
      t.teardown(() => void mem.stop());
      void stallOver.promise.then(() => mem.endStall());

      const result = await withTimeout(
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = http.request({
            host: '127.0.0.1',
            port: proxy.port,
            method: 'POST',
            path: '/upload',
            agent: false,
            headers: { 'content-length': String(SIZE), 'content-type': 'application/octet-stream' },
          });
          req.on('error', reject);
          req.on('response', (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
            res.on('error', reject);
          });
          let i = 0;
          const pump = (): void => {
            while (i < SIZE / MiB) {
              sent += MiB;
              if (!req.write(block(i++))) return void req.once('drain', pump);
            }
            req.end();
          };
          pump();
        }),
        90_000,
        () => `the 64 MiB upload (${sent} bytes written, ${arrived} arrived at the origin)${proxyLog(proxy)}`,
      );
      const m = mem.stop();
      t.equal(result.status, 200);
      const got = JSON.parse(result.body) as { length: number; sha: string };
      t.equal(got.length, SIZE, 'the origin received 64 MiB');
      t.equal(got.sha, expectedSha, 'sha256 matches');
      t.ok(m.stallPeak - m.baseline < STALL_LIMIT, `RSS growth while the origin was not reading: ${fmt(m.stallPeak - m.baseline)} (limit ${fmt(STALL_LIMIT)})`);
      t.ok(m.peak - m.baseline < TOTAL_LIMIT, `peak RSS growth over the transfer: ${fmt(m.peak - m.baseline)} (limit ${fmt(TOTAL_LIMIT)}; baseline ${fmt(m.baseline)})`);
    });

    t.test('a 64 MiB download streams through with bounded proxy memory and arrives byte-exact', T, async (t) => {
      const origin = await startOrigin(t, (req, res) => {
        if (req.url !== '/download') return void res.end('warm');
        res.writeHead(200, { 'content-length': String(SIZE), 'content-type': 'application/octet-stream' });
        let i = 0;
        const pump = (): void => {
          while (i < SIZE / MiB) {
            if (!res.write(block(i++))) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      });
      const proxy = await fe.start(t, toOrigins(origin.port), { inChild: true });
      t.equal((await request({ port: proxy.port, path: '/warm' })).status, 200, 'warm-up request');
      await sleep(200);
      const pids = await proxyProcesses(proxy);
      const mem = sampler(pids);
      t.teardown(() => void mem.stop());

      // Every listener is attached before the stall: node:http drops a response destroyed while
      // nobody listens for 'error', and a cut connection would then look like a hang.
      let received = 0;
      const got = await withTimeout(
        new Promise<{ status: number; length: number; sha: string; complete: boolean }>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port: proxy.port, path: '/download', agent: false });
          req.on('error', reject);
          req.on('response', (res) => {
            res.pause();
            const h = createHash('sha256');
            res.on('data', (d: Buffer) => {
              h.update(d);
              received += d.length;
            });
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, length: received, sha: h.digest('hex'), complete: res.complete }),
            );
            res.on('error', (e) => reject(new Error(`the download failed after ${received} bytes: ${e.message}`)));
            res.on('close', () => {
              if (!res.complete) reject(new Error(`the connection closed after ${received} bytes`));
            });
            setTimeout(() => {
              mem.endStall();
              res.resume();
            }, STALL_MS);
          });
        }),
        90_000,
        () => `the 64 MiB download (${received} bytes received)${proxyLog(proxy)}`,
      );
      const m = mem.stop();
      t.equal(got.status, 200);
      t.equal(got.complete, true, 'the body ended cleanly');
      t.equal(got.length, SIZE, 'the client received 64 MiB');
      t.equal(got.sha, expectedSha, 'sha256 matches');
      t.ok(m.stallPeak - m.baseline < STALL_LIMIT, `RSS growth while the client was not reading: ${fmt(m.stallPeak - m.baseline)} (limit ${fmt(STALL_LIMIT)})`);
      t.ok(m.peak - m.baseline < TOTAL_LIMIT, `peak RSS growth over the transfer: ${fmt(m.peak - m.baseline)} (limit ${fmt(TOTAL_LIMIT)}; baseline ${fmt(m.baseline)})`);
    });
  });
}
