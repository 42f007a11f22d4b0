/**
 * Node flags of the worker processes. A worker serving an `http2` listener gets a larger young
 * generation (V8's semi-space, `--min-semi-space-size=16 --max-semi-space-size=32`, in MiB).
 *
 * Why: node:http2 and the adapter allocate several short-lived objects per stream (Node's header
 * objects, streams, the response block), and with 64 streams in flight V8's default young
 * generation, which starts at 1 MiB, is scavenged so often that requests still in flight survive
 * and get promoted. Measured with callgrind (docs/benchmarks.md, "HTTP/2"): garbage collection fell
 * from 22,500 to 1,700 instructions per request, and the whole request from 194,000 to 162,000.
 * The uWS frontend allocates little per request and gained nothing (52k vs 55k instructions), so
 * its workers keep V8's default. The cost is memory: up to 3 x 32 MiB of young generation per
 * worker. A flag the user set (on the command line or in NODE_OPTIONS) wins.
 */
import type { ServerConfig } from '../config/index.js';

const YOUNG_GENERATION = ['--min-semi-space-size=16', '--max-semi-space-size=32'];

export function workerExecArgv(config: ServerConfig, execArgv: readonly string[] = process.execArgv, nodeOptions = process.env['NODE_OPTIONS'] ?? ''): string[] {
  const own = [...execArgv];
  if (!config.listeners.some((l) => l.http2)) return own;
  if (own.some((a) => a.includes('semi-space')) || nodeOptions.includes('semi-space')) return own;
  return [...own, ...YOUNG_GENERATION];
}
