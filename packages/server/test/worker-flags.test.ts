// Which Node flags a worker is forked with: the larger young generation only for http2 listeners,
// and never over a semi-space flag the user gave.
import t from 'tap';
import { workerExecArgv } from '../src/cluster/worker-flags.js';
import type { ServerConfig } from '../src/config/index.js';

const config = (http2: boolean): ServerConfig => ({ listeners: [{ host: '127.0.0.1', port: 8443, ...(http2 ? { http2: {} } : {}) }] }) as unknown as ServerConfig;

t.test('uWS listeners only: the worker gets exactly the supervisor\'s flags', async (t) => {
  t.strictSame(workerExecArgv(config(false), ['--enable-source-maps'], ''), ['--enable-source-maps']);
});

t.test('an http2 listener: the young generation is added', async (t) => {
  t.strictSame(workerExecArgv(config(true), ['--enable-source-maps'], ''), ['--enable-source-maps', '--min-semi-space-size=16', '--max-semi-space-size=32']);
});

t.test('a semi-space flag of the user\'s wins, on the command line or in NODE_OPTIONS', async (t) => {
  t.strictSame(workerExecArgv(config(true), ['--max-semi-space-size=8'], ''), ['--max-semi-space-size=8']);
  t.strictSame(workerExecArgv(config(true), [], '--max-semi-space-size=64'), []);
});
