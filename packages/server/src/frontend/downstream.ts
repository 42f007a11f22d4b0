/**
 * The uWS side of one proxied request: the core's Downstream over a uWS HttpResponse.
 *
 * Every call checks the response's state first: after onAborted, or once the response ended,
 * touching `res` throws inside a uWS callback and aborts the whole process.
 */
import type { Downstream, Exchange } from '@portcullis/core';
import type { HttpResponse } from 'uWebSockets.js';
import { statusLine } from './status.js';

// ---- the client send timeout -------------------------------------------------------------------
//
// uWS 20.30 closes a connection whose client has taken no bytes for about 10 s once a write
// backed up (its fixed HTTP timeout). nginx waits `send_timeout`, 60 s by default, and a paused
// video or a phone between cells needs that. While a response is backed up, one sweep every few
// seconds re-arms uWS's timer (resume() re-arms it; pause() first, with no write between the two,
// is the order that cannot stall the socket) until the client has taken nothing for
// `send_timeout`; then the connection is closed.

const REARM_EVERY = 3_000;
let sendTimeout = 60_000;
const backedUp = new Set<UwsDownstream>();
let sweeper: NodeJS.Timeout | null = null;

/** The longest a client may take no bytes of a response (ms); from the `send_timeout` key. */
export function setSendTimeout(ms: number): void {
  sendTimeout = ms;
}

