/**
 * The `portcullis` command itself: a bad config file stops it with a non-zero exit and a message
 * on stderr naming the file and the key; with --listen and no upstream it runs the demo.
 */
import t from 'tap';
import { request } from './lib/client.js';
import { runCli, startCli } from './lib/cli.js';
import { freePort } from './lib/util.js';

const T = { timeout: 40_000 };

const badConfigs: Array<{ name: string; key: RegExp[]; yaml: (port: number) => string }> = [
  {
    name: 'a value of the wrong kind (read_timeout: banana)',
    key: [/read_timeout/],
    yaml: (port) => `listen: [127.0.0.1:${port}]
upstreams:
  app:
    servers: [127.0.0.1:9]
    read_timeout: banana
routes:
  - path: /
    upstream: app
`,
  },
  {
    name: 'an unknown key (a typo: keepalvie)',
    key: [/keepalvie/],
    yaml: (port) => `listen: [127.0.0.1:${port}]
upstreams:
  app:
    servers: [127.0.0.1:9]
    keepalvie: 8
routes:
  - path: /
    upstream: app
`,
  },
  {
    name: 'a route naming an unknown upstream',
    key: [/routes/, /upstream/, /nowhere/],
    yaml: (port) => `listen: [127.0.0.1:${port}]
upstreams:
  app:
    servers: [127.0.0.1:9]
routes:
  - path: /
    upstream: nowhere
`,
  },
  {
    name: 'a negative number (max_connections: -5)',
    key: [/max_connections/],
    yaml: (port) => `listen: [127.0.0.1:${port}]
upstreams:
  app:
    servers: [127.0.0.1:9]
    max_connections: -5
routes:
  - path: /
    upstream: app
`,
  },
];

for (const bad of badConfigs) {
  t.test(`a bad config file (${bad.name}) exits non-zero and stderr names the file and the key`, T, async (t) => {
    const port = await freePort();
    const dir = t.testdir({ 'bad-portcullis.yaml': bad.yaml(port) });
    const file = `${dir}/bad-portcullis.yaml`;
    const r = await runCli(t, ['--config', file], 15_000);
    t.equal(r.timedOut, false, 'the process exited by itself');
    t.ok(r.code !== 0 && r.code !== null, `exit code ${r.code} (signal ${r.signal})`);
    t.match(r.stderr, /bad-portcullis\.yaml/, 'stderr names the file');
    for (const k of bad.key) t.match(r.stderr, k, `stderr names the key (${k})`);
    t.notMatch(r.stdout, /"msg":"ready"/, 'it never became ready');
  });
}

t.test('a config file that does not exist exits non-zero and stderr names it', T, async (t) => {
  const dir = t.testdir({});
  const r = await runCli(t, ['--config', `${dir}/missing-portcullis.yaml`], 15_000);
  t.equal(r.timedOut, false, 'the process exited by itself');
  t.ok(r.code !== 0 && r.code !== null, `exit code ${r.code}`);
  t.match(r.stderr, /missing-portcullis\.yaml/, 'stderr names the file');
});

t.test('demo mode (--listen, no --to): GET / answers with the request the demo origin received, X-Forwarded-For included', T, async (t) => {
  const cli = await startCli(t, []); // adds --listen 127.0.0.1:<free port>
  const res = await request({ port: cli.port, path: '/', headers: { host: 'demo.example.test', 'x-demo-probe': 'probe-4711' } });
  t.equal(res.status, 200);
  const body = res.body.toString('utf8');
  t.match(body, /x-forwarded-for/i, 'the body shows X-Forwarded-For');
  t.match(body, /127\.0\.0\.1/, 'with the client address');
  t.match(body, /probe-4711/, 'and the headers the client sent');
  t.match(body, /GET/, 'and the method');
});

t.test('portcullis check: a valid file prints what would be served and exits 0; an invalid one exits 2 with file, line, key and fix', T, async (t) => {
  const example = new URL('../examples/portcullis.yaml', import.meta.url).pathname;
  const ok = await runCli(t, ['check', '--config', example]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /portcullis: .*examples\/portcullis\.yaml is valid/);
  t.match(ok.stdout, /^ {2}example\.com \/api\/ -> api \(prefix stripped\)$/m, 'the route table');
  t.match(ok.stdout, /^ {4}127\.0\.0\.1:9002 {2}weight 1, backup$/m, 'the servers');
  t.match(ok.stdout, /health check: GET \/healthz every 5s, rise 2, fall 3/);
  const dir = t.testdir({ 'bad.yaml': 'upstreams:\n  app:\n    servers: [127.0.0.1:9000]\n    balance: ip_hash\n' });
  const bad = await runCli(t, ['check', '--config', `${dir}/bad.yaml`]);
  t.equal(bad.code, 2);
  t.equal(bad.stdout, '');
  t.match(bad.stderr, /bad\.yaml:4:14: upstreams\.app\.balance: .*ip_hash.*Fix: /);
});
