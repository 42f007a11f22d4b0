// Embedders get every problem of their options in one ProxyConfigError: readable as a message,
// and as data (path, problem, fix) for whoever maps them to their own configuration.
import t from 'tap';
import { createProxy, normalizeOptions, ProxyConfigError, type ConfigProblem } from '../src/index.js';

function problemsOf(run: () => unknown): readonly ConfigProblem[] {
  try {
    run();
  } catch (err) {
    if (err instanceof ProxyConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ProxyConfigError');
}

t.test('createProxy with two bad routes: both problems in one error', async (t) => {
  const init = {
    upstreams: [{ name: 'app', servers: ['127.0.0.1:9000'] }],
    routes: [
      { pathPrefix: 'api', upstream: 'app' },
      { hosts: ['example.com:8080'], upstream: 'app' },
    ],
  };
  t.throws(() => createProxy(init), {
    name: 'ProxyConfigError',
    message:
      'routes[0].pathPrefix: "api" does not start with "/". Fix: write "/api".\n' +
      'routes[1].hosts[0]: "example.com:8080" has a port; routes match the host name whatever the port. Fix: write "example.com".',
  });
  t.same(problemsOf(() => createProxy(init)), [
    { path: ['routes', 0, 'pathPrefix'], problem: '"api" does not start with "/"', fix: 'write "/api"' },
    { path: ['routes', 1, 'hosts', 0], problem: '"example.com:8080" has a port; routes match the host name whatever the port', fix: 'write "example.com"' },
  ]);
});

t.test('routes, references, targets and forwarding are reported together, at their paths in the init', async (t) => {
  const found = problemsOf(() =>
    normalizeOptions({
      target: ['http://127.0.0.1:9000', 'ftp://x'],
      upstreams: [{ name: 'app', servers: [] }],
      routes: [{ pathPrefix: '/', upstream: 'nope' }, { pathPrefix: '/x', upstream: 'app' }, { pathPrefix: '/x/', upstream: 'app' }],
      forwarding: { trustedProxies: ['10.0.0.0/8', 'fd00::/129'], via: 'a b' },
    }),
  );
  t.same(
    found.map((p) => p.path),
    [['target', 1], ['upstreams', 0, 'servers'], ['routes', 0, 'upstream'], ['routes', 2], ['routes', 0], ['forwarding', 'via'], ['forwarding', 'trustedProxies', 1]],
  );
  t.match(found[4], { problem: /already routed to the "target" servers/ });
  t.match(found[3], { problem: 'any host with path "/x" is already routed by routes[1], so this route would never be used for it' });
});

t.test('valid options still normalize', async (t) => {
  t.match(normalizeOptions({ target: 'http://127.0.0.1:9000' }).routes, [{ pathPrefix: '/', upstream: 'default' }]);
});
