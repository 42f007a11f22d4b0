/**
 * The upstream leg of a proxied WebSocket: the proxy is the client of the upstream server on a
 * socket that answered 101. A lean RFC 6455 client: it reads whole messages (fragments
 * reassembled, control frames interleaved, pings answered), writes masked frames, and runs the
 * closing handshake and the idle pings of its hop.
 *
 *   Open ──close() / close frame──> Closing ──server's FIN / timeout / socket gone──> Closed
 *     └────────── socket lost, protocol error, idle timeout ──────────────────────────┘
 *
 * Once both close frames have crossed, the proxy, as the client of this hop, waits for the
 * server to close the TCP connection (RFC 6455 7.1.1): the side that closes first holds
 * TIME_WAIT, and on the proxy that would be an ephemeral port to this one upstream address for
 * a minute per WebSocket: at a few hundred closes a second the ports run out.
 *
 * Messages go to a sink (the frontend's client hop) as views of the read buffer whenever a
 * message arrived in one read: nothing is copied on that path. A pool socket reads into a buffer
 * shared by the thread (read-buffer.ts), so what must outlive a read is copied once: a frame
 * spanning reads is gathered in a buffer of its final size, a finished fragment of a longer
 * message is kept as a copy. Text is checked as UTF-8 once, here (the client hop's library does
 * not check what it sends).
 */
import { isUtf8 } from 'node:buffer';
import type net from 'node:net';
import { clock, watch, type Timed } from '../clock.js';
import { COMPRESS_FROM, deflateMessage, inflateMessage } from './deflate.js';
import { closePayload, FrameWriter, isSendableCode, Opcode } from './frame.js';

export interface UpstreamSink {
  /** A whole message; `data` is valid only during the call (copy it to keep it). */
  onMessage(data: Buffer, binary: boolean): void;
  /**
   * The upstream leg is over. `code`/`reason` are what the client should be told: the upstream's
   * own close (1005 when its close frame had no code), 1006 when the upstream went away without
   * a close frame, or the proxy's verdict on a faulty upstream (1002 protocol, 1007 bad UTF-8,
   * 1009 too big, 1011 no answer to pings). Not called after the sink itself asked to close.
   */
  onClose(code: number, reason: string | Buffer): void;
  /** Run `fn` now, batching whatever the sink writes in it (uWS: ws.cork). */
  batch(fn: () => void): void;
}

export interface UpstreamLegOptions {
  maxMessageSize: number;
  /** ms of silence before a ping, and again before giving up; 0: never. */
  idleTimeout: number;
  /** permessage-deflate was negotiated (no context takeover either way). */
  deflate?: boolean;
  /**
   * How the socket's bytes arrive when not as 'data' events: a pool socket's
   * `UpstreamSwitch.listen`. The reader's `data` is valid only during the call.
   */
  listen?: (reader: (data: Buffer) => void) => void;
}

const enum State {
  Open,
  /** We sent a close frame and wait for the upstream's. */
  Closing,
  Closed,
}

/** How long a closing handshake may take before the socket is simply destroyed. */
const CLOSE_TIMEOUT = 5_000;
/** How long the server may take to close TCP once both close frames have crossed. */
const FIN_TIMEOUT = 1_000;
const EMPTY = Buffer.alloc(0);
const PING = Buffer.alloc(0);
/** See frameRoom(). */
const GATHER_AT_ONCE = 1024 * 1024;

/** Every open leg, for the idle and close deadlines (one coarse sweep, see clock.ts). */
const legs = new Set<UpstreamWebSocket>();
let watching = false;

export class UpstreamWebSocket implements Timed {
  deadline = 0;
  private state = State.Open;
  private readonly writer: FrameWriter;
  private readonly max: number;
  private readonly idle: number;
  private pinged = false;
  private paused = false;
  private readonly deflate: boolean;
  /** The message being read was compressed (RSV1 on its first frame). */
  private compressed = false;

