// Loopback helpers: free ports, one-off HTTP probes, waiting for a peer to answer.
import http from 'node:http';
import net from 'node:net';
import type { ManagedProcess } from './processes.js';

export const HOST = '127.0.0.1';

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === 'object') resolve(addr.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export interface ProbeResult {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One GET on a fresh connection, bounded by `timeoutMs`. */
export function probe(url: string, timeoutMs = 1000): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Fail at once if this process exits while we wait. */
  proc?: ManagedProcess;
  /** The body the peer must answer with (proves it really proxies to the origin). */
  expectBody?: string;
  /** Checked on every attempt: a message makes the wait fail at once. */
  abort?: () => string | undefined;
}

/** Polls `url` until it answers 200 (with `expectBody`, if given). */
export async function waitForHttp(url: string, opts: WaitOptions = {}): Promise<ProbeResult> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let last = 'no attempt';
  for (;;) {
    const abort = opts.abort?.();
    if (abort !== undefined) throw new Error(abort);
    if (opts.proc?.hasExited) {
      throw new Error(`${opts.proc.name} exited before answering ${url}:\n${opts.proc.lastLines()}`);
    }
    try {
      const r = await probe(url);
      if (r.status === 200 && (opts.expectBody === undefined || r.body === opts.expectBody)) return r;
      last = `status ${r.status}, body ${JSON.stringify(r.body.slice(0, 200))}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      const tail = opts.proc ? `\nlast output of ${opts.proc.name}:\n${opts.proc.lastLines()}` : '';
      throw new Error(`${url} not ready in time (last: ${last})${tail}`);
    }
    await sleep(100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
