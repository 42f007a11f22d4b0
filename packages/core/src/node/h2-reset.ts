/**
 * Resetting a stream (RST_STREAM), and remembering which streams this side reset: a stream's
 * `rstCode` does not say who sent it, and the premature-reset guard (h2-guard.ts) must not count
 * the proxy's own resets as the client's.
 *
 * Why not always `stream.close(code)`: in node:http2 (20.x) close() first ends the writable side,
 * so once a response has started, the client gets an empty DATA frame with END_STREAM before the
 * RST_STREAM, which nghttp2 then drops as the stream is closed: a response cut short by a dying
 * upstream would look complete to a client that was not told its length (seen on the wire:
 * `DATA len 10000`, `DATA flags=END_STREAM len 0`, no RST_STREAM). `destroy(err)` marks the
 * writable side errored first, so no END_STREAM is sent and the RST_STREAM (INTERNAL_ERROR, the
 * only code destroy() sends for an error) goes out after the data already queued.
 */
import type { ServerHttp2Stream } from 'node:http2';

const resetByUs = new WeakSet<ServerHttp2Stream>();

/** Made once: destroy() needs an error to reset rather than end. */
const CUT_SHORT = new Error('the response was cut short (upstream failed)');

/**
 * Reset `stream`: with `code` while no response has started, with INTERNAL_ERROR after (see
 * above). The stream must have an 'error' listener (destroy emits the error there).
 */
export function resetStream(stream: ServerHttp2Stream, code: number): void {
  if (stream.destroyed) return;
  resetByUs.add(stream);
  if (stream.headersSent && code !== 0) stream.destroy(CUT_SHORT);
  else stream.close(code);
}

/** Whether this side reset `stream`. */
export function resetByUsOf(stream: ServerHttp2Stream): boolean {
  return resetByUs.has(stream);
}
