import t from 'tap';
import type { RouteOptions } from '../src/config/options.js';
import { compileRoutes } from '../src/routing/router.js';

function route(upstream: string, pathPrefix = '/', hosts: string[] = [], stripPrefix = false): RouteOptions {
  return { hosts, pathPrefix, stripPrefix, upstream };
}

/** The upstream name of the matched route, or null. */
function to(router: ReturnType<typeof compileRoutes>, host: string | undefined, url: string): string | null {
  return router.match(host, url)?.route.upstream ?? null;
}

t.test('no routes: nothing matches', async (t) => {
  t.equal(compileRoutes([]).match('example.com', '/'), null);
});

t.test('the match returns the route object itself and the target', async (t) => {
  const r = route('app');
  t.same(compileRoutes([r]).match('x', '/a?b'), { route: r, target: '/a?b' });
  t.equal(compileRoutes([r]).match('x', '/a')!.route, r);
});

t.test('"/" matches every path, with or without Host', async (t) => {
  const router = compileRoutes([route('app')]);
  for (const url of ['/', '/a', '/a/b?c=d', '/?q', '*']) t.equal(to(router, 'example.com', url), 'app', url);
  t.equal(to(router, undefined, '/x'), 'app');
});

t.test('longest path prefix wins, whatever the order of the routes', async (t) => {
  const routes = [route('root', '/'), route('api', '/api'), route('v2', '/api/v2'), route('static', '/static/')];
  for (const order of [routes, [...routes].reverse()]) {
    const router = compileRoutes(order);
    t.equal(to(router, 'h', '/api/v2/users'), 'v2');
    t.equal(to(router, 'h', '/api/v1/users'), 'api');
    t.equal(to(router, 'h', '/static/app.js'), 'static');
    t.equal(to(router, 'h', '/other'), 'root');
  }
});

t.test('a prefix matches only at a segment boundary: /api and /api/ take /api, /api/x, /api?q, never /apix', async (t) => {
  for (const prefix of ['/api', '/api/']) {
    const router = compileRoutes([route('root'), route('api', prefix)]);
    t.equal(to(router, 'h', '/api'), 'api', `${prefix}: /api`);
    t.equal(to(router, 'h', '/api/'), 'api', `${prefix}: /api/`);
    t.equal(to(router, 'h', '/api/x'), 'api', `${prefix}: /api/x`);
    t.equal(to(router, 'h', '/api?q=1'), 'api', `${prefix}: /api?q=1`);
    t.equal(to(router, 'h', '/apix'), 'root', `${prefix}: /apix`);
    t.equal(to(router, 'h', '/ap'), 'root', `${prefix}: /ap`);
  }
});

t.test('prefixes are case-sensitive, as paths are', async (t) => {
  t.equal(to(compileRoutes([route('api', '/api')]), 'h', '/API'), null);
});

t.test('stripPrefix removes the prefix and keeps the rest and the query', async (t) => {
  const router = compileRoutes([route('auth', '/authentik/', [], true)]);
  t.equal(router.match('h', '/authentik/x?a=1')!.target, '/x?a=1');
  t.equal(router.match('h', '/authentik/x/y')!.target, '/x/y');
  t.equal(router.match('h', '/authentik')!.target, '/');
  t.equal(router.match('h', '/authentik/')!.target, '/');
  t.equal(router.match('h', '/authentik?a=1')!.target, '/?a=1');
  const noSlash = compileRoutes([route('auth', '/authentik', [], true)]);
  t.equal(noSlash.match('h', '/authentik/x?a=1')!.target, '/x?a=1');
});

t.test('stripPrefix on "/" leaves the URL alone; without stripPrefix the URL is passed whole', async (t) => {
  t.equal(compileRoutes([route('a', '/', [], true)]).match('h', '/x?y')!.target, '/x?y');
  t.equal(compileRoutes([route('a', '/api', [], false)]).match('h', '/api/x?y')!.target, '/api/x?y');
});

t.test('host match is case-insensitive and ignores the port', async (t) => {
  const router = compileRoutes([route('a', '/', ['Example.com'])]);
  t.equal(to(router, 'example.com', '/'), 'a');
  t.equal(to(router, 'EXAMPLE.COM', '/'), 'a');
  t.equal(to(router, 'example.com:8080', '/'), 'a');
  t.equal(to(router, 'example.com.', '/'), 'a', 'a fully qualified name with its trailing dot');
  t.equal(to(router, 'example.org', '/'), null);
  t.equal(to(router, undefined, '/'), null);
});

