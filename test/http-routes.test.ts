/**
 * Routing (host exact vs *.domain wildcard, longest path prefix, strip_prefix, no route -> 404) and
 * round robin across the servers of one upstream. Both frontends: the CLI gets a YAML config, the
 * node:http adapter the same routes as createProxy options.
 */
import t from 'tap';
import { requestJson, request } from './lib/client.js';
import { frontends, toOrigins } from './lib/frontends.js';
import { type Echo, startOrigin } from './lib/origins.js';

const T = { timeout: 30_000 };

for (const fe of frontends) {
  t.test(fe.name, async (t) => {
    t.test('routes', { timeout: 90_000 }, async (t) => {
      const a = await startOrigin(t); // api.example.test /
      const b = await startOrigin(t); // *.example.test /
      const c = await startOrigin(t); // api.example.test /v2/ (strip)
      const d = await startOrigin(t); // any host /static/
      const proxy = await fe.start(t, {
        upstreams: [
          { name: 'a', servers: [a.port] },
          { name: 'b', servers: [b.port] },
          { name: 'c', servers: [c.port] },
          { name: 'd', servers: [d.port] },
        ],
        routes: [
          { hosts: ['api.example.test'], path: '/', upstream: 'a' },
          { hosts: ['*.example.test'], path: '/', upstream: 'b' },
          { hosts: ['api.example.test'], path: '/v2/', stripPrefix: true, upstream: 'c' },
          { path: '/static/', upstream: 'd' },
        ],
      });
      const get = async (host: string, path: string) => {
        const { res, data } = await requestJson<Echo>({ port: proxy.port, path, headers: { host } });
        return { status: res.status, url: data.url };
      };
      const counts = () => [a, b, c, d].map((o) => o.requests.length);

      t.test('an exact host beats a *.domain wildcard', T, async (t) => {
        const before = counts();
        t.same(await get('api.example.test', '/x'), { status: 200, url: '/x' });
        t.equal(a.requests.length, before[0]! + 1, 'the exact-host route answered');
        t.equal(b.requests.length, before[1]!, 'not the wildcard');
      });

      t.test('a *.domain wildcard matches other subdomains', T, async (t) => {
        const before = counts();
        t.same(await get('www.example.test', '/x'), { status: 200, url: '/x' });
        t.same(await get('shop.example.test', '/y'), { status: 200, url: '/y' });
        t.equal(b.requests.length, before[1]! + 2, 'the wildcard route answered both');
      });

      t.test('host matching ignores the port in the Host header', T, async (t) => {
        const before = counts();
        t.same(await get('api.example.test:8080', '/p'), { status: 200, url: '/p' });
        t.equal(a.requests.length, before[0]! + 1, 'the exact-host route answered');
      });

      t.test('the longest path prefix wins, and strip_prefix removes it (query kept)', T, async (t) => {
        const before = counts();
        t.same(await get('api.example.test', '/v2/users?q=1'), { status: 200, url: '/users?q=1' });
        t.equal(c.requests.length, before[2]! + 1, 'the /v2/ route answered');
        t.same(await get('api.example.test', '/v1/users'), { status: 200, url: '/v1/users' }, 'a shorter match goes to /');
        t.equal(a.requests.length, before[0]! + 1);
      });

      t.test('a route without hosts matches any host, and without strip_prefix keeps the path', T, async (t) => {
        const before = counts();
        t.same(await get('other.test', '/static/app.css'), { status: 200, url: '/static/app.css' });
        t.equal(d.requests.length, before[3]! + 1);
      });

      t.test('no matching route gets 404 and reaches no origin', T, async (t) => {
        const before = counts();
        const res = await request({ port: proxy.port, path: '/nothing-here', headers: { host: 'other.test' } });
        t.equal(res.status, 404);
        t.same(counts(), before, 'no origin saw it');
      });
    });

    t.test('round robin: two origins behind one upstream both get requests', T, async (t) => {
      const o1 = await startOrigin(t);
      const o2 = await startOrigin(t);
      const proxy = await fe.start(t, toOrigins(o1.port, o2.port));
      for (let i = 0; i < 10; i++) {
        const res = await request({ port: proxy.port, path: `/rr/${i}` });
        if (res.status !== 200) t.fail(`request ${i}: status ${res.status}`);
      }
      t.equal(o1.requests.length + o2.requests.length, 10, 'every request reached an origin once');
      t.ok(o1.requests.length > 0, `origin 1 served ${o1.requests.length}`);
      t.ok(o2.requests.length > 0, `origin 2 served ${o2.requests.length}`);
    });
  });
}
