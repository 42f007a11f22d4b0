/**
 * The access log: one JSON line per request, the same line pino wrote before (same fields, same
 * order, same `time` format), built and written for a fraction of the cost.
 *
 * Why not pino: a line through pino cost 14-36 us of CPU per request (more than the proxying
 * itself): an object literal per request, a generic serializer walking it, and one asynchronous
 * write (a thread-pool round trip) per line. Here a line is one string concatenation with no
 * intermediate object; only the four fields that can hold arbitrary text (client, method, path,
 * upstream) are checked for characters JSON must escape, and escaped only when one is there.
 * Each line is encoded at once into an in-memory batch (one Buffer, reused) that is written with
 * few syscalls.
 *
 * When a batch is written:
 * - as soon as it passes `flushBytes` (64 KiB), and
 * - otherwise at most `flushDelay` (100 ms) after its first line: one unref'd timer per batch, so an
 *   idle worker writes its last lines promptly and an exiting one is not held open;
 * - on a graceful stop (flush(), called from the worker's stop()) and on process 'exit'.
 * A crash that skips those (SIGKILL, an abort inside uWS, the OOM killer) loses the batch being
 * built: at most the last 100 ms of requests and never more than 64 KiB of lines (about 300 lines)
 * — plus whatever stdout had refused (EAGAIN) and not yet taken.
 *
 * Whole lines, never interleaved: every worker writes to the supervisor's stdout (the same open
 * file, see log.ts). What a single write() guarantees depends on what stdout is:
 * - a pipe or a socket (docker, systemd, a log shipper, the test harness): a write of at most
 *   PIPE_BUF (4096) bytes is atomic, a larger one may be split and interleaved with another
 *   process's writes when the reader lags. So a batch goes out in writes of at most 4096 bytes,
 *   each cut after a newline. A single line longer than that (a path of several KiB) is written
 *   alone in one write, which stays whole unless the pipe is full at that moment.
 * - a regular file (`> file`, `>> file`), /dev/null or a terminal (character devices): Linux holds
 *   the file position lock (shared open file, since 3.14) and the inode lock (files), or the tty's
 *   write lock, for the whole write(), so another process's write never lands inside it; a batch
 *   goes out in one write.
 *
 * Writes are synchronous (fs.writeSync): measured on a 2-core machine, a 64 KiB batch cost 2.5 us
 * of CPU written to /dev/null with writeSync and 20 us with fs.write (one in flight: the
 * thread-pool hop and its wake-ups), for about 300 lines either way. writeSync blocks the event
 * loop only while a blocking pipe is full, as nginx's access log does. If stdout is non-blocking and full (EAGAIN), the
 * rest waits and is retried after `flushDelay` rather than blocking the event loop; new lines keep
 * batching up to `maxPending` (4 MiB), past which they are dropped and counted, and the count is
 * logged once stdout takes lines again. A closed stdout (EPIPE, EBADF) ends the access log.
 */
import { fstatSync, writeSync } from 'node:fs';
import type { ExchangeResult } from '@portcullis/core';

/** Writes above this many bytes to a pipe may be split and interleaved (POSIX PIPE_BUF on Linux). */
const PIPE_BUF = 4096;
const NEWLINE = 0x0a;

export interface AccessLogOptions {
  /** Where lines go: the process's log fd (see log.ts). */
  fd: number;
  /** Write the batch once it holds this many bytes. */
  flushBytes?: number;
  /** Write a batch at most this many ms after its first line. */
  flushDelay?: number;
  /** Lines waiting on a stdout that refuses them (EAGAIN) are dropped past this many bytes. */
  maxPending?: number;
  /** `role` of every line. */
  role?: string;
  /** Largest single write(); default: 4096 for pipes and sockets, unbounded otherwise. */
  maxWrite?: number;
}

/** Characters JSON cannot hold raw in a string: controls, `"`, `\`, and UTF-16 surrogates (lone ones must be escaped; pairs are rare enough to take the slow path too). */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/** `s` as a JSON string literal: quotes around it, escaped only when a character needs it. */
export function jsonString(s: string): string {
  // JSON.stringify of a string is exact (and escapes lone surrogates); the test is what keeps the
  // common path (an ASCII path, an IP address, a method) free of it.
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/** A number as JSON writes it: non-finite values are null there. */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? '' + n : 'null';
}

