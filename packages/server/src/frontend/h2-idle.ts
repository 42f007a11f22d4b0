/**
 * `idle_timeout` of HTTP/2 connections as nginx means it (`keepalive_timeout`, since 1.19.7): the
 * time a connection may stay open with no stream open, not with no frame. node:http2's
 * `session.setTimeout` counts frames, so a quiet WebSocket or a long poll would lose its
 * connection to GOAWAY while in use. Here a connection's timer runs only while it has no open
 * stream: armed when the connection starts and when its last stream closes, disarmed when a
 * stream opens. On expiry the connection gets GOAWAY(NO_ERROR) and closes.
 */
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';

interface Idle {
  session: ServerHttp2Session;
  owner: IdleConnections;
  open: number;
  timer: NodeJS.Timeout | null;
}

const idle = new WeakMap<ServerHttp2Session, Idle>();

/** A stream's connection state, kept on the stream: one shared 'close' listener, no closure per stream. */
const IDLE = Symbol('portcullis.h2.idle');
type Carrier = ServerHttp2Stream & { [IDLE]?: Idle };

function onStreamClose(this: ServerHttp2Stream): void {
  const state = (this as Carrier)[IDLE]!;
  if (--state.open === 0 && !state.session.closed && !state.session.destroyed) state.owner.arm(state);
}

export class IdleConnections {
  constructor(private readonly timeout: number) {}

  /** A new connection: idle until its first stream. */
  session(session: ServerHttp2Session): void {
    const state: Idle = { session, owner: this, open: 0, timer: null };
    idle.set(session, state);
    this.arm(state);
    session.once('close', () => {
      if (state.timer !== null) clearTimeout(state.timer);
    });
  }

  /** A stream opened on its connection: not idle until it closes. */
  stream(stream: ServerHttp2Stream): void {
    const session = stream.session as ServerHttp2Session | undefined;
    const state = session === undefined ? undefined : idle.get(session);
    if (state === undefined) return;
    state.open++;
    if (state.timer !== null) {
      clearTimeout(state.timer);
      state.timer = null;
    }
    (stream as Carrier)[IDLE] = state;
    stream.on('close', onStreamClose);
  }

  arm(state: Idle): void {
    state.timer = setTimeout(() => {
      state.timer = null;
      if (state.open === 0) state.session.close();
    }, this.timeout);
    state.timer.unref();
  }
}
