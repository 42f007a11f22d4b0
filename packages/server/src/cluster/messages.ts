/** Messages between the supervisor and its worker processes (over the fork IPC channel). */
import type { ServerConfig } from '../config/index.js';
import type { TlsMaterial } from '../tls/store.js';

export type ToWorker =
  /** `tls`: the certificates of each TLS listener, checked by the supervisor. */
  | { type: 'start'; config: ServerConfig; tls: TlsMaterial }
  | { type: 'stop' }
  /** Certificates were reloaded: serve new handshakes with these. */
  | { type: 'reload'; generation: number; tls: TlsMaterial };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'reloaded'; generation: number }
  | { type: 'reload-failed'; generation: number; message: string };