/**
 * `Math.round(ms * 100) / 100` as JSON writes it, from integers: turning a double into its
 * shortest decimal was the costliest part of the line. Below 1e15 hundredths the two agree exactly
 * (every decimal of at most 15 significant digits is its own double, so none shorter reads back
 * the same); anything else, negative or not finite, takes the generic path.
 */
export function jsonDuration(ms: number): string {
  const k = Math.round(ms * 100);
  if (!(k >= 0 && k < 1e15)) return jsonNumber(k / 100);
  const whole = Math.floor(k / 100);
  const cents = k - whole * 100;
  if (cents === 0) return '' + whole;
  if (cents % 10 === 0) return whole + '.' + cents / 10;
  return cents < 10 ? whole + '.0' + cents : whole + '.' + cents;
}

export class AccessLog {
  private readonly fd: number;
  private readonly flushBytes: number;
  private readonly flushDelay: number;
  private readonly maxPending: number;
  private readonly maxWrite: number;
  private readonly pidRole: string;

  private timer: NodeJS.Timeout | null = null;
  /**
   * The batch, encoded as each line is added: out[outStart, outEnd) is not written yet. Encoding
   * line by line (rather than appending to a string rope flattened at flush) lets each line's
   * string die young, and costs one copy.
   */
  private out: Buffer;
  private outStart = 0;
  private outEnd = 0;
  /** stdout refused (EAGAIN): a retry is armed and nothing else is written until it succeeds. */
  private stalled = false;
  private dropped = 0;
  private closed = false;

  /** Cached per millisecond: the line's start up to `"client":`, whose only moving part is the time. */
  private prefixMs = -1;
  private prefix = '';

  /**
   * The last client, method and upstream and their JSON: a worker sees the same few values over
   * and over, and comparing with the last one is cheaper than checking it for escapes again.
   */
  private lastClient = '';
  private lastClientJson = '""';
  private lastMethod = '';
  private lastMethodJson = '""';
  private lastUpstream = '';
  private lastUpstreamJson = '""';

  private readonly onExit = (): void => this.flush();

  constructor(opts: AccessLogOptions) {
    this.fd = opts.fd;
    this.flushBytes = opts.flushBytes ?? 64 * 1024;
    this.flushDelay = opts.flushDelay ?? 100;
    this.maxPending = opts.maxPending ?? 4 * 1024 * 1024;
    this.maxWrite = opts.maxWrite ?? defaultMaxWrite(opts.fd);
    this.pidRole = '","pid":' + process.pid + ',"role":' + jsonString(opts.role ?? 'worker') + ',"client":';
    // Room for a full batch plus the line that takes it past flushBytes; a line that does not fit
    // sends the batch first, so the buffer only grows for a huge line or while stdout refuses.
    this.out = Buffer.allocUnsafe(this.flushBytes + 64 * 1024);
    // The last lines of a process that exits without a graceful stop (process.exit, an uncaught
    // exception) are written here; writeSync works inside 'exit'.
    process.on('exit', this.onExit);
  }

  /** The line for one request, newline included. */
  line(r: ExchangeResult): string {
    const now = Date.now();
    if (now !== this.prefixMs) {
      this.prefixMs = now;
      // pino.stdTimeFunctions.isoTime, formatted once per millisecond instead of once per request.
      this.prefix = '{"level":30,"time":"' + new Date(now).toISOString() + this.pidRole;
    }
    const { client, upstream } = r;
    const { url, method } = r.request;
    if (client !== this.lastClient) {
      this.lastClient = client;
      this.lastClientJson = jsonString(client);
    }
    if (method !== this.lastMethod) {
      this.lastMethod = method;
      this.lastMethodJson = jsonString(method);
    }
    if (upstream !== null && upstream !== this.lastUpstream) {
      this.lastUpstream = upstream;
      this.lastUpstreamJson = jsonString(upstream);
    }
    const q = url.indexOf('?');
    return (
      this.prefix +
      this.lastClientJson +
      ',"method":' +
      this.lastMethodJson +
      ',"path":' +
      jsonString(q < 0 ? url : url.slice(0, q)) +
      ',"status":' +
      jsonNumber(r.status) +
      ',"bytes":' +
      jsonNumber(r.bytes) +
      ',"upstream":' +
      (upstream === null ? 'null' : this.lastUpstreamJson) +
      ',"duration":' +
      jsonDuration(r.duration) +
      // Attempts after the first (another server, a fresh socket): only when there were any.
      (r.retries > 0 ? ',"retries":' + r.retries : '') +
      (r.aborted ? ',"aborted":true,"msg":"access"}\n' : ',"msg":"access"}\n')
    );
  }

