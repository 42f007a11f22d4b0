/**
 * A raw HTTP/1.1 client over one TCP connection: the test writes exact bytes and reads responses
 * one at a time with their framing checked, so it can see duplicate headers, stray body bytes,
 * and whether the connection stays usable or closes.
 */
import net from 'node:net';
import type { Test } from 'tap';
import {
  type BodyFraming,
  type HeaderList,
  headerValues,
  parseHead,
  readBody,
  responseFraming,
} from './http1.js';
import { withTimeout } from './util.js';

export interface RawResponse {
  /** 0 when no response head arrived. */
  status: number;
  statusLine: string;
  headers: HeaderList;
  body: Buffer;
  framing: BodyFraming | null;
  /** The framing was satisfied: full Content-Length, last chunk, or FIN for close-delimited. */
  complete: boolean;
  /** What ended the read: the framing, the connection closing, or the deadline. */
  endedBy: 'framing' | 'close' | 'timeout';
  /** Values of one header, case-insensitive. */
  header(name: string): string[];
}

export class RawClient {
  readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Error seen on the socket (e.g. ECONNRESET), if any. */
  error: Error | null = null;
  private waiters: Array<() => void> = [];
  private readonly closedPromise: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('error', (e) => {
      this.error = e;
    });
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      });
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
  }

  /** Connects to 127.0.0.1:port; the socket is destroyed in t.teardown. */
  static async connect(t: Test, port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = net.connect({ port, host });
    const c = new RawClient(socket);
    t.teardown(() => {
      socket.destroy();
    });
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      5000,
      `connect to ${host}:${port}`,
    );
    return c;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Bytes received and not yet consumed by readResponse. */
  get pending(): Buffer {
    return this.buf;
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private waitChange(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), left);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * Reads the next response (skipping 1xx). Never throws on a short or missing response: the
   * result tells what arrived and why reading stopped.
   */
  async readResponse(opts: { method?: string; timeout?: number } = {}): Promise<RawResponse> {
    const method = (opts.method ?? 'GET').toUpperCase();
    const deadline = Date.now() + (opts.timeout ?? 5000);
    const mk = (
      status: number,
      statusLine: string,
      headers: HeaderList,
      body: Buffer,
      framing: BodyFraming | null,
      complete: boolean,
      endedBy: RawResponse['endedBy'],
    ): RawResponse => ({
      status,
      statusLine,
      headers,
      body,
      framing,
      complete,
      endedBy,
      header: (n: string) => headerValues(headers, n),
    });

    for (;;) {
      // the head
      let head = parseHead(this.buf);
      while (!head) {
        if (this.ended) return mk(0, '', [], this.buf, null, false, 'close');
        if (!(await this.waitChange(deadline))) {
          return mk(0, '', [], this.buf, null, false, this.ended ? 'close' : 'timeout');
        }
        head = parseHead(this.buf);
      }
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head.startLine);
      const status = m ? Number(m[1]) : -1;
      const framing = responseFraming(method, status, head.headers);
      if (status >= 100 && status < 200) {
        this.buf = this.buf.subarray(head.length);
        continue;
      }
      // the body
      for (;;) {
        const rest = this.buf.subarray(head.length);
        const r = readBody(framing, rest);
        if (r.done) {
          this.buf = rest.subarray(r.consumed);
          return mk(status, head.startLine, head.headers, Buffer.from(r.body), framing, true, 'framing');
        }
        if (this.ended) {
          this.buf = Buffer.alloc(0);
          const complete = framing.kind === 'close' && this.error === null;
          return mk(status, head.startLine, head.headers, Buffer.from(r.body), framing, complete, 'close');
        }
        if (!(await this.waitChange(deadline))) {
          const ended = this.ended;
          if (ended) continue;
          return mk(status, head.startLine, head.headers, Buffer.from(r.body), framing, false, 'timeout');
        }
      }
    }
  }

  /** Resolves true if the server closes the connection within `ms`. */
  async waitClose(ms: number): Promise<boolean> {
    if (this.ended) return true;
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref());
    return Promise.race([this.closedPromise.then(() => true), timeout]);
  }

  /** Waits `ms` and reports whether any unread bytes arrived in that time. */
  async extraBytesWithin(ms: number): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && !this.ended) await this.waitChange(deadline);
    return this.buf;
  }
}

/** A GET/HEAD/... request as raw bytes with the given headers (Host first if given). */
export function rawRequest(
  method: string,
  path: string,
  headers: HeaderList,
  body?: Buffer | string,
): Buffer {
  const head =
    `${method} ${path} HTTP/1.1\r\n` + headers.map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
  const h = Buffer.from(head, 'latin1');
  return body === undefined ? h : Buffer.concat([h, Buffer.from(body)]);
}
