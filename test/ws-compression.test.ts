/**
 * permessage-deflate on the upstream hop (`upstream_compression`), through the CLI's relay: the
 * proxy offers it without context takeover, compresses what it sends past a small size, inflates
 * what the upstream compressed (bounded by max_message_size), and refuses a 101 that accepts it
 * on terms the proxy did not offer. Off by default: the upstream then sees no offer at all.
 */
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import t from 'tap';
import { cliWs, connect, rawWebSocket, startWsOrigin } from './lib/ws.js';
import { waitFor } from './lib/util.js';

const T = { timeout: 30_000 };
const OFFER = 'permessage-deflate; client_no_context_takeover; server_no_context_takeover';
const ACCEPTED = 'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n';

/** A compressed text frame from the server: deflate with a sync flush, without its 4-byte tail, RSV1 set. */
function compressedText(text: string): Buffer {
  const z = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  const p = z.subarray(0, z.length - 4);
  const head = p.length < 126 ? Buffer.from([0xc1, p.length]) : Buffer.from([0xc1, 126, p.length >> 8, p.length & 0xff]);
  return Buffer.concat([head, p]);
}

const inflate = (p: Buffer): Buffer =>
  zlib.inflateRawSync(Buffer.concat([p, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });

t.test('upstream_compression: the upstream gets the offer, and messages of every kind pass both ways through a compressing upstream', T, async (t) => {
  const origin = await startWsOrigin(t, {}, { deflate: true });
  const proxy = await cliWs.start(t, { servers: [origin.port], websocket: { upstream_compression: 'true' } });
  // The client offers permessage-deflate of its own: the upstream must see the proxy's offer instead.
  const c = connect(proxy.port, '/echo', { perMessageDeflate: true });
  await c.opened;
  const offer = origin.upgrades[0]!.headers.filter(([n]) => n.toLowerCase() === 'sec-websocket-extensions').map(([, v]) => v);
  t.same(offer, [OFFER], 'the upstream handshake carries the proxy\'s offer, not the client\'s');
  const messages: Array<[string | Buffer, string]> = [
    ['hi', 'a short text (sent uncompressed)'],
    ['héllo wörld '.repeat(20_000), 'a 260 KB UTF-8 text'],
    [randomBytes(300 * 1024), '300 KiB of random bytes (incompressible)'],
    [Buffer.alloc(1024 * 1024, 0x61), '1 MiB of one byte'],
  ];
  for (const [m, what] of messages) {
    c.ws.send(m, { binary: typeof m !== 'string' });
    const got = await c.next();
    t.ok(typeof m === 'string' ? !got.binary && got.data.toString() === m : got.binary && Buffer.compare(got.data, m) === 0, `${what} comes back intact`);
  }
  c.ws.close(1000);
  await c.closed;
});

t.test('on the wire: the proxy compresses past 256 bytes (RSV1), sends short messages plain, and inflates what the upstream compressed', T, async (t) => {
  const long = 'x'.repeat(4096);
  const reply = 'compress me '.repeat(5000);
  let seen: Array<{ rsv1: boolean; payload: Buffer }> = [];
  const origin = await startWsOrigin(t, {
    record: rawWebSocket((io) => {
      io.socket.on('data', () => {
        seen = io.frames.map((f) => ({ rsv1: f.rsv1, payload: f.payload }));
        if (seen.length === 2) io.write(compressedText(reply));
      });
    }, ACCEPTED),
  });
  const proxy = await cliWs.start(t, { servers: [origin.port], websocket: { upstream_compression: 'true' } });
  const c = connect(proxy.port, '/raw/record');
  await c.opened;
  c.ws.send('short');
  c.ws.send(long);
  t.equal((await c.next()).data.toString(), reply, 'the upstream\'s compressed message reaches the client inflated');
  t.equal(seen[0]!.rsv1, false, 'a 5-byte message goes uncompressed');
  t.equal(seen[0]!.payload.toString(), 'short');
  t.equal(seen[1]!.rsv1, true, 'a 4 KiB message is compressed (RSV1)');
  t.ok(seen[1]!.payload.length < 100, `and small on the wire (${seen[1]!.payload.length} bytes)`);
  t.equal(inflate(seen[1]!.payload).toString(), long, 'it inflates to the message');
});

t.test('a compressed upstream message that inflates past max_message_size closes with 1009', T, async (t) => {
  const origin = await startWsOrigin(t, {
    bomb: rawWebSocket((io) => io.write(compressedText('a'.repeat(1024 * 1024))), ACCEPTED),
  });
  const proxy = await cliWs.start(t, { servers: [origin.port], websocket: { upstream_compression: 'true', max_message_size: 65536 } });
  const c = connect(proxy.port, '/raw/bomb');
  t.equal((await c.closed).code, 1009, '1 MiB from a 1 KiB frame is refused: 1009');
});

t.test('a 101 accepting permessage-deflate on terms the proxy did not offer is refused with 502', T, async (t) => {
  const origin = await startWsOrigin(t, {
    takeover: rawWebSocket(() => {}, 'Sec-WebSocket-Extensions: permessage-deflate\r\n'),
    windowbits: rawWebSocket(() => {}, 'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10\r\n'),
    other: rawWebSocket(() => {}, 'Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n'),
  });
  const proxy = await cliWs.start(t, { servers: [origin.port], websocket: { upstream_compression: 'true' } });
  for (const name of ['takeover', 'windowbits', 'other']) {
    t.equal((await connect(proxy.port, `/raw/${name}`).refused).status, 502, `${name}: 502`);
  }
});

t.test('off by default: the upstream gets no extension offer, even when the client made one', T, async (t) => {
  const origin = await startWsOrigin(t, {}, { deflate: true });
  const proxy = await cliWs.start(t, { servers: [origin.port] });
  const c = connect(proxy.port, '/echo', { perMessageDeflate: true });
  await c.opened;
  const offer = origin.upgrades[0]!.headers.filter(([n]) => n.toLowerCase() === 'sec-websocket-extensions');
  t.same(offer, [], 'no Sec-WebSocket-Extensions upstream');
  c.ws.send('y'.repeat(10_000));
  t.equal((await c.next()).data.toString(), 'y'.repeat(10_000), 'messages still pass');
  c.ws.close();
  await c.closed;
});
