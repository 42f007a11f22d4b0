// The `websocket:` settings: defaults, every key, per-upstream overrides, and errors that name
// file, line, key and fix.
import { websocketDefaults } from '@portcullis/core';
import t from 'tap';
import { configFiles } from './fixtures/config-files.js';

const { load, message } = configFiles('config-ws');
const app = 'upstreams:\n  app:\n    servers: [127.0.0.1:9000]\n';

t.test('defaults when there is no websocket section', async (t) => {
  t.same(load(app).proxy.websocket, websocketDefaults);
  t.same(websocketDefaults, { maxMessageSize: 16 * 1024 * 1024, handshakeTimeout: 10_000, maxBuffered: 4 * 1024 * 1024, idleTimeout: 120_000, compression: 'off', upstreamCompression: false });
});

t.test('every key, sizes with units, and per-upstream overrides', async (t) => {
  const config = load(`websocket:
  max_message_size: 1MiB
  idle_timeout: 30s
  handshake_timeout: 2s
  max_buffered: 512k
  compression: shared
  upstream_compression: true
upstreams:
  app:
    servers: [127.0.0.1:9000]
    websocket: { max_message_size: 65536, handshake_timeout: 500ms, max_buffered: 1m, upstream_compression: false }
  other:
    servers: [127.0.0.1:9001]
routes: [{ upstream: app }, { path: /other, upstream: other }]
`);
  t.same(config.proxy.websocket, { maxMessageSize: 1024 * 1024, idleTimeout: 30_000, handshakeTimeout: 2_000, maxBuffered: 512 * 1024, compression: 'shared', upstreamCompression: true });
  t.same(config.proxy.upstreams[0]!.websocket, { maxMessageSize: 65536, handshakeTimeout: 500, maxBuffered: 1024 * 1024, upstreamCompression: false });
  t.notOk('websocket' in config.proxy.upstreams[1]!, 'no overrides unless set');
  t.equal(load(`websocket: { idle_timeout: off }\n${app}`).proxy.websocket!.idleTimeout, 0, 'off disables pings and the idle timeout');
});

t.test('bad values name file, line, key and fix', async (t) => {
  t.equal(
    message(`websocket:\n  max_message_size: lots\n${app}`),
    'portcullis.yaml:2:21: websocket.max_message_size: expected a size, got "lots". Fix: write a size such as "16MiB" (units B, KiB, MiB, GiB, or k, m, g; powers of 1024) or a number of bytes.',
  );
  t.match(message(`websocket: { max_buffered: 4MB }\n${app}`), /websocket\.max_buffered: "4MB" is ambiguous \(1000 or 1024\?\)\. Fix: write 4MiB/);
  t.match(message(`websocket: { compression: gzip }\n${app}`), /websocket\.compression: expected one of .*off.*shared.*dedicated.*, got "gzip"/);
  t.match(message(`websocket: { upstream_compression: gzip }\n${app}`), /websocket\.upstream_compression: .*Fix: write true to offer permessage-deflate/);
  t.match(message(`websocket: { idle_timeout: 2s }\n${app}`), /websocket\.idle_timeout: "2s" is outside 8s to 16m/);
  t.match(message(`websocket: { max_mesage_size: 10 }\n${app}`), /websocket\.max_mesage_size: unknown key \(did you mean "max_message_size"\?\)/);
  t.match(message(`${app}    websocket: { compression: shared }\n`), /upstreams\.app\.websocket\.compression: unknown key.*allowed here are .*max_message_size/);
  t.match(message(`websocket: { max_message_size: 2GiB }\n${app}`), /more than 1GiB/);
});
