/**
 * permessage-deflate (RFC 7692) on the upstream hop, where the proxy is the client. It offers
 * no context takeover both ways, so every message is compressed and inflated on its own: no
 * zlib state lives between messages, and an idle WebSocket costs no compression memory.
 */
import zlib from 'node:zlib';

/** What the proxy sends upstream in Sec-WebSocket-Extensions when compression is on. */
export const DEFLATE_OFFER = 'permessage-deflate; client_no_context_takeover; server_no_context_takeover';

/** Messages shorter than this go uncompressed (RSV1 clear): deflate would not pay for itself. */
export const COMPRESS_FROM = 256;

/** The empty stored block a sync flush ends with: stripped when sending, put back to inflate. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const SYNC = { finishFlush: zlib.constants.Z_SYNC_FLUSH };

/**
 * Check the upstream's answer to {@link DEFLATE_OFFER}: '' (declined) gives false, an accepted
 * offer true; anything else is the problem as text (the client then gets 502).
 */
export function acceptDeflate(extensions: string): boolean | string {
  if (extensions.trim() === '') return false;
  const offers = extensions.split(',');
  if (offers.length > 1) return `the 101 enabled more than one extension (${extensions})`;
  const [name, ...params] = offers[0]!.split(';').map((p) => p.trim());
  if (name!.toLowerCase() !== 'permessage-deflate') return `the 101 enabled an extension that was not offered (${name})`;
  let serverNoTakeover = false;
  const seen = new Set<string>();
  for (const p of params) {
    const [key, value] = p.split('=').map((s) => s.trim());
    const k = key!.toLowerCase();
    if (seen.has(k)) return `the 101 repeats the permessage-deflate parameter ${k}`;
    seen.add(k);
    switch (k) {
      case 'server_no_context_takeover':
        if (value !== undefined) return 'the 101 gives server_no_context_takeover a value';
        serverNoTakeover = true;
        break;
      case 'client_no_context_takeover':
        if (value !== undefined) return 'the 101 gives client_no_context_takeover a value';
        break;
      case 'server_max_window_bits': {
        // Inflating with the largest window reads any smaller one.
        const bits = Number(value?.replace(/^"|"$/g, ''));
        if (!Number.isInteger(bits) || bits < 8 || bits > 15) return `the 101 has server_max_window_bits=${value ?? ''}`;
        break;
      }
      default:
        // client_max_window_bits was not offered, so it may not be answered (RFC 7692 7.1.2.2).
        return `the 101 has a permessage-deflate parameter that was not offered (${k})`;
    }
  }
  // Offered, so it must be answered: without it the server would keep context the proxy drops.
  if (!serverNoTakeover) return 'the 101 accepted permessage-deflate without server_no_context_takeover';
  return true;
}

/** Compress one message for a frame with RSV1 set. */
export function deflateMessage(data: Uint8Array): Buffer {
  const out = zlib.deflateRawSync(data, SYNC);
  // A sync flush ends with the empty stored block; the frame carries the data without it.
  const end = out.length - TAIL.length;
  return end >= 0 && TAIL.equals(out.subarray(end)) ? out.subarray(0, end) : out;
}

/**
 * Inflate one compressed message. Returns null when it would exceed `max` bytes (1009), and
 * throws on data that is not deflate (1007 territory: the caller fails the connection).
 */
export function inflateMessage(data: Buffer, max: number): Buffer | null {
  try {
    return zlib.inflateRawSync(Buffer.concat([data, TAIL]), { ...SYNC, maxOutputLength: max });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return null;
    throw e;
  }
}
