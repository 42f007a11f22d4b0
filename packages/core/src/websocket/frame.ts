/**
 * Writing RFC 6455 frames as a client: masked with keys from a pooled CSPRNG buffer (section
 * 5.3 wants them unpredictable; one randomFillSync per 2048 keys), the mask applied by bufferutil
 * when it loads (native, about 40x faster than a JS loop at 4 KiB), and every frame a socket gets
 * within one event-loop turn sent with one socket.write: frames go into a shared slab, and
 * consecutive frames of one socket are one contiguous range of it.
 */
import { randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import type net from 'node:net';

export const enum Opcode {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xa,
}

type MaskFn = (source: Uint8Array, mask: Uint8Array, output: Uint8Array, offset: number, length: number) => void;

function jsMask(source: Uint8Array, mask: Uint8Array, output: Uint8Array, offset: number, length: number): void {
  for (let i = 0; i < length; i++) output[offset + i] = source[i]! ^ mask[i & 3]!;
}

/** bufferutil's native mask, or null when it is not installed or does not load here. */
function loadNativeMask(): MaskFn | null {
  if (process.env.PORTCULLIS_NO_BUFFERUTIL) return null;
  try {
    const mod = createRequire(import.meta.url)('bufferutil') as { mask?: MaskFn };
    return typeof mod.mask === 'function' ? mod.mask : null;
  } catch {
    return null;
  }
}

const nativeMask = loadNativeMask();
/** Below this size a JS loop beats the native call (measured: equal near 32 bytes). */
const NATIVE_FROM = 32;

/** Whether frames are masked natively (for logs and the benchmark report). */
export const maskImplementation = nativeMask ? 'bufferutil' : 'js';

// ---- masking keys -------------------------------------------------------------------------

const KEY_POOL = 8192;
const keyPool = Buffer.allocUnsafe(KEY_POOL);
let keyOffset = KEY_POOL;
/** The current frame's key, for the mask call. */
const maskKey = Buffer.allocUnsafe(4);

function nextKey(): void {
  if (keyOffset === KEY_POOL) {
    randomFillSync(keyPool);
    keyOffset = 0;
  }
  maskKey[0] = keyPool[keyOffset]!;
  maskKey[1] = keyPool[keyOffset + 1]!;
  maskKey[2] = keyPool[keyOffset + 2]!;
  maskKey[3] = keyPool[keyOffset + 3]!;
  keyOffset += 4;
}

// ---- the slab -----------------------------------------------------------------------------

/**
 * Frames are laid out one after another in a slab that is never written twice: a full slab is
 * replaced, and the old one lives as long as socket writes still hold views of it.
 */
const SLAB_SIZE = 128 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabUsed = 0;

/** Room for `n` bytes; returns the slab (or a dedicated buffer) and sets `reservedAt`. */
let reservedAt = 0;
function reserve(n: number): Buffer {
  if (n > SLAB_SIZE >> 2) {
    reservedAt = 0;
    return Buffer.allocUnsafeSlow(n);
  }
  if (slabUsed + n > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  reservedAt = slabUsed;
  slabUsed += n;
  return slab;
}

// ---- writers flushed once per turn --------------------------------------------------------

const dirty: FrameWriter[] = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  dirty.length = 0;
}

const EMPTY = Buffer.alloc(0);

/** The frames bound for one socket, written once per event-loop turn. */
export class FrameWriter {
  /** The pending range: buf[start, end) has not been handed to the socket yet. */
  private buf: Buffer = EMPTY;
  private start = 0;
  private end = 0;
  private queued = false;

  constructor(private readonly socket: net.Socket) {}

  /** Bytes framed but not yet handed to the socket. */
  get pending(): number {
    return this.end - this.start;
  }

  /** Frame and mask `payload` (any view; read only during the call); `rsv1`: a compressed message. */
  frame(opcode: Opcode, payload: Uint8Array, rsv1 = false): void {
    const len = payload.byteLength;
    const head = len < 126 ? 6 : len < 65536 ? 8 : 14;
    const total = head + len;
    const out = reserve(total);
    let p = reservedAt;
    const at = p;
    out[p++] = rsv1 ? 0xc0 | opcode : 0x80 | opcode;
    if (len < 126) {
      out[p++] = 0x80 | len;
    } else if (len < 65536) {
      out[p++] = 0x80 | 126;
      out[p++] = len >>> 8;
      out[p++] = len & 0xff;
    } else {
      out[p++] = 0x80 | 127;
      // A 64-bit length: messages are capped at 1 GiB, so the high word is 0 in practice.
      const hi = Math.floor(len / 0x1_0000_0000);
      out[p++] = (hi >>> 24) & 0xff;
      out[p++] = (hi >>> 16) & 0xff;
      out[p++] = (hi >>> 8) & 0xff;
      out[p++] = hi & 0xff;
      out[p++] = len >>> 24;
      out[p++] = (len >>> 16) & 0xff;
      out[p++] = (len >>> 8) & 0xff;
      out[p++] = len & 0xff;
    }
    nextKey();
    out[p++] = maskKey[0]!;
    out[p++] = maskKey[1]!;
    out[p++] = maskKey[2]!;
    out[p++] = maskKey[3]!;
    if (len > 0) {
      if (nativeMask !== null && len >= NATIVE_FROM) nativeMask(payload, maskKey, out, p, len);
      else jsMask(payload, maskKey, out, p, len);
    }
    this.append(out, at, at + total);
  }

  private append(buf: Buffer, start: number, end: number): void {
    if (buf === this.buf && start === this.end) {
      this.end = end;
    } else {
      if (this.end > this.start) this.write();
      this.buf = buf;
      this.start = start;
      this.end = end;
    }
    if (!this.queued) {
      this.queued = true;
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
  }

  /** Hand what is pending to the socket now (end of turn, or before closing). */
  flush(): void {
    this.queued = false;
    if (this.end > this.start) this.write();
  }

  private write(): void {
    const buf = this.buf;
    const view = this.start === 0 && this.end === buf.length ? buf : buf.subarray(this.start, this.end);
    this.buf = EMPTY;
    this.start = this.end = 0;
    if (!this.socket.destroyed) this.socket.write(view);
  }
}

// ---- close frames -------------------------------------------------------------------------

/** A close code a peer may send in a frame (RFC 6455 7.4.1, 7.4.2; IANA registry). */
export function isSendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** The payload of a close frame: code and a reason cut to fit 123 bytes on a UTF-8 boundary. */
export function closePayload(code: number, reason: string | Uint8Array): Buffer {
  if (code === 1005 || !isSendableCode(code)) return EMPTY;
  let r = typeof reason === 'string' ? Buffer.from(reason) : Buffer.from(reason.buffer, reason.byteOffset, reason.byteLength);
  if (r.length > 123) {
    let n = 123;
    while (n > 0 && (r[n]! & 0xc0) === 0x80) n--;
    r = r.subarray(0, n);
  }
  const out = Buffer.allocUnsafe(2 + r.length);
  out.writeUInt16BE(code, 0);
  r.copy(out, 2);
  return out;
}
