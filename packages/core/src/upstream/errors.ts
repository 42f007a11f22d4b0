/** Why an upstream exchange failed, mapped to the status the client gets (nginx's choices). */
export const enum FailureKind {
  /** Could not connect (refused, unreachable, DNS, TLS handshake): 502. */
  Connect = 0,
  /** Connecting took longer than connect_timeout: 504. */
  ConnectTimeout = 1,
  /** The socket closed or reset before the response head: 502 (retried when safe). */
  Reset = 2,
  /** No response head, or no body bytes, within read_timeout: 504. */
  ReadTimeout = 3,
  /** The response could not be parsed: 502. */
  Protocol = 4,
  /** Waited longer than connect_timeout for a free connection: 503. */
  QueueTimeout = 5,
  /** The request body could not be written within send_timeout: 504. */
  SendTimeout = 6,
  /** The TLS handshake with the upstream failed (certificate, protocol): 502. */
  Tls = 7,
  /** No server of the upstream may be used (down, failing health checks, ejected): 503. */
  NoServer = 8,
}

/** How many FailureKind values there are (the size of per-kind counters). */
export const FAILURE_KINDS = 9;

export class UpstreamError extends Error {
  readonly kind: FailureKind;
  constructor(kind: FailureKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

export function statusFor(kind: FailureKind): number {
  switch (kind) {
    case FailureKind.ConnectTimeout:
    case FailureKind.ReadTimeout:
    case FailureKind.SendTimeout:
      return 504;
    case FailureKind.QueueTimeout:
    case FailureKind.NoServer:
      return 503;
    default:
      return 502;
  }
}
