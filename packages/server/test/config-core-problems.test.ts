// The rules of the proxy options are the core's (route paths and overlaps, trusted proxy
// addresses, the Via pseudonym). Its problems come with a path into the options; the loader maps
// that path to the YAML key, so they are reported at file:line:column like any other problem.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfigFile } from '../src/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-config-core-'));
let count = 0;

/** Every problem of `text`, as `line:column key: problem. Fix: fix.` */
function problems(text: string): string[] {
  const path = join(dir, `portcullis-${++count}.yaml`);
  writeFileSync(path, text);
  try {
    loadConfigFile(path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    t.ok(error.issues.every((i) => i.source === path));
    return error.issues.map((i) => `${i.line}:${i.column} ${i.key}: ${i.problem}. Fix: ${i.fix}.`);
  }
  throw new Error(`expected ${path} to be rejected:\n${text}`);
}

const two = 'upstreams:\n  app: { servers: [a:1] }\n  api: { servers: [b:1] }\n';

t.test('a bad route prefix is reported at the path of its route', async (t) => {
  t.same(problems(`${two}routes:\n  - upstream: app\n  - upstream: api\n    path: api\n`), [
    '7:11 routes[1].path: "api" does not start with "/". Fix: write "/api".',
  ]);
  t.same(problems(`${two}routes:\n  - { path: "http://x/api", upstream: app }\n`), [
    '5:13 routes[0].path: "http://x/api" does not start with "/". Fix: write a path only, without scheme and host, such as "/api/".',
  ]);
});

t.test('overlapping routes: the later route, naming the earlier one', async (t) => {
  t.same(problems(`${two}routes:\n  - { path: /api/, upstream: app }\n  - { path: /, upstream: app }\n  - { path: /api, upstream: api }\n`), [
    '7:5 routes[2]: any host with path "/api" is already routed by routes[0], so this route would never be used for it. ' +
      'Fix: remove one of the two, or change its host or path.',
  ]);
  t.same(problems(`${two}routes:\n  - { hosts: [a.example, "*.b.example"], upstream: app }\n  - { host: X.B.example, upstream: api }\n  - { host: "*.B.example.", upstream: api }\n`), [
    '7:5 routes[2]: host "*.b.example" with path "/" is already routed by routes[0], so this route would never be used for it. ' +
      'Fix: remove one of the two, or change its host or path.',
  ]);
});

t.test('a bad trusted proxy is reported at its entry, or at the key for a bare item', async (t) => {
  t.same(problems(`trusted_proxies:\n  - 10.0.0.0/8\n  - 10.0.0.0/99\n  - 42\n${two.slice(0, 40)}`.replace(two.slice(0, 40), 'upstreams: { app: { servers: [a:1] } }\n')), [
    '3:5 trusted_proxies[1]: "10.0.0.0/99" is not an IP address or CIDR range (prefix length 99 is out of range 0-32 for IPv4). ' +
      'Fix: write an address range such as "10.0.0.0/8", "192.168.1.10/32" or "fd00::/8", or a single address such as "10.1.2.3".',
    '4:5 trusted_proxies[2]: expected an address or CIDR string, got 42. ' +
      'Fix: write an address range such as "10.0.0.0/8", "192.168.1.10/32" or "fd00::/8", or a single address such as "10.1.2.3".',
  ]);
  t.match(problems('trusted_proxies: localhost\nupstreams: { app: { servers: [a:1] } }\n'), [/^1:18 trusted_proxies: "localhost" is not an IP address or CIDR range \(not a valid IPv4 address/]);
});

t.test('a bad Via pseudonym is reported at "via"', async (t) => {
  t.same(problems('upstreams: { app: { servers: [a:1] } }\nvia: "my proxy"\n'), [
    `2:6 via: expected a pseudonym that is one HTTP token (letters, digits and !#$%&'*+-.^_\`|~, no spaces), got "my proxy". ` +
      'Fix: write a name such as "portcullis", or false for no Via header.',
  ]);
});

t.test("the core's problems come with the loader's own, in the order of the file", async (t) => {
  const found = problems(`workers: 0
via: "a b"
upstreams:
  app: { servers: [a:1] }
routes:
  - { path: nope, upstream: ap }
  - { path: /x, upstream: app }
  - { path: /x/, upstream: app }
trusted_proxies: [10.0.0.256]
`);
  t.same(
    found.map((p) => p.slice(0, p.indexOf(':', p.indexOf(' ')))),
    ['1:10 workers', '2:6 via', '6:13 routes[0].path', '6:29 routes[0].upstream', '8:5 routes[2]', '9:19 trusted_proxies[0]'],
  );
});

t.test('a route whose hosts could not be read is not checked for overlaps with defaults in their place', async (t) => {
  t.same(problems(`${two}routes:\n  - { hosts: 42, upstream: app }\n  - { upstream: api }\n`), [
    '5:14 routes[0].hosts: expected a list of host names, got 42. Fix: list host names such as [example.com, "*.example.com"], or leave out "hosts" to match any host.',
  ]);
});
