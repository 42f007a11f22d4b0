/**
 * The core's Downstream over one HTTP/2 stream, and the wiring of a stream's events to its
 * exchange (see http2.ts for the adapter as a whole).
 */
import { constants, type ServerHttp2Stream } from 'node:http2';
import type { Downstream, Exchange } from '../exchange/contract.js';
import { resetStream } from './h2-reset.js';
import { h2ResponseHeaders } from './h2-response.js';

const EMPTY = Buffer.alloc(0);
const { NGHTTP2_INTERNAL_ERROR } = constants;

/** The core's Downstream over one HTTP/2 stream. */
export class H2Downstream implements Downstream {
  exchange: Exchange | null = null;
  /** The response is complete, or the stream was reset by us. */
  done = false;

  constructor(
    readonly stream: ServerHttp2Stream,
    private readonly extra: readonly string[],
  ) {}

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
    return this.stream.write(Buffer.from(chunk));
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

/** Answer a stream by ourselves (refusals): a plain-text body, the listener's headers. */
export function answer(stream: ServerHttp2Stream, status: number, message: string, head: boolean, extra: readonly string[], more: Record<string, string> = {}): void {
  if (stream.destroyed || stream.headersSent) return;
  const block: Record<string, string | number> = { ':status': status, 'content-type': 'text/plain; charset=utf-8', ...more };
  for (let i = 0; i < extra.length; i += 2) block[extra[i]!] = extra[i + 1]!;
  if (head) {
    stream.respond(block, { endStream: true });
    return;
  }
  block['content-length'] = Buffer.byteLength(message);
  stream.respond(block);
  stream.end(message);
}

/** Wire a stream's events to its exchange: writability, the client's reset, the request body. */
export function feed(stream: ServerHttp2Stream, down: H2Downstream, exchange: Exchange, body: 'read' | 'none' | 'hold'): void {
  down.exchange = exchange;
  stream.on('drain', () => exchange.writable());
  stream.on('close', () => {
    // Reset by the client (or the connection went) before the response was out: cancel upstream.
    if (!down.done || stream.rstCode !== constants.NGHTTP2_NO_ERROR) exchange.abort();
  });
  stream.on('error', () => {
    // A stream error (reset by the peer, connection lost) ends in 'close', handled above.
  });
  if (body === 'read') {
    stream.on('data', (chunk: Buffer) => exchange.body(chunk, false));
    stream.on('end', () => exchange.body(EMPTY, true));
  } else if (body === 'none') {
    stream.resume();
  }
  // 'hold': the DATA are someone else's to read later (a WebSocket's frames after the switch).
}

