import { isAscii } from 'node:buffer';

/**
 * Incremental HTTP/1.1 response parser: framing only.
 *
 * It finds the head, decodes status and headers in one pass, and delimits the body
 * (Content-Length, chunked, or until close), handing out body bytes as views of the socket's
 * own buffers. It never copies the common case: a whole response in one read.
 */

export const enum BodyKind {
  None = 0,
  Length = 1,
  Chunked = 2,
  UntilClose = 3,
}

export interface ResponseHead {
  status: number;
  reason: string;
  /** Flat [name, value, name, value, ...], names in the upstream's case, order kept. */
  headers: string[];
  bodyKind: BodyKind;
  /** Body size for BodyKind.Length, else -1. */
  contentLength: number;
  /** The server lets the connection live on after this response. */
  keepAlive: boolean;
  /** `Keep-Alive: timeout=N` in ms, or -1 when not announced. */
  keepAliveTimeout: number;
  /** The Connection header named `upgrade` (meaningful on a 101). */
  upgrade: boolean;
  /** Every head byte is ASCII (the usual case): the latin1-decoded strings are also valid UTF-8 text. */
  ascii: boolean;
}

export interface ResponseSink {
  /** Interim 1xx responses other than 101 are swallowed by the parser; this is the final head. */
  onHead(head: ResponseHead): void;
  /** Body bytes: a view of the socket's buffer, valid as long as the caller keeps it. */
  onBody(chunk: Buffer): void;
  /** The body is complete. `rest` holds bytes that followed it in the same read, if any. */
  onComplete(rest: Buffer | null): void;
}

export class ParseError extends Error {}

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

const MAX_HEAD = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');

export class ResponseParser {
  private state = State.Head;
  private pending: Buffer | null = null;
  private pendingLine: Buffer | null = null;
  private remaining = 0;
  /** The request was HEAD, or a CONNECT/upgrade: the body rules differ (RFC 9112 6.3). */
  private noBody = false;
  private sink: ResponseSink;

  constructor(sink: ResponseSink) {
    this.sink = sink;
  }

  /** Prepare for the next response; `noBody` for HEAD requests. */
  expect(noBody: boolean): void {
    this.state = State.Head;
    this.noBody = noBody;
    this.pending = null;
    this.pendingLine = null;
  }

  get idle(): boolean {
    return this.state === State.Done;
  }

  get inHead(): boolean {
    return this.state === State.Head;
  }

  /** The connection closed: true if that cleanly ends a close-delimited body. */
  finish(): boolean {
    if (this.state === State.UntilClose) {
      this.state = State.Done;
      this.sink.onComplete(null);
      return true;
    }
    return false;
  }

