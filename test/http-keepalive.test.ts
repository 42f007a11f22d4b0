/**
 * Upstream keep-alive: requests through the proxy reuse pooled upstream sockets, whether the
 * client keeps its own connection or opens a new one each time. Both frontends, 1 worker.
 */
import http from 'node:http';
import t from 'tap';
import { request } from './lib/client.js';
import { frontends, toOrigins } from './lib/frontends.js';
import { startOrigin } from './lib/origins.js';

const T = { timeout: 60_000 };

for (const fe of frontends) {
  t.test(fe.name, async (t) => {
    t.test('50 sequential requests on one client connection open at most 2 upstream connections', T, async (t) => {
      const origin = await startOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      t.teardown(() => agent.destroy());
      for (let i = 0; i < 50; i++) {
        const res = await request({ port: proxy.port, path: `/seq/${i}`, agent });
        if (res.status !== 200) t.fail(`request ${i}: status ${res.status}`);
      }
      t.equal(origin.requests.length, 50, 'the origin saw all 50 requests');
      t.ok(origin.connections >= 1 && origin.connections <= 2, `upstream connections opened: ${origin.connections} (expected 1-2)`);
    });

    t.test('50 sequential requests, each on a new client connection, still reuse upstream connections', T, async (t) => {
      const origin = await startOrigin(t);
      const proxy = await fe.start(t, toOrigins(origin.port));
      for (let i = 0; i < 50; i++) {
        const res = await request({ port: proxy.port, path: `/fresh/${i}`, agent: false });
        if (res.status !== 200) t.fail(`request ${i}: status ${res.status}`);
      }
      t.equal(origin.requests.length, 50, 'the origin saw all 50 requests');
      t.ok(origin.connections >= 1 && origin.connections <= 2, `upstream connections opened: ${origin.connections} (expected 1-2)`);
    });
  });
}