  /** Log one request. */
  write(r: ExchangeResult): void {
    if (this.closed) return;
    const line = this.line(r);
    // A UTF-16 unit is at most 3 bytes of UTF-8: the bound that needs no byteLength scan.
    if (this.outEnd + 3 * line.length > this.out.length && !this.room(3 * line.length)) {
      this.dropped++;
      return;
    }
    this.outEnd += this.out.write(line, this.outEnd);
    if (this.outEnd - this.outStart >= this.flushBytes) this.send();
    else if (this.timer === null) {
      this.timer = setTimeout(this.onTimer, this.flushDelay);
      this.timer.unref();
    }
  }

  /** Make room for `bytes` more after outEnd: send the batch, else move or grow it. False: drop the line. */
  private room(bytes: number): boolean {
    this.send();
    if (this.closed) return false;
    if (this.outEnd + bytes <= this.out.length) return true;
    const left = this.outEnd - this.outStart;
    // Lines that piled up while stdout refused them, or one huge line.
    if (left > 0 && left + bytes > this.maxPending) return false;
    if (left + bytes <= this.out.length) this.out.copyWithin(0, this.outStart, this.outEnd);
    else {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.out.length, left + bytes));
      this.out.copy(bigger, 0, this.outStart, this.outEnd);
      this.out = bigger;
    }
    this.outStart = 0;
    this.outEnd = left;
    return true;
  }

  /** Write every line now (graceful stop, exit). Blocks only if stdout is a blocking pipe that is full. */
  flush(): void {
    if (this.closed) return;
    this.stalled = false;
    this.send();
  }

  /** Flush and stop: later lines are ignored. */
  close(): void {
    this.flush();
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    process.removeListener('exit', this.onExit);
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.stalled = false;
    this.send();
  };

  /** Write as much of the batch as stdout takes. */
  private send(): void {
    // While stalled, the armed timer is the retry: leave it.
    if (this.stalled || this.closed) return;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.dropped > 0) this.reportDropped();
    while (this.outStart < this.outEnd) {
      const start = this.outStart;
      let end = this.outEnd;
      if (end - start > this.maxWrite) {
        // Cut after the last newline that fits; a single longer line goes alone, whole.
        const nl = this.out.lastIndexOf(NEWLINE, start + this.maxWrite - 1);
        end = nl >= start ? nl + 1 : this.out.indexOf(NEWLINE, start + this.maxWrite) + 1 || this.outEnd;
      }
      try {
        this.outStart += writeSync(this.fd, this.out, start, end - start);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          // Non-blocking stdout is full: do not spin on it; retry later, keep batching meanwhile.
          this.stalled = true;
          this.timer = setTimeout(this.onTimer, this.flushDelay);
          this.timer.unref();
        } else {
          // EPIPE, EBADF...: nobody reads our stdout any more; stop paying for lines.
          this.closed = true;
          this.outStart = this.outEnd = 0;
          process.removeListener('exit', this.onExit);
        }
        return;
      }
    }
    this.outStart = this.outEnd = 0;
  }

  /** After the lines that were kept, one line saying how many were not. */
  private reportDropped(): void {
    const line =
      '{"level":40,"time":"' + new Date().toISOString() + this.pidRole.slice(0, this.pidRole.length - ',"client":'.length) +
      ',"dropped":' + this.dropped + ',"msg":"access log lines dropped: stdout did not take them"}\n';
    if (this.outEnd + line.length > this.out.length) return; // next time, after this batch is out
    this.dropped = 0;
    this.outEnd += this.out.write(line, this.outEnd, 'latin1');
  }
}

/** One write per batch where the kernel keeps any write whole; PIPE_BUF-sized ones where it does not. */
function defaultMaxWrite(fd: number): number {
  try {
    const st = fstatSync(fd);
    if (st.isFile() || st.isCharacterDevice()) return Infinity;
  } catch {
    // Unknown: be safe.
  }
  return PIPE_BUF;
}
