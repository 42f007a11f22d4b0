// The WebSocket pieces that are pure functions: the accept key, the client handshake check and
// close payloads, and the permessage-deflate pieces of the upstream hop.
import t from 'tap';
import { acceptFor, clientHandshake } from '../src/websocket/handshake.js';
import { closePayload, isSendableCode } from '../src/websocket/frame.js';
import { acceptDeflate, deflateMessage, inflateMessage } from '../src/websocket/deflate.js';

const base = ['host', 'x', 'upgrade', 'websocket', 'connection', 'Upgrade', 'sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version', '13'];

t.test('Sec-WebSocket-Accept of the RFC 6455 example', async (t) => {
  t.equal(acceptFor('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

t.test('a valid handshake, with every protocol and the extensions kept', async (t) => {
  const h = clientHandshake('GET', [...base, 'sec-websocket-protocol', 'a, b', 'sec-websocket-protocol', 'c', 'sec-websocket-extensions', 'permessage-deflate']);
  t.same(h, { key: 'dGhlIHNhbXBsZSBub25jZQ==', protocols: ['a', 'b', 'c'], extensions: 'permessage-deflate' });
  t.ok(clientHandshake('GET', base.map((v, i) => (i === 5 ? 'keep-alive, Upgrade' : i === 3 ? 'WebSocket' : v))), 'tokens in lists, any case');
});

t.test('anything else is not a WebSocket handshake (and goes down the plain HTTP path)', async (t) => {
  const without = (name: string): string[] => {
    const out: string[] = [];
    for (let i = 0; i < base.length; i += 2) if (base[i] !== name) out.push(base[i]!, base[i + 1]!);
    return out;
  };
  const replace = (name: string, value: string): string[] => base.map((v, i) => (i % 2 === 1 && base[i - 1] === name ? value : v));
  t.equal(clientHandshake('POST', base), null, 'not a GET');
  t.equal(clientHandshake('GET', replace('upgrade', 'h2c')), null, 'Upgrade: h2c');
  t.equal(clientHandshake('GET', without('connection')), null, 'no Connection: upgrade');
  t.equal(clientHandshake('GET', without('sec-websocket-key')), null, 'no key');
  t.equal(clientHandshake('GET', replace('sec-websocket-key', 'short')), null, 'a key that is not 16 bytes of base64');
  t.equal(clientHandshake('GET', replace('sec-websocket-version', '8')), null, 'version 8');
  t.equal(clientHandshake('GET', [...base, 'sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ==']), null, 'two keys');
});

t.test('close payloads: code, reason cut to 123 bytes on a character boundary, reserved codes never sent', async (t) => {
  t.same([...closePayload(4001, 'ok')], [0x0f, 0xa1, 0x6f, 0x6b]);
  const long = closePayload(1000, 'é'.repeat(100));
  t.ok(long.length <= 125 && Buffer.from(long.subarray(2)).toString() === 'é'.repeat(61), 'cut between characters');
  t.equal(closePayload(1005, 'x').length, 0, '1005 means no status: empty payload');
  t.equal(closePayload(1006, 'x').length, 0, '1006 is never sent');
  t.notOk(isSendableCode(1004));
  t.notOk(isSendableCode(1015));
  t.ok(isSendableCode(4999));
  t.notOk(isSendableCode(5000));
});

t.test('acceptDeflate: the upstream answer to the proxy\'s permessage-deflate offer', async (t) => {
  t.equal(acceptDeflate(''), false, 'no answer: declined, messages go uncompressed');
  t.equal(acceptDeflate('permessage-deflate; server_no_context_takeover'), true);
  t.equal(acceptDeflate('permessage-deflate; server_no_context_takeover; client_no_context_takeover'), true);
  t.equal(acceptDeflate('Permessage-Deflate;Server_No_Context_Takeover; server_max_window_bits="10"'), true, 'names in any case, a quoted window size');
  t.match(acceptDeflate('permessage-deflate'), /without server_no_context_takeover/, 'server context takeover was not offered');
  t.match(acceptDeflate('permessage-deflate; server_no_context_takeover; client_max_window_bits=10'), /not offered \(client_max_window_bits\)/);
  t.match(acceptDeflate('permessage-deflate; server_no_context_takeover; server_max_window_bits=16'), /server_max_window_bits=16/);
  t.match(acceptDeflate('permessage-deflate; server_no_context_takeover; server_no_context_takeover'), /repeats/);
  t.match(acceptDeflate('permessage-deflate; server_no_context_takeover, permessage-deflate'), /more than one/);
  t.match(acceptDeflate('x-webkit-deflate-frame'), /not offered/);
});

t.test('deflateMessage and inflateMessage: a round trip, the sync-flush tail dropped, and the size bound', async (t) => {
  const text = Buffer.from('round trip '.repeat(1000));
  const z = deflateMessage(text);
  t.not(z.subarray(-4).toString('hex'), '0000ffff', 'the empty stored block is stripped');
  t.same(inflateMessage(z, 1 << 20), text);
  t.equal(inflateMessage(z, 100), null, 'past the bound: null (the caller closes with 1009)');
  t.throws(() => inflateMessage(Buffer.from('not deflate at all'), 1 << 20), 'data that is not deflate throws');
});