  private execute(data: Buffer): void {
    let buf = data;
    let pos = 0;
    const len = () => buf.length;
    while (pos < len()) {
      switch (this.state) {
        case State.Head: {
          if (this.pending !== null) {
            const from = Math.max(0, this.pending.length - 3);
            buf = Buffer.concat([this.pending, pos === 0 ? buf : buf.subarray(pos)]);
            pos = 0;
            this.pending = null;
            const end = buf.indexOf(CRLFCRLF, from);
            if (end < 0) return this.keepPartialHead(buf);
            pos = this.parseHead(buf, 0, end);
          } else {
            const end = buf.indexOf(CRLFCRLF, pos);
            if (end < 0) return this.keepPartialHead(buf.subarray(pos));
            pos = this.parseHead(buf, pos, end);
          }
          break;
        }
        case State.Length: {
          const avail = len() - pos;
          if (avail <= this.remaining) {
            this.remaining -= avail;
            this.sink.onBody(pos === 0 ? buf : buf.subarray(pos));
            if (this.remaining === 0) this.complete(buf, len());
            return;
          }
          const end = pos + this.remaining;
          this.sink.onBody(buf.subarray(pos, end));
          this.remaining = 0;
          this.complete(buf, end);
          return;
        }
        case State.ChunkSize: {
          const eol = buf.indexOf(10, pos);
          if (eol < 0) return this.keepPartialLine(buf, pos);
          let size = 0;
          let i = pos;
          let digits = 0;
          for (; i < eol; i++) {
            const c = buf[i]!;
            const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
            if (v < 0) break;
            size = size * 16 + v;
            digits++;
          }
          // Anything after the digits must be whitespace, a chunk extension (ignored) or CR.
          const c = buf[i];
          if (digits === 0 || digits > 12 || (c !== 13 && c !== 59 && c !== 32 && c !== 9)) {
            throw new ParseError('bad chunk size line');
          }
          pos = eol + 1;
          if (size === 0) {
            this.state = State.Trailers;
          } else {
            this.remaining = size;
            this.state = State.ChunkData;
          }
          break;
        }
        case State.ChunkData: {
          const avail = len() - pos;
          if (avail <= this.remaining) {
            this.remaining -= avail;
            this.sink.onBody(pos === 0 ? buf : buf.subarray(pos));
            if (this.remaining === 0) this.state = State.ChunkDataEnd;
            return;
          }
          const end = pos + this.remaining;
          this.sink.onBody(buf.subarray(pos, end));
          this.remaining = 0;
          pos = end;
          this.state = State.ChunkDataEnd;
          break;
        }
        case State.ChunkDataEnd: {
          // The CRLF after chunk data; it may itself be split across reads.
          const c = buf[pos]!;
          if (c === 13) {
            pos++;
          } else if (c === 10) {
            pos++;
            this.state = State.ChunkSize;
          } else {
            throw new ParseError('missing CRLF after chunk data');
          }
          break;
        }
        case State.Trailers: {
          // Trailer fields are consumed and dropped; an empty line ends the message.
          const eol = buf.indexOf(10, pos);
          if (eol < 0) return this.keepPartialLine(buf, pos);
          const empty = eol === pos || (eol === pos + 1 && buf[pos] === 13);
          pos = eol + 1;
          if (empty) {
            this.complete(buf, pos);
            return;
          }
          break;
        }
        case State.UntilClose:
          this.sink.onBody(pos === 0 ? buf : buf.subarray(pos));
          return;
        case State.Done:
          // Bytes after a complete response that nobody expected yet.
          throw new ParseError('unexpected bytes after response');
      }
    }
  }

  private complete(buf: Buffer, end: number): void {
    this.state = State.Done;
    this.sink.onComplete(end < buf.length ? buf.subarray(end) : null);
  }

  private keepPartialHead(part: Buffer): void {
    if (part.length > MAX_HEAD) throw new ParseError('response head too large');
    // Copy: the socket may hand the same memory out again.
    this.pending = Buffer.from(part);
  }

  private keepPartialLine(buf: Buffer, pos: number): void {
    // A chunk-size or trailer line split across reads: rare, so re-join it the simple way.
    const part = buf.subarray(pos);
    if (part.length > 4096) throw new ParseError('chunk line too long');
    this.pendingLine = Buffer.from(part);
  }

  /** Feed that re-joins a split chunk line before parsing on. */
  push(data: Buffer): void {
    if (this.pendingLine !== null) {
      const joined = Buffer.concat([this.pendingLine, data]);
      this.pendingLine = null;
      this.execute(joined);
    } else {
      this.execute(data);
    }
  }

