/**
 * One socket to one upstream server, as a small state machine:
 *
 *   Connecting ──connect──> Idle <──release── Busy
 *        │                   │ ──dispatch──>  │
 *        └───────── error / close / timeout ──┴──> Closed
 *
 * It writes requests, feeds the response parser, and routes parsed events to the request at the
 * head of its in-flight queue (several when pipelining). It never decides what a failure means
 * for a request; it tells each request what happened and the pool what became of the socket.
 */
import net from 'node:net';
import tls from 'node:tls';
import { clock, type Timed } from '../clock.js';
import { sharedRead } from './read-buffer.js';
import type { RequestWire } from '../http1/request-writer.js';
import { ParseError, ResponseParser, type ResponseHead, type ResponseSink } from '../http1/response-parser.js';
import { describeTlsError } from './tls-error.js';
import { FailureKind, UpstreamError } from './errors.js';

export const enum ConnState {
  Connecting,
  Idle,
  Busy,
  Closed,
}

/** What a connection needs from a request it carries (implemented by the proxy's exchange). */
export interface Carried {
  /** HEAD: the response has no body whatever its headers say. */
  readonly noBody: boolean;
  /** The connection is ready: write the request now (head, then any body). */
  onWritable(conn: Connection): void;
  onHead(head: ResponseHead, conn: Connection): void;
  onBody(chunk: Buffer): void;
  onComplete(): void;
  /** One socket read has been fully parsed (a response head held back may go out now). */
  onReadEnd(): void;
  /** The connection failed while carrying this request (null: it never got one). */
  onFailure(err: UpstreamError, conn: Connection | null): void;
}

export interface ConnectionOwner {
  readonly readTimeout: number;
  /** Longest a backed-up request body may wait for the socket to drain. */
  readonly sendTimeout: number;
  /** A response completed and the socket may be reused. */
  released(conn: Connection): void;
  /** The connection is gone (error, close, timeout, retired). */
  closed(conn: Connection): void;
  /** The socket connected. */
  connected(conn: Connection): void;
}

export interface ConnectOptions {
  host: string;
  port: number;
  connectTimeout: number;
  tls?: tls.ConnectionOptions;
}

/**
 * Writes made during one event-loop turn go out in one syscall per socket: the socket is corked
 * at its first write of the turn and uncorked when the turn's I/O is done (setImmediate runs right
 * after the poll phase that delivered the requests). With pipelining this turns N requests into
 * one writev; measured in benchmarks/ (docs/benchmarks.md).
 */
const corked: Connection[] = [];
let flushScheduled = false;

function uncorkAll(): void {
  flushScheduled = false;
  for (let i = 0; i < corked.length; i++) {
    const c = corked[i]!;
    c.corked = false;
    c.socket.uncork();
  }
  corked.length = 0;
}

export class Connection implements ResponseSink, RequestWire, Timed {
  state = ConnState.Connecting;
  readonly socket: net.Socket;
  /** Requests written (or about to be) and not yet answered, oldest first. */
  readonly inflight: Carried[] = [];
  /** Requests this socket has completed. */
  served = 0;
  deadline = 0;
  /** When the socket last went idle (coarse clock). */
  idleSince = 0;
  /** Idle deadline announced by the server (`Keep-Alive: timeout`), -1 when none. */
  serverIdleTimeout = -1;
  /** The server said this response is the last one on this socket. */
  private lastResponse = false;
  /** When connecting began (performance.now()), for the connect-time histogram. */
  readonly startedAt = performance.now();
  /** The socket connected (and finished its TLS handshake) at some point. */
  connected = false;
  private readonly parser: ResponseParser;
  private readonly owner: ConnectionOwner;

