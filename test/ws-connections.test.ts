/**
 * Many WebSockets at once, through the CLI (uWS relay) and the node:http tunnel: 1,000
 * simultaneous connections opened, used and closed, with no socket left behind in the proxy
 * (its socket fds are counted before and after) nor at the origin.
 */
import t from 'tap';
import { connect, socketCount, startWsOrigin, wsFrontends, type Client } from './lib/ws.js';
import { waitFor } from './lib/util.js';

const N = 1000;

for (const fe of wsFrontends) {
  t.test(`${fe.name}: ${N} simultaneous connections open, echo and close cleanly, leaving no socket behind`, { timeout: 60_000 }, async (t) => {
    const origin = await startWsOrigin(t);
    const proxy = await fe.start(t, { servers: [origin.port] });
    const pid = proxy.pids()[0] ?? process.pid;
    // Warm up once so lazily opened things (pools, timers) are part of the baseline.
    const warm = connect(proxy.port, '/echo');
    await warm.opened;
    warm.ws.close();
    await warm.closed;
    await waitFor(() => origin.open === 0, 5000, 'the warm-up connection to close');
    const baseline = socketCount(pid);

    const clients: Client[] = [];
    for (let i = 0; i < N; i++) clients.push(connect(proxy.port, `/echo?n=${i}`));
    await Promise.all(clients.map((c) => c.opened));
    t.equal(origin.open, N, `${N} upstream connections open at once`);
    if (fe.name === 'cli') t.ok(socketCount(pid) >= baseline + 2 * N, 'the worker holds a client and an upstream socket for each');
    for (const [i, c] of clients.entries()) c.ws.send(`m${i}`);
    const echoes = await Promise.all(clients.map((c) => c.next(20_000)));
    t.ok(echoes.every((e, i) => e.data.toString() === `m${i}`), 'each connection got its own echo');

    for (const c of clients) c.ws.close(1000, 'bye');
    const closes = await Promise.all(clients.map((c) => c.closed));
    t.ok(closes.every((c) => c.code === 1000), 'every close handshake completed with 1000');
    await waitFor(() => origin.open === 0, 15_000, 'every upstream connection to close');
    t.equal(origin.closes.filter((c) => c.code === 1000 && c.reason === 'bye').length, N + 0, 'the origin saw each close code and reason');
    if (fe.name === 'cli') {
      const after = await waitFor(() => {
        const n = socketCount(pid);
        return n <= baseline ? n : false;
      }, 15_000, `the worker's sockets to return to ${baseline}`).catch(() => socketCount(pid));
      t.ok(after <= baseline, `worker sockets: ${baseline} before, ${after} after`);
    }
  });
}