  /** Decode status line and headers of buf[start, end) (end = index of CRLFCRLF); returns body start. */
  private parseHead(buf: Buffer, start: number, end: number): number {
    const text = buf.toString('latin1', start, end);
    const ascii = isAscii(buf.subarray(start, end));
    const bodyStart = end + 4;
    // "HTTP/1.1 200 OK"
    if (text.length < 12 || text.charCodeAt(0) !== 72 /* H */ || text.charCodeAt(8) !== 32) {
      throw new ParseError('bad status line');
    }
    const minor = text.charCodeAt(7) - 48;
    const status =
      (text.charCodeAt(9) - 48) * 100 + (text.charCodeAt(10) - 48) * 10 + (text.charCodeAt(11) - 48);
    if (!(status >= 100 && status <= 999) || text.charCodeAt(5) !== 49 /* 1 */) {
      throw new ParseError('bad status line');
    }
    let lineEnd = text.indexOf('\r\n', 12);
    if (lineEnd < 0) lineEnd = text.length;
    const reason = text.slice(13, lineEnd);

    const headers: string[] = [];
    let contentLength = -1;
    let chunked = false;
    let connClose = minor === 0;
    let connKeepAlive = false;
    let upgrade = false;
    let keepAliveTimeout = -1;

    let p = lineEnd + 2;
    while (p < text.length) {
      let e = text.indexOf('\r\n', p);
      if (e < 0) e = text.length;
      const colon = text.indexOf(':', p);
      if (colon <= p || colon > e) throw new ParseError('bad header line');
      const name = text.slice(p, colon);
      let vs = colon + 1;
      while (vs < e && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
      let ve = e;
      while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
      const value = text.slice(vs, ve);
      // Only names of the lengths we care about are lower-cased.
      switch (name.length) {
        case 14:
          if (name.toLowerCase() === 'content-length') {
            const n = parseLength(value);
            if (n < 0 || (contentLength >= 0 && n !== contentLength)) throw new ParseError('bad content-length');
            contentLength = n;
          }
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') {
            // The last coding decides: chunked last means chunked framing (RFC 9112 6.3).
            chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
            if (!chunked) connClose = true;
          }
          break;
        case 10: {
          const lower = name.toLowerCase();
          if (lower === 'connection') {
            const v = value.toLowerCase();
            if (v.includes('close')) connClose = true;
            if (v.includes('keep-alive')) connKeepAlive = true;
            if (v.includes('upgrade')) upgrade = true;
          } else if (lower === 'keep-alive') {
            const m = /timeout\s*=\s*(\d+)/i.exec(value);
            if (m) keepAliveTimeout = Number(m[1]) * 1000;
          }
          break;
        }
      }
      headers.push(name, value);
      p = e + 2;
    }

    if (status < 200 && status !== 101) {
      // Interim response (100 Continue, 103 Early Hints): skip it, the final one follows.
      this.state = State.Head;
      return bodyStart;
    }

    let bodyKind: BodyKind;
    if (this.noBody || status === 204 || status === 304 || status === 101) {
      bodyKind = BodyKind.None;
    } else if (chunked) {
      bodyKind = BodyKind.Chunked;
      contentLength = -1;
    } else if (contentLength >= 0) {
      bodyKind = contentLength === 0 ? BodyKind.None : BodyKind.Length;
    } else {
      bodyKind = BodyKind.UntilClose;
      connClose = true;
    }
    const keepAlive = !connClose && (minor === 1 || connKeepAlive);

    this.sink.onHead({
      status,
      reason,
      headers,
      bodyKind,
      contentLength: bodyKind === BodyKind.Length || (this.noBody && contentLength >= 0) ? contentLength : bodyKind === BodyKind.None ? 0 : -1,
      keepAlive,
      keepAliveTimeout,
      upgrade,
      ascii,
    });

    switch (bodyKind) {
      case BodyKind.None:
        this.state = State.Done;
        // Leave bytes after the head (pipelined responses, or a tunnel's first bytes) to the caller.
        this.sink.onComplete(bodyStart < buf.length ? buf.subarray(bodyStart) : null);
        return buf.length;
      case BodyKind.Length:
        this.remaining = contentLength;
        this.state = State.Length;
        break;
      case BodyKind.Chunked:
        this.state = State.ChunkSize;
        break;
      case BodyKind.UntilClose:
        this.state = State.UntilClose;
        break;
    }
    return bodyStart;
  }
}

function parseLength(v: string): number {
  if (v.length === 0 || v.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}