  constructor(owner: ConnectionOwner, opts: ConnectOptions) {
    this.owner = owner;
    this.parser = new ResponseParser(this);
    // Reads land in the thread's shared buffer (read-buffer.ts): no 'data' events on this socket.
    const onread = sharedRead((d) => this.onRead(d));
    // For plain TCP, noDelay as an option sets TCP_NODELAY once, after connecting; setNoDelay()
    // before the connect has libuv set it on the new socket and Node again once connected.
    let socket: net.Socket;
    if (opts.tls) {
      // tls.connect takes onread too (Node's docs), though @types/node leaves it out.
      const tlsOpts: tls.ConnectionOptions & { onread: net.OnReadOpts } = { host: opts.host, port: opts.port, ...opts.tls, onread };
      socket = tls.connect(tlsOpts);
      socket.setNoDelay(true);
    } else {
      socket = net.connect({ host: opts.host, port: opts.port, noDelay: true, onread });
    }
    this.socket = socket;
    this.deadline = clock.now + opts.connectTimeout;
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => this.onConnect());
    socket.on('end', () => this.onEnd());
    socket.on('error', (e: Error) => this.onError(e));
    socket.on('close', () => this.onClose());
  }

  private onConnect(): void {
    if (this.state !== ConnState.Connecting) return;
    this.state = ConnState.Idle;
    this.connected = true;
    this.deadline = 0;
    this.owner.connected(this);
  }

  /** Put a request on this socket. The request writes itself in onWritable. */
  carry(req: Carried): void {
    this.inflight.push(req);
    if (this.state === ConnState.Connecting) return;
    if (this.inflight.length === 1) {
      this.state = ConnState.Busy;
      this.parser.expect(req.noBody);
      this.deadline = clock.now + this.owner.readTimeout;
    }
    req.onWritable(this);
  }

  /** Connected: write the requests that waited for it. */
  startQueued(): void {
    if (this.inflight.length === 0) return;
    this.state = ConnState.Busy;
    this.parser.expect(this.inflight[0]!.noBody);
    this.deadline = clock.now + this.owner.readTimeout;
    for (const r of this.inflight.slice()) {
      if ((this.state as ConnState) === ConnState.Closed) return;
      r.onWritable(this);
    }
  }

  /** Corked until the end of this event-loop turn (see uncorkAll). */
  corked = false;

  write(data: string | Buffer, encoding?: BufferEncoding): boolean {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      corked.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(uncorkAll);
      }
    }
    return encoding ? this.socket.write(data, encoding) : this.socket.write(data);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  /** Node's writable buffer is over its mark: further body writes should wait for awaitDrain. */
  get backedUp(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** Set while a request body waits for the socket to drain: send_timeout runs, not read_timeout. */
  private drained: (() => void) | null = null;
  private drainListening = false;
  private readonly onDrain = (): void => {
    this.drainListening = false;
    const resume = this.drained;
    if (resume === null) return;
    this.drained = null;
    if (this.state === ConnState.Busy) this.deadline = clock.now + this.owner.readTimeout;
    resume();
  };

  /**
   * The request body is backed up: call `resume` once the socket drains. Until then the deadline
   * is send_timeout (nginx `proxy_send_timeout`): an upstream that stops taking the body fails the
   * request with 504 and its socket is closed.
   */
  awaitDrain(resume: () => void): void {
    this.drained = resume;
    this.deadline = clock.now + this.owner.sendTimeout;
    if (!this.drainListening) {
      this.drainListening = true;
      this.socket.once('drain', this.onDrain);
    }
  }

  /** The request at the head of the queue stopped reading (client backpressure). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Refresh the read deadline while a request is still being sent (sending is progress). */
  touch(): void {
    if (this.state === ConnState.Busy && this.drained === null) this.deadline = clock.now + this.owner.readTimeout;
  }

  /** Whether this socket has ever answered: a reused socket can be stale. */
  get reused(): boolean {
    return this.served > 0;
  }

  /** Where reads go once detach() handed the socket on; null while it is an HTTP connection. */
  private reader: ((data: Buffer) => void) | null = null;

  private onRead(data: Buffer): void {
    if (this.reader !== null) this.reader(data);
    else if (this.state !== ConnState.Closed) this.onData(data);
    else this.socket.destroy();
  }

  private onData(data: Buffer): void {
    if (this.state !== ConnState.Busy) {
      // Bytes on an idle socket are never a response to anything: the socket is unusable.
      this.destroy(new UpstreamError(FailureKind.Protocol, 'unexpected bytes on an idle upstream socket'));
      return;
    }
    this.deadline = clock.now + this.owner.readTimeout;
    try {
      this.parser.push(data);
      const head = this.inflight[0];
      if (head !== undefined) head.onReadEnd();
    } catch (e) {
      const err =
        e instanceof ParseError
          ? new UpstreamError(FailureKind.Protocol, `invalid upstream response: ${e.message}`)
          : new UpstreamError(FailureKind.Protocol, `upstream response handling failed: ${(e as Error).message}`, { cause: e });
      this.destroy(err);
    }
  }

  onHead(head: ResponseHead): void {
    if (!head.keepAlive) this.lastResponse = true;
    if (head.keepAliveTimeout >= 0) this.serverIdleTimeout = head.keepAliveTimeout;
    this.inflight[0]!.onHead(head, this);
  }

  onBody(chunk: Buffer): void {
    this.inflight[0]!.onBody(chunk);
  }

  onComplete(rest: Buffer | null): void {
    if (this.handover !== null) {
      // A 101 ended the HTTP part: the bytes after its head belong to the new protocol.
      const take = this.handover;
      this.handover = null;
      take(rest);
      return;
    }
    const req = this.inflight.shift()!;
    this.served++;
    this.drained = null;
    req.onComplete();
    if ((this.state as ConnState) === ConnState.Closed) return;
    if (this.lastResponse) {
      this.retire();
      return;
    }
    const next = this.inflight[0];
    if (next !== undefined) {
      // Pipelined: the next response follows on the same bytes.
      this.parser.expect(next.noBody);
      this.deadline = clock.now + this.owner.readTimeout;
      if (rest !== null) this.onData(rest);
      return;
    }
    if (rest !== null) {
      this.destroy(new UpstreamError(FailureKind.Protocol, 'upstream sent bytes after a complete response'));
      return;
    }
    this.state = ConnState.Idle;
    this.deadline = 0;
    this.owner.released(this);
  }

  /** The timer sweep found an expired deadline. */
  onDeadline(): void {
    switch (this.state) {
      case ConnState.Connecting:
        this.destroy(new UpstreamError(FailureKind.ConnectTimeout, 'timed out connecting to upstream'));
        break;
      case ConnState.Busy:
        if (this.drained !== null) this.destroy(new UpstreamError(FailureKind.SendTimeout, 'upstream took no request body bytes within send_timeout'));
        else this.destroy(new UpstreamError(FailureKind.ReadTimeout, 'upstream timed out'));
        break;
      case ConnState.Idle:
        this.retire();
        break;
    }
  }

  private onEnd(): void {
    // A close-delimited body ends cleanly with the server's FIN; anything else in flight failed.
    if (this.state === ConnState.Busy && this.parser.finish()) {
      this.retire();
      return;
    }
    this.destroy(new UpstreamError(FailureKind.Reset, 'upstream closed the connection'));
  }

  private onError(e: Error): void {
    const tlsReason = this.socket instanceof tls.TLSSocket ? describeTlsError(e) : null;
    const kind = this.state !== ConnState.Connecting ? FailureKind.Reset : tlsReason !== null ? FailureKind.Tls : FailureKind.Connect;
    this.destroy(new UpstreamError(kind, tlsReason ?? `upstream ${this.state === ConnState.Connecting ? 'connect' : 'socket'} error: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { cause: e }));
  }

  private onClose(): void {
    if (this.state !== ConnState.Closed) {
      this.destroy(new UpstreamError(FailureKind.Reset, 'upstream closed the connection'));
    }
  }

  /** Set by detach(): receives the bytes that followed the 101 head in the same read. */
  private handover: ((rest: Buffer | null) => void) | null = null;

  /**
   * Hand the socket over to a new owner after a 101 (a WebSocket): called from the carried
   * request's onHead. The connection stops listening, leaves its pool (it no longer counts as an
   * upstream HTTP connection) and passes on the bytes read after the head through `take`, still
   * within the current read. The socket is never destroyed by this connection afterwards.
   *
   * The socket still reads into the shared buffer, so it emits no 'data': the new owner gets its
   * bytes by calling `listen` (see read-buffer.ts for how long they are valid). A read that comes
   * before anyone listens has no reader, and the socket is destroyed rather than lose bytes.
   */
  detach(take: (rest: Buffer | null) => void): net.Socket {
    const socket = this.socket;
    socket.removeAllListeners('end');
    socket.removeAllListeners('error');
    socket.removeAllListeners('close');
    this.state = ConnState.Closed;
    this.deadline = 0;
    this.inflight.length = 0;
    this.handover = take;
    this.owner.closed(this);
    return socket;
  }

  /** After detach(): where the socket's bytes go from now on. */
  listen(reader: (data: Buffer) => void): void {
    this.reader = reader;
  }

  /** Close a healthy idle socket (idle timeout, too many idle, request limit). */
  retire(): void {
    this.destroy(null);
  }

  /** Tear down; every request still on this socket learns why. */
  destroy(err: UpstreamError | null): void {
    if (this.state === ConnState.Closed) return;
    this.state = ConnState.Closed;
    this.deadline = 0;
    this.drained = null;
    this.socket.destroy();
    this.owner.closed(this);
    if (this.inflight.length > 0) {
      const reason = err ?? new UpstreamError(FailureKind.Reset, 'upstream connection closed');
      const victims = this.inflight.splice(0);
      for (const r of victims) r.onFailure(reason, this);
    }
  }
}

