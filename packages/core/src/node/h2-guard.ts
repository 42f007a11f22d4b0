/**
 * The premature-reset guard of an HTTP/2 connection: the answer to the rapid-reset attack
 * (CVE-2023-44487), where a client opens streams and resets them at once, so that the proxy keeps
 * starting upstream requests that nobody waits for, never exceeding the concurrent-stream limit.
 *
 * The rule is Envoy's (1.27.1 and later, `overload.premature_reset_*`): a stream the client resets
 * within `minStreamLifetime` of opening it, or one so malformed that it is reset at once, is a
 * premature reset. Once `totalStreams` streams have closed on a connection, it is cut when more
 * than half of them were premature; before that, as soon as the premature ones reach half of
 * `totalStreams`. A browser cancelling a page's worth of images stays far below either line; a
 * rapid-reset client reaches the second within a fraction of a second. The connection gets
 * GOAWAY(ENHANCE_YOUR_CALM) and is closed; every other connection carries on.
 *
 * Other floods are node:http2's (nghttp2's) to answer, with their defaults: RST_STREAM beyond a
 * token bucket (1000 burst, 33/s), CONTINUATION frames past a bound (nghttp2 1.61, CVE-2024-28182),
 * SETTINGS and PING frames whose acknowledgements pile up (nghttp2's outbound queue limit),
 * invalid frames (`maxSessionInvalidFrames`, 1000), and streams over the concurrent limit
 * (refused; `maxSessionRejectedStreams`, 100, closes the session).
 */
import { constants, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { resetByUsOf } from './h2-reset.js';

export interface PrematureResetLimits {
  /** A client reset within this long of the stream's opening is premature (ms). */
  minStreamLifetime: number;
  /** Closed streams after which the ratio rule applies (Envoy: 500). */
  totalStreams: number;
}

export const prematureResetDefaults: PrematureResetLimits = { minStreamLifetime: 1000, totalStreams: 500 };

/** One connection's count of closed streams and premature resets. */
export class ResetGuard {
  private streams = 0;
  private premature = 0;
  private cut = false;

  constructor(
    private readonly session: ServerHttp2Session,
    private readonly limits: PrematureResetLimits,
    private readonly remoteAddress: string,
    private readonly onAbuse: ((remoteAddress: string, reason: string) => void) | undefined,
  ) {}

  /** A stream opened at `opened` (performance.now()) closed. */
  closed(stream: ServerHttp2Stream, opened: number): void {
    // Streams closed because the connection went (the client disconnected, GOAWAY, an error) were
    // not reset by the client one by one: only a live connection's resets count.
    if (this.cut || this.session.destroyed || this.session.closed) return;
    this.streams++;
    const code = stream.rstCode;
    // A reset of ours is the client's doing only when its request was malformed.
    if (resetByUsOf(stream) ? code !== constants.NGHTTP2_PROTOCOL_ERROR : code === undefined || code === constants.NGHTTP2_NO_ERROR || performance.now() - opened >= this.limits.minStreamLifetime) return;
    this.premature++;
    const limit = this.limits.totalStreams;
    if (this.streams < limit ? this.premature * 2 < limit : this.premature * 2 <= this.streams) return;
    this.cut = true;
    const reason = `${this.premature} of ${this.streams} streams reset prematurely (rapid reset)`;
    const session = this.session;
    if (!session.destroyed) {
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
    }
    this.onAbuse?.(this.remoteAddress, reason);
  }
}
