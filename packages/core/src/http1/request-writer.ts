/**
 * HTTP/1.1 request bodies on the wire (RFC 9112 6 and 7.1): a known length goes out as it comes,
 * a chunked one gets its chunk-size line and CRLFs, and the last chunk ends it. The head itself is
 * one string built by request-head.ts. The exchange decides what to send and when; this module
 * only frames it onto a wire, the upstream connection.
 */

/** The socket side the writer needs; the upstream Connection implements it. */
export interface RequestWire {
  /** Queue bytes; false once the socket is backed up (the caller waits for drain). */
  write(data: string | Buffer, encoding?: BufferEncoding): boolean;
  /** Hold writes and send them as one (a chunk's size line, data and CRLF in one writev). */
  cork(): void;
  uncork(): void;
}

const LAST_CHUNK = '0\r\n\r\n';
const CHUNK_END_LAST = '\r\n0\r\n\r\n';
const CHUNK_END = '\r\n';

/**
 * Frame and write one piece of a request body; `last` ends the body (a chunked body gets its
 * last-chunk, with no trailers). Returns false when the wire is backed up.
 */
export function writeBodyChunk(wire: RequestWire, chunked: boolean, chunk: Buffer, last: boolean): boolean {
  if (!chunked) return chunk.length > 0 ? wire.write(chunk) : true;
  if (chunk.length === 0) return last ? wire.write(LAST_CHUNK, 'latin1') : true;
  wire.cork();
  wire.write(chunk.length.toString(16) + '\r\n', 'latin1');
  wire.write(chunk);
  const ok = wire.write(last ? CHUNK_END_LAST : CHUNK_END, 'latin1');
  wire.uncork();
  return ok;
}