  // Parser state: a partial frame header, the frame being read, the message being assembled.
  private headPart: Buffer | null = null;
  /** Payload bytes still to come for the current frame; -1 between frames. */
  private remaining = -1;
  private opcode = 0;
  private fin = false;
  /** Opcode of the data message being assembled from fragments (0 when none). */
  private messageOpcode = 0;
  /** The finished fragments of the message being assembled (owned copies). */
  private parts: Buffer[] | null = null;
  private partsBytes = 0;
  /** Payload size of the frame being read. */
  private frameLength = 0;
  /** The payload of a data frame that spans reads, gathered at its final size; null otherwise. */
  private frameBuf: Buffer | null = null;
  private frameFill = 0;
  /** The payload of a control frame split across reads (at most 125 bytes). */
  private controlParts: Buffer[] | null = null;
  private readChunk: Buffer = EMPTY;
  private readonly parseRead = (): void => this.parse(this.readChunk);

  constructor(
    readonly socket: net.Socket,
    private readonly sink: UpstreamSink,
    opts: UpstreamLegOptions,
  ) {
    this.writer = new FrameWriter(socket);
    this.max = opts.maxMessageSize;
    this.idle = opts.idleTimeout;
    this.deflate = opts.deflate === true;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    if (opts.listen !== undefined) opts.listen((d) => this.onData(d));
    else socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('end', () => this.lost());
    socket.on('error', () => this.lost());
    socket.on('close', () => this.lost());
    if (this.idle > 0) this.deadline = clock.now + this.idle;
    legs.add(this);
    if (!watching) {
      watching = true;
      watch(legs);
    }
  }

  /** Bytes waiting to reach the upstream (framed, or buffered in the socket). */
  get bufferedAmount(): number {
    return this.writer.pending + this.socket.writableLength;
  }

  get open(): boolean {
    return this.state === State.Open;
  }

  /** Feed the bytes that arrived with the 101, before any socket read. */
  start(head: Buffer | null): void {
    if (head !== null && head.length > 0) this.onData(head);
  }

  /** Send a client message upstream. `data` is read during the call only. */
  send(data: Uint8Array, binary: boolean): void {
    if (this.state !== State.Open) return;
    const opcode = binary ? Opcode.Binary : Opcode.Text;
    if (this.deflate && data.byteLength >= COMPRESS_FROM) this.writer.frame(opcode, deflateMessage(data), true);
    else this.writer.frame(opcode, data);
  }

  /** Start the closing handshake with the client's code (1005: none; 1006: the client vanished). */
  close(code: number, reason: string | Uint8Array): void {
    if (this.state !== State.Open) return;
    this.state = State.Closing;
    this.writer.frame(Opcode.Close, closePayload(code === 1006 ? 1001 : code, reason));
    this.writer.flush();
    this.deadline = clock.now + CLOSE_TIMEOUT;
    if (this.paused) this.resume();
  }