t.test('IPv6 literal hosts, with and without a port', async (t) => {
  const router = compileRoutes([route('v6', '/', ['[::1]']), route('v6b', '/', ['2001:db8::1']), route('any')]);
  t.equal(to(router, '[::1]:8080', '/'), 'v6');
  t.equal(to(router, '[::1]', '/'), 'v6');
  t.equal(to(router, '[2001:DB8::1]:443', '/'), 'v6b');
  t.equal(to(router, '[::2]:8080', '/'), 'any');
});

t.test('exact names beat wildcards; the longest wildcard suffix wins', async (t) => {
  const router = compileRoutes([
    route('wild', '/', ['*.example.com']),
    route('deep', '/', ['*.eu.example.com']),
    route('exact', '/', ['api.eu.example.com']),
    route('default'),
  ]);
  t.equal(to(router, 'api.eu.example.com', '/'), 'exact');
  t.equal(to(router, 'web.eu.example.com', '/'), 'deep');
  t.equal(to(router, 'a.b.eu.example.com', '/'), 'deep');
  t.equal(to(router, 'eu.example.com', '/'), 'wild');
  t.equal(to(router, 'a.b.example.com', '/'), 'wild', 'a wildcard covers several labels');
  t.equal(to(router, 'A.Example.Com:443', '/'), 'wild');
  t.equal(to(router, 'example.com', '/'), 'default', '*.example.com does not match example.com');
  t.equal(to(router, 'badexample.com', '/'), 'default', 'the suffix starts at a dot');
});

t.test('routes with no hosts are the default for hosts nothing else matched', async (t) => {
  const router = compileRoutes([route('a', '/', ['a.example']), route('default', '/')]);
  t.equal(to(router, 'a.example', '/x'), 'a');
  t.equal(to(router, 'b.example', '/x'), 'default');
  t.equal(to(router, undefined, '/x'), 'default');
  t.equal(to(router, '', '/x'), 'default');
});

t.test('a matched host never falls through to another on a path miss (nginx server blocks)', async (t) => {
  const router = compileRoutes([route('a-api', '/api', ['a.example']), route('default', '/')]);
  t.equal(to(router, 'a.example', '/api/x'), 'a-api');
  t.equal(to(router, 'a.example', '/other'), null);
});

t.test('one route listing several hosts serves each of them', async (t) => {
  const router = compileRoutes([route('multi', '/', ['a.example', '*.b.example'])]);
  t.equal(to(router, 'a.example', '/'), 'multi');
  t.equal(to(router, 'x.b.example', '/'), 'multi');
  t.equal(to(router, 'c.example', '/'), null);
});

t.test('no match returns null', async (t) => {
  t.equal(compileRoutes([route('api', '/api')]).match('h', '/'), null);
});

t.test('an empty pathPrefix means "/"', async (t) => {
  t.equal(to(compileRoutes([route('a', '')]), 'h', '/x'), 'a');
});

t.test('config errors name the route and the fix', async (t) => {
  t.throws(() => compileRoutes([route('a', 'api')]), { name: 'ProxyConfigError', message: 'routes[0].pathPrefix: "api" does not start with "/". Fix: write "/api".' });
  t.throws(() => compileRoutes([route('a', '/api?x')]), /^routes\[0\]\.pathPrefix: "\/api\?x" contains a query/);
  t.throws(() => compileRoutes([route('a'), route('b', '/', ['a.*.com'])]), /^routes\[1\]\.hosts\[0\]: "a\.\*\.com" has a "\*" that is not a leading "\*\."/);
  t.throws(() => compileRoutes([route('a', '/', ['*'])]), /"\*" matches nothing specific\. Fix: leave out the host names to match any host/);
  t.throws(() => compileRoutes([route('a', '/', ['example.com:8080'])]), /has a port; routes match the host name whatever the port\. Fix: write "example\.com"/);
  t.throws(() => compileRoutes([route('a', '/', [''])]), /matches nothing specific/);
  t.throws(() => compileRoutes([route('a', '/', ['http://example.com'])]), /is a URL, not a host name/);
});

t.test('two routes claiming the same host and prefix are refused', async (t) => {
  t.throws(() => compileRoutes([route('a', '/api'), route('b', '/api/')]), /^routes\[1\]: any host with path "\/api" is already routed by routes\[0\]/);
  t.throws(() => compileRoutes([route('a', '/', ['X.example']), route('b', '/', ['x.example'])]), /^routes\[1\]: host "x\.example" with path "\/" is already routed by routes\[0\]/);
  t.doesNotThrow(() => compileRoutes([route('a', '/', ['x.example']), route('b', '/', ['*.x.example']), route('c')]));
});
