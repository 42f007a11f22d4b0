/**
 * Small helpers shared by the end-to-end suites: free loopback ports, bounded waits, hashing.
 * Every wait here has a deadline, so a missing or broken implementation fails a test instead of
 * hanging the run.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Test } from 'tap';

/** A port that was free a moment ago on 127.0.0.1 (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Rejects with `what` if `p` has not settled within `ms`. `what` may be a function, read when the
 * time is up, to report progress made until then.
 */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${typeof what === 'string' ? what : what()}`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with `p`'s value, or with undefined once `ms` pass (the timer is cleared either way). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `pred` every `every` ms until it returns truthy or `ms` elapses (then throws). */
export async function waitFor<T>(
  pred: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ms: number,
  what: string,
  every = 25,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** Random bytes of a given size (a fresh buffer each call). */
export const randomBody = (size: number): Buffer => randomBytes(size);

/** A promise plus its resolve/reject, for events a test waits on. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Listen on an ephemeral 127.0.0.1 port and stop at teardown. close() destroys the connections
 * still open first (keep-alive clients and proxies would otherwise hold server.close() forever);
 * `beforeClose` runs first, for what the server carries on top (a WebSocket server's clients).
 */
export async function listenLoopback(
  t: Test,
  server: net.Server,
  beforeClose?: () => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= new Promise<void>((resolve) => {
      beforeClose?.();
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }));
  t.teardown(close);
  return { port, close };
}
