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
    const before = socketCount(pid);
    // Warm up once so lazily opened things (pools, timers) are part of the baseline.
    const warm = connect(proxy.port, '/echo');
    await warm.opened;
    warm.ws.close();
    await warm.closed;
    await waitFor(() => origin.open === 0, 5000, 'the warm-up connection to close');
    // Both of the warm-up's sockets close a moment after the origin sees its close (the upstream
    // one once the origin's FIN arrives): count from when they are gone.
    const baseline = await waitFor(() => {
      const n = socketCount(pid);
      return n <= before && n;
    }, 5000, 'the warm-up sockets to close').catch(() => socketCount(pid));

    const clients: Client[] = [];
    for (let i = 0; i < N; i++) clients.push(connect(proxy.port, `/echo?n=${i}`));
    await Promise.all(clients.map((c) => c.opened));
    t.equal(origin.open, N, `${N} upstream connections open at once`);
    if (fe.name === 'cli') t.ok(socketCount(pid) >= baseline + 2 * N, 'the worker holds a client and an upstream socket for each');
    for (const [i, c] of clients.entries()) c.ws.send(`m${i}`);
    // Say which connection failed and how, rather than only that one timed out.
    const closedEarly: string[] = [];
    clients.forEach((c, i) => void c.closed.then((r) => closedEarly.push(`n=${i} closed ${r.code} ${r.reason}`)));
    const echoes = await Promise.all(
      clients.map((c, i) =>
        c.next(20_000).catch((e: Error) => {
          const logged = proxy.cli?.lines.filter((l) => Number(l.level) >= 40).map((l) => JSON.stringify(l)).slice(-5) ?? [];
          throw new Error(`${e.message}; n=${i}; closed early: ${closedEarly.join(', ') || 'none'}; origin closes: ${JSON.stringify(origin.closes.slice(0, 5))}; proxy logged: ${logged.join(' | ') || 'nothing'}; stderr: ${proxy.cli?.stderr().slice(-500) ?? ''}`);
        }),
      ),
    );
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
