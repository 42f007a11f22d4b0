/** Messages between the supervisor and its worker processes (over the fork IPC channel). */
import type { ServerConfig } from '../config/index.js';

export type ToWorker = { type: 'start'; config: ServerConfig } | { type: 'stop' };
export type FromWorker = { type: 'ready' } | { type: 'failed'; message: string };
