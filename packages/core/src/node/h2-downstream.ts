/**
 * The core's Downstream over one HTTP/2 stream, and the wiring of a stream's events to its
 * exchange (see http2.ts for the adapter as a whole).
 */
import { constants, type ServerHttp2Stream } from 'node:http2';
import type { Downstream, Exchange } from '../exchange/contract.js';
import type { ResetGuard } from './h2-guard.js';
import { resetStream } from './h2-reset.js';
import { h2ResponseHeaders } from './h2-response.js';

const EMPTY = Buffer.alloc(0);
const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = constants;

/**
 * A stream's Downstream, kept on the stream itself: its event listeners are shared functions that
 * find it there, so a request adds listeners without making a closure for each.
 */
const DOWN = Symbol('portcullis.h2.downstream');
type Carrier = ServerHttp2Stream & { [DOWN]?: H2Downstream };

function downOf(stream: ServerHttp2Stream): H2Downstream {
  return (stream as Carrier)[DOWN]!;
}

function onClose(this: ServerHttp2Stream): void {
  downOf(this).closed();
}
function onDrain(this: ServerHttp2Stream): void {
  downOf(this).exchange?.writable();
}
function onData(this: ServerHttp2Stream, chunk: Buffer): void {
  downOf(this).exchange?.body(chunk, false);
}
function onEnd(this: ServerHttp2Stream): void {
  downOf(this).exchange?.body(EMPTY, true);
}
/** A stream error (reset by the peer, connection lost) ends in 'close', handled there. */
export function ignore(): void {}

/** The core's Downstream over one HTTP/2 stream. */
export class H2Downstream implements Downstream {
  exchange: Exchange | null = null;
  /** The response is complete, or the stream was reset by us. */
  done = false;
  private drainWatched = false;
  /** When the stream opened (performance.now()), for the premature-reset guard. */
  private readonly opened: number;

  constructor(
    readonly stream: ServerHttp2Stream,
    private readonly extra: readonly string[],
    private readonly guard: ResetGuard | null,
  ) {
    this.opened = guard === null ? 0 : performance.now();
    (stream as Carrier)[DOWN] = this;
    stream.on('close', onClose);
    stream.on('error', ignore);
  }

  /** The stream closed: a client's reset (or a lost connection) before the response was out cancels the upstream request. */
  closed(): void {
    const stream = this.stream;
    if (this.exchange !== null && (!this.done || stream.rstCode !== NGHTTP2_NO_ERROR)) this.exchange.abort();
    this.guard?.closed(stream, this.opened);
  }

  respond(status: number, _reason: string, headers: string[], body: Buffer | null, bodyless: boolean): void {
    const stream = this.stream;
    if (this.done || stream.destroyed || stream.headersSent) return;
    this.done = true;
    const block = h2ResponseHeaders(status, headers, this.extra);
    const empty = bodyless || body === null || body.length === 0;
    if (!bodyless) block['content-length'] = body === null ? 0 : body.length;
    if (!this.send(block, empty)) return;
    // Lent by the core and queued by node:http2: copy.
    if (!empty) stream.end(Buffer.from(body!));
  }

  writeHead(status: number, _reason: string, headers: string[], contentLength: number, bodyless: boolean): void {
    const stream = this.stream;
    if (this.done || stream.destroyed || stream.headersSent) return;
    const block = h2ResponseHeaders(status, headers, this.extra);
    if (contentLength >= 0 && !bodyless) block['content-length'] = contentLength;
    if (bodyless) this.done = true;
    this.send(block, bodyless);
  }

  /** Send a header block; a block node:http2 refuses (an invalid value) resets the stream. */
  private send(block: Record<string, unknown>, endStream: boolean): boolean {
    try {
      this.stream.respond(block as never, { endStream });
      return true;
    } catch {
      this.destroy();
      this.exchange?.abort();
      return false;
    }
  }

  write(chunk: Buffer): boolean {
    if (this.done || this.stream.destroyed) return true;
    // Lent (the upstream socket's read buffer) and queued by node:http2: copy.
    if (this.stream.write(Buffer.from(chunk))) return true;
    if (!this.drainWatched) {
      // Only a response that ever backs up needs to hear of 'drain'.
      this.drainWatched = true;
      this.stream.on('drain', onDrain);
    }
    return false;
  }

  end(): void {
    if (this.done) return;
    this.done = true;
    if (!this.stream.destroyed) this.stream.end();
  }

  destroy(): void {
    this.done = true;
    // RST_STREAM on this stream only; the connection and its other streams carry on.
    resetStream(this.stream, NGHTTP2_INTERNAL_ERROR);
  }

  pauseBody(): void {
    this.stream.pause();
  }

  resumeBody(): void {
    this.stream.resume();
  }
}

/**
 * Answer a stream by ourselves (refusals): a plain-text body, the listener's headers. A request
 * body is never read: once the answer is out, RST_STREAM(NO_ERROR) tells the client to stop
 * sending it (RFC 9113 8.1), rather than taking it in to drop it.
 */
export function answer(stream: ServerHttp2Stream, status: number, message: string, head: boolean, extra: readonly string[], more: Record<string, string> = {}): void {
  if (stream.destroyed || stream.headersSent) return;
  const block: Record<string, string | number> = { ':status': status, 'content-type': 'text/plain; charset=utf-8', ...more };
  for (let i = 0; i < extra.length; i += 2) block[extra[i]!] = extra[i + 1]!;
  if (!stream.readableEnded) stream.once('finish', () => resetStream(stream, NGHTTP2_NO_ERROR));
  if (head) {
    stream.respond(block, { endStream: true });
    return;
  }
  block['content-length'] = Buffer.byteLength(message);
  stream.respond(block);
  stream.end(message);
}

/** Hand a stream's request body to its exchange: 'read' it, or 'hold' it for later (a WebSocket's frames). */
export function feed(down: H2Downstream, exchange: Exchange, body: 'read' | 'none' | 'hold'): void {
  down.exchange = exchange;
  if (body === 'read') {
    down.stream.on('data', onData);
    down.stream.on('end', onEnd);
  }
  // 'none': nothing to read, and nothing is done to read it. node:http2 dumps a stream nobody read
  // once it closes, a tick later; resume() here instead would end the readable side at once, and
  // the stream would be destroyed as soon as nghttp2 closes it, before the response's last write
  // completed: Node then makes an ERR_STREAM_DESTROYED error (a stack trace) per request, 9% of
  // the CPU in a profile.
  // 'hold': the DATA are someone else's to read later (a WebSocket's frames after the switch).
}
