/**
 * Streams this side reset. A stream's `rstCode` does not say who sent the RST_STREAM; the
 * premature-reset guard (h2-guard.ts) must not count the proxy's own resets as the client's.
 */
import type { ServerHttp2Stream } from 'node:http2';

const resetByUs = new WeakSet<ServerHttp2Stream>();

/** Reset `stream` with `code` (RST_STREAM), remembered as ours. */
export function resetStream(stream: ServerHttp2Stream, code: number): void {
  if (stream.destroyed) return;
  resetByUs.add(stream);
  stream.close(code);
}

/** Whether this side reset `stream`. */
export function resetByUsOf(stream: ServerHttp2Stream): boolean {
  return resetByUs.has(stream);
}
