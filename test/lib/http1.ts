/**
 * A deliberately small HTTP/1.1 message reader for the tests' raw clients and raw origins.
 * It keeps headers exactly as they came (order, repeats, case) so framing faults are visible,
 * which Node's own parser would hide or reject.
 */

export type HeaderList = Array<[name: string, value: string]>;

export interface Head {
  startLine: string;
  headers: HeaderList;
  /** Byte length of the head including the blank line. */
  length: number;
}

/** All values of a header (case-insensitive name), in arrival order. */
export function headerValues(headers: HeaderList, name: string): string[] {
  const n = name.toLowerCase();
  return headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

/** The single value of a header, or undefined; throws if it came more than once. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  const v = headerValues(headers, name);
  if (v.length > 1) throw new Error(`header ${name} repeated: ${JSON.stringify(v)}`);
  return v[0];
}

/** Parses a head if `buf` holds a complete one (CRLF CRLF), else returns null. */
export function parseHead(buf: Buffer): Head | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const text = buf.subarray(0, end).toString('latin1');
  const lines = text.split('\r\n');
  const startLine = lines.shift() ?? '';
  const headers: HeaderList = [];
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i < 0) {
      headers.push([line, '']);
      continue;
    }
    headers.push([line.slice(0, i), line.slice(i + 1).trim()]);
  }
  return { startLine, headers, length: end + 4 };
}

export type BodyFraming =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  | { kind: 'close' };

/** Framing of a response body (RFC 9112 §6.3) given the request method and status. */
export function responseFraming(method: string, status: number, headers: HeaderList): BodyFraming {
  if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { kind: 'none' };
  }
  const te = headerValues(headers, 'transfer-encoding');
  if (te.length > 0) {
    return /chunked\s*$/i.test(te.join(',')) ? { kind: 'chunked' } : { kind: 'close' };
  }
  const cl = headerValues(headers, 'content-length');
  if (cl.length > 0) return { kind: 'length', length: Number(cl[0]) };
  return { kind: 'close' };
}

/** Framing of a request body. */
export function requestFraming(headers: HeaderList): BodyFraming {
  const te = headerValues(headers, 'transfer-encoding');
  if (te.length > 0) return { kind: 'chunked' };
  const cl = headerValues(headers, 'content-length');
  if (cl.length > 0) return { kind: 'length', length: Number(cl[0]) };
  return { kind: 'none' };
}

export interface BodyResult {
  body: Buffer;
  /** Bytes of `buf` consumed (head excluded). */
  consumed: number;
  /** True once the framing says the body is over. */
  done: boolean;
}

/**
 * Reads as much of a body as `buf` (the bytes after the head) allows. For `close` framing it is
 * never done: the caller decides when the connection ended.
 */
export function readBody(framing: BodyFraming, buf: Buffer): BodyResult {
  switch (framing.kind) {
    case 'none':
      return { body: Buffer.alloc(0), consumed: 0, done: true };
    case 'length': {
      const n = Math.min(framing.length, buf.length);
      return { body: buf.subarray(0, n), consumed: n, done: n === framing.length };
    }
    case 'close':
      return { body: buf, consumed: buf.length, done: false };
    case 'chunked': {
      const parts: Buffer[] = [];
      let pos = 0;
      for (;;) {
        const eol = buf.indexOf('\r\n', pos);
        if (eol < 0) return { body: Buffer.concat(parts), consumed: pos, done: false };
        const size = parseInt(buf.subarray(pos, eol).toString('latin1').split(';')[0]!.trim(), 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size line');
        if (size === 0) {
          // trailers up to an empty line
          let p = eol + 2;
          for (;;) {
            const e = buf.indexOf('\r\n', p);
            if (e < 0) return { body: Buffer.concat(parts), consumed: pos, done: false };
            if (e === p) return { body: Buffer.concat(parts), consumed: e + 2, done: true };
            p = e + 2;
          }
        }
        const dataStart = eol + 2;
        if (buf.length < dataStart + size + 2) {
          // partial chunk: report what we have without consuming the chunk
          parts.push(buf.subarray(dataStart, Math.min(buf.length, dataStart + size)));
          return { body: Buffer.concat(parts), consumed: pos, done: false };
        }
        parts.push(buf.subarray(dataStart, dataStart + size));
        pos = dataStart + size + 2;
      }
    }
  }
}