  /** Stop reading the upstream (the client is backed up). */
  pause(): void {
    if (this.paused || this.state === State.Closed) return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Drop the socket now (the client is gone and no close handshake is wanted). */
  destroy(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    this.finish();
  }

  // ---- reading ----------------------------------------------------------------------------

  private onData(d: Buffer): void {
    if (this.state === State.Closed) return;
    if (this.idle > 0 && this.state === State.Open) {
      this.deadline = clock.now + this.idle;
      this.pinged = false;
    }
    this.readChunk = d;
    this.sink.batch(this.parseRead);
    this.readChunk = EMPTY;
  }

  private parse(buf: Buffer): void {
    if (this.headPart !== null) {
      // A frame header split across reads (rare): parse this read from a joined copy.
      buf = Buffer.concat([this.headPart, buf]);
      this.headPart = null;
    }
    let pos = 0;
    const len = buf.length;
    while (pos < len && this.state !== State.Closed) {
      if (this.remaining < 0) {
        pos = this.readHead(buf, pos);
        if (pos < 0) return;
        if (this.remaining === 0) {
          this.remaining = -1;
          this.frameDone(EMPTY, true);
        }
        continue;
      }
      const avail = len - pos;
      const rem = this.remaining;
      if (avail >= rem && this.frameBuf === null && this.controlParts === null) {
        // The whole payload is in this read: a view, no copy.
        const payload = buf.subarray(pos, pos + rem);
        pos += rem;
        this.remaining = -1;
        this.frameDone(payload, false);
        continue;
      }
      // The payload spans reads: keep what this read has of it (the read buffer is reused).
      const take = avail < rem ? avail : rem;
      if (this.opcode >= Opcode.Close) {
        (this.controlParts ??= []).push(Buffer.from(buf.subarray(pos, pos + take)));
      } else {
        const into = this.frameRoom(take);
        buf.copy(into, this.frameFill, pos, pos + take);
        this.frameFill += take;
      }
      pos += take;
      this.remaining = rem - take;
      if (this.remaining === 0) {
        this.remaining = -1;
        if (this.opcode >= Opcode.Close) {
          const payload = Buffer.concat(this.controlParts!);
          this.controlParts = null;
          this.frameDone(payload, true);
        } else {
          const payload = this.frameBuf!.subarray(0, this.frameFill);
          this.frameBuf = null;
          this.frameDone(payload, true);
        }
      }
    }
  }

  /**
   * The gathering buffer of the frame being read, with room for `n` more bytes. A frame up to
   * GATHER_AT_ONCE gets its final size at once; a larger one grows as its bytes arrive, so that
   * a header alone never reserves up to max_message_size.
   */
  private frameRoom(n: number): Buffer {
    const need = this.frameFill + n;
    let b = this.frameBuf;
    if (b === null) {
      this.frameFill = 0;
      b = this.frameBuf = Buffer.allocUnsafe(Math.min(this.frameLength, Math.max(GATHER_AT_ONCE, n)));
    } else if (need > b.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.frameLength, Math.max(b.length * 2, need)));
      b.copy(grown, 0, 0, this.frameFill);
      b = this.frameBuf = grown;
    }
    return b;
  }

  /** Parse a frame header at buf[pos]; returns the position after it, or -1 (incomplete/failed). */
  private readHead(buf: Buffer, pos: number): number {
    const avail = buf.length - pos;
    if (avail < 2) return this.keepHead(buf, pos);
    const b0 = buf[pos]!;
    const b1 = buf[pos + 1]!;
    let n = b1 & 0x7f;
    let p = pos + 2;
    if (n === 126) {
      if (avail < 4) return this.keepHead(buf, pos);
      n = buf.readUInt16BE(p);
      p += 2;
    } else if (n === 127) {
      if (avail < 10) return this.keepHead(buf, pos);
      const hi = buf.readUInt32BE(p);
      if (hi > 0x1fffff) return this.fail(1009, 'frame too big');
      n = hi * 0x1_0000_0000 + buf.readUInt32BE(p + 4);
      p += 8;
    }
    if (b1 & 0x80) return this.fail(1002, 'the upstream sent a masked frame');
    const opcode = b0 & 0x0f;
    // RSV1 marks a compressed message, on its first frame only (RFC 7692 6).
    const rsv1 = (b0 & 0x40) !== 0 && this.deflate && (opcode === Opcode.Text || opcode === Opcode.Binary);
    if (b0 & (rsv1 ? 0x30 : 0x70)) return this.fail(1002, 'the upstream set RSV bits the negotiated extensions do not use');
    const fin = (b0 & 0x80) !== 0;
    if (opcode >= Opcode.Close) {
      if (opcode > Opcode.Pong) return this.fail(1002, 'the upstream sent an unknown control opcode');
      if (!fin || n > 125) return this.fail(1002, 'the upstream sent a fragmented or long control frame');
    } else if (opcode === Opcode.Continuation) {
      if (this.messageOpcode === 0) return this.fail(1002, 'the upstream sent a continuation with no message to continue');
      if (this.partsBytes + n > this.max) return this.fail(1009, 'message too big');
    } else if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      if (this.messageOpcode !== 0) return this.fail(1002, 'the upstream started a message inside a fragmented one');
      if (n > this.max) return this.fail(1009, 'message too big');
      this.messageOpcode = opcode;
      this.compressed = rsv1;
    } else {
      return this.fail(1002, 'the upstream sent an unknown data opcode');
    }
    this.opcode = opcode;
    this.fin = fin;
    this.remaining = n;
    this.frameLength = n;
    return p;
  }

  private keepHead(buf: Buffer, pos: number): number {
    this.headPart = Buffer.from(buf.subarray(pos));
    return -1;
  }

  /** A frame is complete; `owned` when `payload` is not a view of the read buffer. */
  private frameDone(payload: Buffer, owned: boolean): void {
    const op = this.opcode;
    if (op >= Opcode.Close) {
      this.control(op, payload);
      return;
    }
    if (!this.fin) {
      if (payload.length > 0) {
        (this.parts ??= []).push(owned ? payload : Buffer.from(payload));
        this.partsBytes += payload.length;
      }
      return;
    }
    let message: Buffer;
    const parts = this.parts;
    if (parts === null) message = payload;
    else {
      if (payload.length > 0) parts.push(payload);
      message = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      this.parts = null;
      this.partsBytes = 0;
    }
    const binary = this.messageOpcode === Opcode.Binary;
    this.messageOpcode = 0;
    if (this.compressed) {
      this.compressed = false;
      let inflated: Buffer | null;
      try {
        inflated = inflateMessage(message, this.max);
      } catch {
        this.fail(1007, 'the upstream sent a compressed message that does not inflate');
        return;
      }
      if (inflated === null) {
        this.fail(1009, 'message too big');
        return;
      }
      message = inflated;
    }
    if (!binary && !isUtf8(message)) {
      this.fail(1007, 'the upstream sent a text message that is not UTF-8');
      return;
    }
    if (this.state === State.Open) this.sink.onMessage(message, binary);
  }

  private control(op: Opcode, payload: Buffer): void {
    if (op === Opcode.Ping) {
      if (this.state === State.Open) this.writer.frame(Opcode.Pong, payload);
      return;
    }
    if (op === Opcode.Pong) return;
    // Close.
    let code = 1005;
    let reason: Buffer = EMPTY;
    if (payload.length === 1) {
      this.fail(1002, 'the upstream sent a close frame of one byte');
      return;
    }
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      reason = payload.subarray(2);
      if (!isSendableCode(code)) {
        this.fail(1002, `the upstream sent close code ${code}`);
        return;
      }
      if (!isUtf8(reason)) {
        this.fail(1007, 'the upstream sent a close reason that is not UTF-8');
        return;
      }
    }
    if (this.state === State.Open) {
      // Echo it, then wait for the server's FIN (see the top of this file).
      this.writer.frame(Opcode.Close, payload.length >= 2 ? payload.subarray(0, 2) : EMPTY);
      this.writer.flush();
      this.state = State.Closing;
      this.deadline = clock.now + FIN_TIMEOUT;
      this.sink.onClose(code, Buffer.from(reason));
      return;
    }
    // The answer to our own close: the handshake is done; the server closes TCP ('end': lost()).
    this.deadline = clock.now + FIN_TIMEOUT;
  }

  /** The upstream broke the protocol (or a limit): tell it why, tell the client, and stop. */
  private fail(code: number, reason: string): number {
    if (this.state === State.Closed) return -1;
    const wasOpen = this.state === State.Open;
    if (wasOpen) {
      this.writer.frame(Opcode.Close, closePayload(code, reason));
      this.writer.flush();
    }
    this.state = State.Closed;
    this.finish();
    if (wasOpen) this.sink.onClose(code, reason);
    return -1;
  }

  /** The socket ended, failed or closed. */
  private lost(): void {
    if (this.state === State.Closed) return;
    const wasOpen = this.state === State.Open;
    this.state = State.Closed;
    this.finish();
    if (wasOpen) this.sink.onClose(1006, '');
  }

  onDeadline(): void {
    if (this.state === State.Open) {
      if (!this.pinged) {
        this.pinged = true;
        this.writer.frame(Opcode.Ping, PING);
        this.deadline = clock.now + this.idle;
        return;
      }
      this.fail(1011, 'the upstream did not answer pings');
      return;
    }
    // A closing handshake that did not complete in time.
    this.state = State.Closed;
    this.finish();
  }

  private finish(): void {
    this.deadline = 0;
    legs.delete(this);
    this.parts = null;
    this.controlParts = null;
    this.frameBuf = null;
    this.headPart = null;
    const s = this.socket;
    if (!s.destroyed) {
      this.writer.flush();
      // Let queued frames (our close) go out, then close; a peer that does not read is cut.
      if (s.writableLength === 0) s.destroy();
      else {
        s.end();
        setTimeout(() => s.destroy(), 1000).unref();
      }
    }
  }
}