function sweep(): void {
  const now = Date.now();
  for (const d of backedUp) d.rearm(now);
  if (backedUp.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

function watchBackedUp(d: UwsDownstream): void {
  backedUp.add(d);
  if (sweeper === null) {
    sweeper = setInterval(sweep, REARM_EVERY);
    sweeper.unref();
  }
}

export class UwsDownstream implements Downstream {
  exchange: Exchange | null = null;
  /** The client went away (onAborted). */
  aborted = false;
  /** The response is complete or the connection was closed by us. */
  done = false;
  private bodyPaused = false;
  /** Streaming a body of known size with tryEnd: its total, else -1 (uWS frames it chunked). */
  private total = -1;
  /** A chunk tryEnd could not take whole, and the write offset it started at. */
  private pending: Buffer | null = null;
  private pendingOffset = 0;
  /** Extra response headers every response gets (HSTS on TLS listeners). */
  private readonly extra: readonly string[];
  /** When the client last took bytes while the response is backed up (ms), else 0. */
  private progressAt = 0;

  constructor(
    private readonly res: HttpResponse,
    extraHeaders: readonly string[],
  ) {
    this.extra = extraHeaders;
  }

  onAborted(): void {
    this.aborted = true;
    if (!this.done) {
      this.done = true;
      this.exchange?.abort();
    }
  }

  respond(status: number, reason: string, headers: string[], body: Buffer | null, bodyless: boolean): void {
    if (this.done) return;
    this.done = true;
    const res = this.res;
    res.cork(() => {
      // Draining: end(…, true) closes the connection after this response and says so itself.
      this.writeHeaders(status, reason, headers, bodyless);
      if (bodyless) res.endWithoutBody();
      else res.end(body ?? '', draining);
    });
  }

  writeHead(status: number, reason: string, headers: string[], contentLength: number, bodyless: boolean): void {
    if (this.done) return;
    const res = this.res;
    if (bodyless) {
      this.done = true;
      res.cork(() => {
        // A HEAD answer's Content-Length is among the headers (the core decides it); uWS adds none
        // to a bodiless end.
        this.writeHeaders(status, reason, headers);
        res.endWithoutBody();
      });
      return;
    }
    this.total = contentLength;
    res.cork(() => this.writeHeaders(status, reason, headers));
    res.onWritable((offset) => this.onWritable(offset));
  }

  write(chunk: Buffer): boolean {
    if (this.done) return true;
    this.resumeBeforeWrite();
    if (this.pending !== null) {
      // Still backed up from an earlier chunk of this read: keep order, send with it later.
      this.pending = Buffer.concat([this.pending, chunk]);
      return false;
    }
    const res = this.res;
    let ok = true;
    res.cork(() => {
      if (this.total >= 0) {
        const offset = res.getWriteOffset();
        const [sent, finished] = res.tryEnd(chunk, this.total);
        if (finished) {
          this.done = true;
        } else if (!sent) {
          // uWS kept none of what it did not send, and the chunk is only lent to us: copy it.
          this.pending = Buffer.from(chunk);
          this.pendingOffset = offset;
          ok = false;
        }
      } else {
        ok = res.write(chunk);
      }
    });
    if (!ok && this.progressAt === 0) {
      this.progressAt = Date.now();
      watchBackedUp(this);
    }
    return ok;
  }

  /** uWS can take more: finish a partial tryEnd chunk, then let the core read the upstream again. */
  private onWritable(offset: number): boolean {
    if (this.done) return true;
    this.progressAt = Date.now();
    const pending = this.pending;
    if (pending !== null) {
      const [sent, finished] = this.res.tryEnd(pending.subarray(offset - this.pendingOffset), this.total);
      if (finished) this.done = true;
      if (!sent) return false;
      this.pending = null;
    }
    this.progressAt = 0;
    backedUp.delete(this);
    this.exchange?.writable();
    return true;
  }

  /** The sweep: keep uWS from cutting a backed-up client before `send_timeout`, then cut it. */
  rearm(now: number): void {
    if (this.done || this.progressAt === 0) {
      backedUp.delete(this);
      return;
    }
    if (now - this.progressAt >= sendTimeout) {
      // As if the client had gone: the exchange drops its upstream socket (half a response on it).
      backedUp.delete(this);
      this.done = true;
      this.exchange?.abort();
      try {
        this.res.close();
      } catch {
        // Already closed.
      }
      return;
    }
    if (this.bodyPaused) return;
    // Outside any uWS callback: a throw here would be an uncaught exception, not a closed socket.
    try {
      this.res.pause();
      this.res.resume();
    } catch {
      backedUp.delete(this);
    }
  }

  end(): void {
    if (this.done) return;
    // A known-size body ends itself in tryEnd. If its tail is still waiting for the client,
    // onWritable's tryEnd takes it and that ends the response: ending now would lose the tail.
    if (this.pending !== null) return;
    this.done = true;
    this.res.cork(() => this.res.end());
  }

  destroy(): void {
    if (this.done) return;
    this.done = true;
    this.res.close();
  }

  pauseBody(): void {
    if (this.done || this.bodyPaused) return;
    this.bodyPaused = true;
    this.res.pause();
  }

  resumeBody(): void {
    if (!this.bodyPaused || this.done) return;
    this.bodyPaused = false;
    this.res.resume();
  }

  /** uWS 20.30 stalls a socket paused, then backed up, then resumed in one tick: resume first. */
  private resumeBeforeWrite(): void {
    if (this.bodyPaused) {
      this.bodyPaused = false;
      this.res.resume();
    }
  }

  /** `sayClose`: add Connection: close while draining (uWS adds it itself to an end(…, true)). */
  private writeHeaders(status: number, reason: string, headers: string[], sayClose = true): void {
    this.resumeBeforeWrite();
    const res = this.res;
    res.writeStatus(statusLine(status, reason));
    const extra = this.extra;
    if (extra.length === 0) {
      for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
    } else {
      // The listener's own headers (HSTS) replace an upstream's of the same name.
      for (let i = 0; i < headers.length; i += 2) {
        const name = headers[i]!;
        if (!replaced(name, extra)) res.writeHeader(name, headers[i + 1]!);
      }
    }
    for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
    // The process is stopping: the client should take its next request elsewhere (nginx does
    // the same while it shuts down), not send it on a connection about to close.
    if (draining && sayClose) res.writeHeader('connection', 'close');
  }
}

/** Set once a graceful stop begins (this worker's), never cleared: the process is going. */
let draining = false;
const drainListeners: Array<() => void> = [];

export function startDraining(): void {
  if (draining) return;
  draining = true;
  for (const f of drainListeners) f();
}

export function isDraining(): boolean {
  return draining;
}

/** Call `f` when the graceful stop begins (at once if it has). The node:http2 listeners use it. */
export function onDraining(f: () => void): void {
  if (draining) f();
  else drainListeners.push(f);
}

/** Whether header `name` (any case) is one of `extra`'s names (lower case). */
function replaced(name: string, extra: readonly string[]): boolean {
  for (let i = 0; i < extra.length; i += 2) {
    const own = extra[i]!;
    if (name.length === own.length && name.toLowerCase() === own) return true;
  }
  return false;
}
