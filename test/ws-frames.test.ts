/**
 * Frames and closes through the proxy: fragmented messages arrive whole, pings are answered on
 * the upstream hop, close codes and reasons pass both ways, an upstream that vanishes never
 * leaves the client hanging, a client that vanishes closes the upstream, limits close with the
 * RFC 6455 codes, a graceful stop tells clients 1001, and the upstream hop's TCP is closed by the
 * server first.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { cliWs, connect, frame, rawWebSocket, startWsOrigin, wsFrontends, type RawIo } from './lib/ws.js';
import { waitFor } from './lib/util.js';

const T = { timeout: 30_000 };

for (const fe of wsFrontends) {
  t.test(fe.name, async (t) => {
    t.test('a fragmented upstream message with a ping between its fragments arrives whole, and the ping is answered', T, async (t) => {
      let io: RawIo | undefined;
      const origin = await startWsOrigin(t, {
        frag: rawWebSocket((x) => {
          io = x;
          x.write(Buffer.concat([frame(0x1, 'Hel', false), frame(0x9, 'p1'), frame(0x0, 'lo ', false)]));
          setTimeout(() => x.write(Buffer.concat([frame(0x0, 'wörld'), frame(0x2, Buffer.from([1, 2]), false), frame(0x0, Buffer.from([3]))])), 50);
          // The server closes TCP once the client's close frame is in (RFC 6455 7.1.1); without it a
          // byte tunnel leaves the client waiting for the close (30 s in the ws client).
          x.socket.on('data', () => {
            if (x.frames.some((f) => f.opcode === 0x8)) x.end();
          });
        }),
      });
      const proxy = await fe.start(t, { servers: [origin.port] });
      const c = connect(proxy.port, '/raw/frag');
      await c.opened;
      const a = await c.next();
      t.same([a.binary, a.data.toString()], [false, 'Hello wörld'], 'text fragments reassembled');
      const b = await c.next();
      t.same([b.binary, [...b.data]], [true, [1, 2, 3]], 'binary fragments reassembled');
      const pong = await waitFor(() => io!.frames.find((f) => f.opcode === 0xa), 3000, 'a pong on the upstream hop');
      t.equal(pong.payload.toString(), 'p1', 'the pong carries the ping payload');
      c.ws.close(1000);
      await c.closed;
    });

    t.test('a ping, a message and a close frame each split across reads keep every byte', T, async (t) => {
      // Each frame is sent in two writes 40 ms apart, cut inside its payload: the second read
      // reuses the memory of the first, so a part kept without a copy comes out wrong.
      let io: RawIo | undefined;
      const halves = (f: Buffer, at: number): Buffer[] => [f.subarray(0, at), f.subarray(at)];
      const parts = [
        ...halves(frame(0x9, 'ping-payload'), 5),
        ...halves(frame(0x1, 'a message in two reads'), 9),
        ...halves(frame(0x8, Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from('split reason')])), 6),
      ];
      const origin = await startWsOrigin(t, {
        split: rawWebSocket((x) => {
          io = x;
          parts.forEach((p, i) => setTimeout(() => x.write(p), 40 * (i + 1)));
          // The server closes TCP once the client's close frame is back (RFC 6455 7.1.1).
          x.socket.on('data', () => {
            if (x.frames.some((f) => f.opcode === 0x8)) x.end();
          });
        }),
      });
      const proxy = await fe.start(t, { servers: [origin.port] });
      const c = connect(proxy.port, '/raw/split');
      await c.opened;
      const m = await c.next();
      t.same([m.binary, m.data.toString()], [false, 'a message in two reads'], 'the message is whole');
      t.same(await c.closed, { code: 4001, reason: 'split reason' }, 'the close code and reason are whole');
      const pong = await waitFor(() => io!.frames.find((f) => f.opcode === 0xa), 3000, 'a pong on the upstream hop');
      t.equal(pong.payload.toString(), 'ping-payload', 'the pong carries the whole ping payload');
    });

    t.test('messages of every length encoding pass both ways intact (7-bit, 16-bit and 64-bit lengths; 3 MB over many reads)', T, async (t) => {
      const origin = await startWsOrigin(t);
      const proxy = await fe.start(t, { servers: [origin.port] });
      const c = connect(proxy.port, '/echo');
      await c.opened;
      for (const size of [0, 1, 125, 126, 65535, 65536, 300_000, 3_000_000]) {
        const data = Buffer.alloc(size);
        for (let i = 0; i < size; i++) data[i] = (i * 31 + size) & 0xff;
        c.ws.send(data);
        const echo = await c.next();
        t.ok(echo.binary && echo.data.equals(data), `${size} bytes`);
      }
      c.ws.close();
      await c.closed;
    });

    t.test('close codes and reasons pass from the client to the upstream (1000 and 4000-4999)', T, async (t) => {
      const origin = await startWsOrigin(t);
      const proxy = await fe.start(t, { servers: [origin.port] });
      for (const [code, reason] of [[1000, 'done'], [4321, 'client app code']] as const) {
        const c = connect(proxy.port, '/echo');
        await c.opened;
        c.ws.send('x');
        await c.next();
        c.ws.close(code, reason);
        t.equal((await c.closed).code, code, `the client's close handshake completes with ${code}`);
        await waitFor(() => origin.closes.length > 0 && origin.open === 0, 5000, 'the origin to see the close');
        t.same(origin.closes.pop(), { code, reason }, `the origin got ${code} "${reason}"`);
      }
    });

    t.test('close codes and reasons pass from the upstream to the client', T, async (t) => {
      const origin = await startWsOrigin(t);
      const proxy = await fe.start(t, { servers: [origin.port] });
      for (const [code, reason] of [[1000, 'normal'], [4001, 'origin app code'], [1008, 'policy']] as const) {
        const c = connect(proxy.port, '/echo');
        await c.opened;
        c.ws.send(`close:${code}:${reason}`);
        t.same(await c.closed, { code, reason });
      }
    });

    t.test('an upstream that vanishes without a close frame: the client is closed, never left hanging', T, async (t) => {
      const origin = await startWsOrigin(t);
      const proxy = await fe.start(t, { servers: [origin.port] });
      const c = connect(proxy.port, '/echo');
      await c.opened;
      c.ws.send('drop');
      const closed = await c.closed;
      if (fe.name === 'cli') t.same(closed, { code: 1011, reason: 'upstream connection lost' }, '1011 on the relay');
      else t.equal(closed.code, 1006, 'the byte tunnel closes the TCP connection (1006)');
    });

    t.test('a client that vanishes closes the upstream', T, async (t) => {
      const origin = await startWsOrigin(t);
      const proxy = await fe.start(t, { servers: [origin.port] });
      const c = connect(proxy.port, '/echo');
      await c.opened;
      c.ws.send('x');
      await c.next();
      t.equal(origin.open, 1);
      c.ws.terminate();
      await waitFor(() => origin.open === 0, 5000, 'the upstream connection to close');
      const code = origin.closes[0]!.code;
      t.ok(fe.name === 'cli' ? code === 1001 : code === 1006, `the origin saw ${code} (1001 going away on the relay, a TCP close on the tunnel)`);
    });
  });
}

t.test('cli: limits and shutdown', async (t) => {
  t.test('an upstream message over max_message_size closes with 1009; one of exactly that size passes', T, async (t) => {
    const origin = await startWsOrigin(t, {
      big: rawWebSocket((io) => io.write(Buffer.concat([frame(0x2, Buffer.alloc(4096, 1)), frame(0x2, Buffer.alloc(4097, 2))]))),
    });
    const proxy = await cliWs.start(t, { servers: [origin.port], websocket: { max_message_size: '4KiB' } });
    const c = connect(proxy.port, '/raw/big');
    await c.opened;
    t.equal((await c.next()).data.length, 4096, 'exactly max_message_size passes');
    t.equal((await c.closed).code, 1009, 'the client is told the next message was too big');
  });

  t.test('a client message over max_message_size: the upstream gets 1009 (uWS drops the client without a close frame)', T, async (t) => {
    const origin = await startWsOrigin(t);
    const proxy = await cliWs.start(t, { servers: [origin.port], websocket: { max_message_size: '4KiB' } });
    const c = connect(proxy.port, '/echo');
    await c.opened;
    c.ws.send(Buffer.alloc(5000));
    const closed = await c.closed;
    t.ok(closed.code === 1009 || closed.code === 1006, `client closed (${closed.code})`);
    await waitFor(() => origin.closes.length > 0, 5000, 'the origin to see a close');
    t.equal(origin.closes[0]!.code, 1009);
  });

  t.test('upstream text that is not UTF-8 closes with 1007', T, async (t) => {
    const origin = await startWsOrigin(t, {
      badtext: rawWebSocket((io) => io.write(frame(0x1, Buffer.from([0x68, 0xff, 0xfe])))),
    });
    const proxy = await cliWs.start(t, { servers: [origin.port] });
    const c = connect(proxy.port, '/raw/badtext');
    await c.opened;
    t.equal((await c.closed).code, 1007);
    t.equal(c.messages.length, 0, 'the invalid message was not relayed');
  });

  t.test('a masked frame from the upstream is a protocol error: the client gets 1002', T, async (t) => {
    const origin = await startWsOrigin(t, {
      masked: rawWebSocket((io) => io.write(Buffer.from([0x81, 0x81, 1, 2, 3, 4, 0x61 ^ 1]))),
    });
    const proxy = await cliWs.start(t, { servers: [origin.port] });
    const c = connect(proxy.port, '/raw/masked');
    await c.opened;
    t.equal((await c.closed).code, 1002);
  });

  t.test('a graceful stop closes every client with 1001 and the upstreams with 1001', T, async (t) => {
    const origin = await startWsOrigin(t);
    const proxy = await cliWs.start(t, { servers: [origin.port], workers: 2 });
    const clients = Array.from({ length: 6 }, () => connect(proxy.port, '/echo'));
    await Promise.all(clients.map((c) => c.opened));
    proxy.cli!.proc.kill('SIGTERM');
    const closes = await Promise.all(clients.map((c) => c.closed));
    t.same(closes.map((c) => c.code), Array(6).fill(1001), 'every client got 1001');
    await waitFor(() => origin.open === 0, 5000, 'every upstream to close');
    t.ok(origin.closes.every((c) => c.code === 1001), 'every upstream got 1001');
    const exit = await proxy.cli!.exited;
    t.equal(exit.code, 0, 'the server exited cleanly');
  });
});

/** Local and remote ports of the IPv4 TCP sockets in TIME_WAIT (state 06 in /proc/net/tcp). */
function timeWait(): Array<{ local: number; remote: number }> {
  const out: Array<{ local: number; remote: number }> = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[3] !== '06') continue;
    out.push({ local: parseInt(f[1]!.split(':')[1]!, 16), remote: parseInt(f[2]!.split(':')[1]!, 16) });
  }
  return out;
}

