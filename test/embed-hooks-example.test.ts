/**
 * examples/embed-hooks.ts, the README's hook example, run against two real origins: the balancing
 * hook, the request filter, the 5xx count and the log line each have their effect. Also checks
 * that the README shows the example's code unchanged.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Proxy } from '@portcullis/core';
import t from 'tap';
import { request } from './lib/client.js';
import { startOrigin } from './lib/origins.js';
import { listenLoopback } from './lib/util.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const examplePath = join(root, 'examples/embed-hooks.ts');

/** What examples/embed-hooks.ts exports (typed here: from examples/, '@portcullis/core' does not resolve). */
interface Example {
  embeddedProxy(servers: string[], log: (line: string) => void): { proxy: Proxy; serverErrors: Map<string, number>; handler: http.RequestListener };
}

/** The example's code below its leading comment lines. */
function exampleCode(): string {
  const lines = readFileSync(examplePath, 'utf8').split('\n');
  let i = 0;
  while (lines[i]!.startsWith('//')) i++;
  return lines.slice(i).join('\n').trim();
}

t.test('the README shows examples/embed-hooks.ts unchanged', async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.indexOf('### Embedding: hooks');
  t.ok(section >= 0, 'README has the "Embedding: hooks" subsection');
  const start = readme.indexOf('```ts\n', section) + '```ts\n'.length;
  const end = readme.indexOf('```', start);
  t.equal(readme.slice(start, end).trim(), exampleCode());
});

t.test('the hooks of examples/embed-hooks.ts have their effect', async (t) => {
  // The example imports '@portcullis/core', which resolves from test/ (its node_modules), not from
  // examples/: a copy in a test fixture directory runs unchanged.
  const dir = t.testdir({});
  copyFileSync(examplePath, join(dir, 'embed-hooks.ts'));
  const example = (await import(pathToFileURL(join(dir, 'embed-hooks.ts')).href)) as Example;

  const ok = await startOrigin(t);
  const failing = await startOrigin(t, (req, res) => {
    res.writeHead(503, { 'content-length': '0' });
    res.end();
  });
  const lines: string[] = [];
  const { proxy, serverErrors, handler } = example.embeddedProxy([`127.0.0.1:${ok.port}`, `127.0.0.1:${failing.port}`], (l) => lines.push(l));
  const { port } = await listenLoopback(t, http.createServer(handler));
  t.teardown(() => proxy.close());

  // Sequential requests: each server keeps one idle socket after its first answer, so the server
  // with fewer open sockets alternates, then both have one and the first in the list wins.
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await request({ port, path: `/r${i}` })).status);
  t.same(statuses, [200, 503, 200, 200], 'least open connections: first, then the one with none, then ties to the first');
  t.equal(ok.requests.length, 3);
  t.equal(failing.requests.length, 1);

  const ids = [...ok.requests, ...failing.requests].map((r) => r.header('x-request-id'));
  t.ok(ids.every((v) => v.length === 1 && /^\d+-\d+$/.test(v[0]!)), 'upstreamRequestFilter added x-request-id to every request');
  t.same([...serverErrors], [[`127.0.0.1:${failing.port}`, 1]], 'upstreamResponse counted the 5xx of the failing server');

  t.equal(lines.length, 4, 'logging: one line per request');
  t.match(lines[0]!, new RegExp(`^127\\.0\\.0\\.1 "GET /r0" 200 \\d+ 127\\.0\\.0\\.1:${ok.port} [\\d.]+ms retries=0$`));
  t.match(lines[1]!, new RegExp(`"GET /r1" 503 0 127\\.0\\.0\\.1:${failing.port} `));
});
