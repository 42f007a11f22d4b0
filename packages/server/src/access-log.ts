/**
 * The access log: one JSON line per request, the same line pino wrote before (same fields, same
 * order, same `time` format), built and written for a fraction of the cost.
 *
 * Why not pino: a line through pino cost 14-36 us of CPU per request (more than the proxying
 * itself): an object literal per request, a generic serializer walking it, and one asynchronous
 * write (a thread-pool round trip) per line. Here a line is one string concatenation with no
 * intermediate object; only the four fields that can hold arbitrary text (client, method, path,
 * upstream) are checked for characters JSON must escape, and escaped only when one is there.
 * Lines are appended to an in-memory batch that is written with few syscalls.
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
 * Writes are synchronous (fs.writeSync): a batch of 64 KiB costs a few microseconds against
 * /dev/null, a file or a pipe whose reader keeps up, and no thread-pool hop; measured cheaper than
 * one asynchronous write in flight (see README). If stdout is non-blocking and full (EAGAIN), the
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
  /** Write the batch once it holds this many characters. */
  flushBytes?: number;
  /** Write a batch at most this many ms after its first line. */
  flushDelay?: number;
  /** Lines waiting on a stdout that refuses them (EAGAIN) are dropped past this many characters. */
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

export class AccessLog {
  private readonly fd: number;
  private readonly flushBytes: number;
  private readonly flushDelay: number;
  private readonly maxPending: number;
  private readonly maxWrite: number;
  private readonly pidRole: string;

  /** Lines not yet encoded. */
  private batch = '';
  private timer: NodeJS.Timeout | null = null;
  /** Encoded bytes being written: out[outStart, outEnd). */
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

  private readonly onExit = (): void => this.flush();

  constructor(opts: AccessLogOptions) {
    this.fd = opts.fd;
    this.flushBytes = opts.flushBytes ?? 64 * 1024;
    this.flushDelay = opts.flushDelay ?? 100;
    this.maxPending = opts.maxPending ?? 4 * 1024 * 1024;
    this.maxWrite = opts.maxWrite ?? defaultMaxWrite(opts.fd);
    this.pidRole = '","pid":' + process.pid + ',"role":' + jsonString(opts.role ?? 'worker') + ',"client":';
    // A UTF-16 unit encodes to at most 3 bytes; sized so a normal batch never needs a new buffer.
    this.out = Buffer.allocUnsafe(3 * (this.flushBytes + 16 * 1024));
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
    const url = r.request.url;
    const q = url.indexOf('?');
    return (
      this.prefix +
      jsonString(r.client) +
      ',"method":' +
      jsonString(r.request.method) +
      ',"path":' +
      jsonString(q < 0 ? url : url.slice(0, q)) +
      ',"status":' +
      jsonNumber(r.status) +
      ',"bytes":' +
      jsonNumber(r.bytes) +
      ',"upstream":' +
      (r.upstream === null ? 'null' : jsonString(r.upstream)) +
      ',"duration":' +
      jsonNumber(Math.round(r.duration * 100) / 100) +
      (r.aborted ? ',"aborted":true,"msg":"access"}\n' : ',"msg":"access"}\n')
    );
  }

  /** Log one request. */
  write(r: ExchangeResult): void {
    if (this.closed) return;
    if (this.batch.length >= this.maxPending) {
      this.dropped++;
      return;
    }
    // Appending builds a rope; it is flattened once, when the batch is encoded.
    this.batch += this.line(r);
    if (this.batch.length >= this.flushBytes) this.send();
    else if (this.timer === null) {
      this.timer = setTimeout(this.onTimer, this.flushDelay);
      this.timer.unref();
    }
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

  /** Encode the batch (after what is still unwritten) and write as much as stdout takes. */
  private send(): void {
    // While stalled, the armed timer is the retry: leave it.
    if (this.stalled || this.closed) return;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.dropped > 0 && this.outStart === this.outEnd) this.reportDropped();
    if (this.batch.length > 0) this.encode();
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
          this.batch = '';
          process.removeListener('exit', this.onExit);
        }
        return;
      }
    }
    this.outStart = this.outEnd = 0;
  }

  /** Append the batch's bytes to out (keeping what is still unwritten in front of them). */
  private encode(): void {
    const batch = this.batch;
    this.batch = '';
    const left = this.outEnd - this.outStart;
    const need = left + 3 * batch.length;
    if (need > this.out.length) {
      // A huge line, or lines that piled up while stdout refused them: a bigger buffer, once.
      const bigger = Buffer.allocUnsafe(need);
      this.out.copy(bigger, 0, this.outStart, this.outEnd);
      this.out = bigger;
    } else if (this.outStart > 0) {
      this.out.copyWithin(0, this.outStart, this.outEnd);
    }
    this.outStart = 0;
    this.outEnd = left + this.out.write(batch, left, 'utf8');
  }

  private reportDropped(): void {
    const n = this.dropped;
    this.dropped = 0;
    this.batch =
      '{"level":40,"time":"' + new Date().toISOString() + this.pidRole.slice(0, this.pidRole.length - ',"client":'.length) +
      ',"dropped":' + n + ',"msg":"access log lines dropped: stdout did not take them"}\n' + this.batch;
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