t.test('cli: after a closing handshake the proxy waits for the upstream to close TCP, so TIME_WAIT is held by the upstream and not on the proxy\'s ports', T, async (t) => {
  // An origin that closes TCP 300 ms after the close frames have crossed: a proxy that does not
  // wait for it closes first and is left holding TIME_WAIT.
  const LINGER_MS = 300;
  const origin = await startWsOrigin(t, {
    // Answers the client's close, then lingers.
    answers: rawWebSocket((io) => {
      io.socket.on('data', () => {
        if (io.frames.some((f) => f.opcode === 8)) {
          io.write(frame(8, Buffer.from([0x03, 0xe8])));
          setTimeout(() => io.end(), LINGER_MS);
        }
      });
    }),
    // Starts the close itself, then lingers once the proxy answers.
    starts: rawWebSocket((io) => {
      io.write(frame(8, Buffer.from([0x03, 0xe8])));
      io.socket.on('data', () => {
        if (io.frames.some((f) => f.opcode === 8)) setTimeout(() => io.end(), LINGER_MS);
      });
    }),
  });
  const proxy = await cliWs.start(t, { servers: [origin.port] });
  const byClient = connect(proxy.port, '/raw/answers');
  await byClient.opened;
  byClient.ws.close(1000, 'bye');
  t.equal((await byClient.closed).code, 1000, 'a close started by the client completes');
  const byOrigin = connect(proxy.port, '/raw/starts');
  t.equal((await byOrigin.closed).code, 1000, 'a close started by the upstream completes');
  const atOrigin = await waitFor(() => {
    const n = timeWait().filter((s) => s.local === origin.port).length;
    return n >= 2 && n;
  }, 5000, 'the origin to hold TIME_WAIT for both upstream connections');
  t.equal(atOrigin, 2, 'the origin holds TIME_WAIT for both upstream connections');
  t.equal(timeWait().filter((s) => s.remote === origin.port).length, 0, 'the proxy holds none towards the upstream');
});
