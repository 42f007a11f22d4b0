// The shared benchmark runner: peers (start/stop), the origin, load (autocannon), alternating
// rounds, tables and result files. One file per benchmark (keepalive.ts, ...) composes these.
export * from './peers.js';
export * from './http-peers.js';
export * from './origin.js';
export * from './nginx.js';
export * from './load.js';
export * from './rounds.js';
export * from './report.js';
export * from './options.js';
export * from './net.js';
export * from './processes.js';
export * from './tools.js';
export * from './cpu.js';
export * from './wrk-run.js';
