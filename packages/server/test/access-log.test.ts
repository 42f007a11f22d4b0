// The access log writer: its JSON escaping (exactly JSON.stringify's, for any input), its line
// (the very line pino wrote before, field for field), and its batching against real fds: a file,
// and a unix socket whose reader stops reading (EAGAIN, dropping past the cap, recovery).
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExchangeResult } from '@portcullis/core';
import { pino } from 'pino';
import t from 'tap';
import { AccessLog, jsonDuration, jsonString } from '../src/access-log.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-access-log-'));
let files = 0;

function result(over: { url?: string; method?: string; client?: string; upstream?: string | null; status?: number; bytes?: number; duration?: number; aborted?: boolean } = {}): ExchangeResult {
  return {
    request: { method: over.method ?? 'GET', url: over.url ?? '/a/b?c=d' },
    client: over.client ?? '127.0.0.1',
    status: over.status ?? 200,
    bytes: over.bytes ?? 20,
    upstream: over.upstream === undefined ? '127.0.0.1:9000' : over.upstream,
    duration: over.duration ?? 0.4567,
    error: null,
    aborted: over.aborted ?? false,
  } as unknown as ExchangeResult;
}

/** The line logAccess() produced through pino before this writer existed. */
function pinoLine(r: ExchangeResult): string {
  let out = '';
  const log = pino(
    { level: 'info', base: { pid: process.pid, role: 'worker' }, timestamp: pino.stdTimeFunctions.isoTime },
    { write: (s: string) => void (out += s) },
  );
  const q = r.request.url.indexOf('?');
  log.info(
    {
      client: r.client,
      method: r.request.method,
      path: q < 0 ? r.request.url : r.request.url.slice(0, q),
      status: r.status,
      bytes: r.bytes,
      upstream: r.upstream,
      duration: Math.round(r.duration * 100) / 100,
      ...(r.aborted ? { aborted: true } : {}),
    },
    'access',
  );
  return out;
}

const withoutTime = (line: string): string => line.replace(/"time":"[^"]*"/, '"time":"T"');

function fileLog(opts: Partial<ConstructorParameters<typeof AccessLog>[0]> = {}): { log: AccessLog; read: () => string } {
  const path = join(dir, `log-${files++}`);
  const fd = openSync(path, 'w');
  const log = new AccessLog({ fd, ...opts });
  t.teardown(() => {
    log.close();
    closeSync(fd);
  });
  return { log, read: () => readFileSync(path, 'utf8') };
}

t.test('jsonString is JSON.stringify for every code unit and for random strings', async (t) => {
  let bad = 0;
  for (let c = 0; c < 0x10000; c++) {
    const s = `a${String.fromCharCode(c)}b`;
    if (jsonString(s) !== JSON.stringify(s) && bad++ < 3) t.fail(`code unit ${c.toString(16)}: ${jsonString(s)}`);
  }
  t.equal(bad, 0, 'all 65536 code units, controls, quotes, backslashes, non-ASCII and lone surrogates');
  const fixed = ['', '/', '"', '\\', '\\"', '\n\r\t\b\f\u0000\u001f\u007f', 'é中😀', '\ud800', 'x\udc00', '\u2028\u2029', '/a?b', 'x'.repeat(10_000)];
  for (const [i, s] of fixed.entries()) {
    // Named by index: some of these (U+2028) would break the TAP line if printed.
    t.equal(jsonString(s), JSON.stringify(s), `fixed string ${i}`);
    t.equal(JSON.parse(jsonString(s)), s, `fixed string ${i} round-trips`);
  }
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
  for (let i = 0; i < 2000; i++) {
    let s = '';
    const len = rand(40);
    // Mostly ASCII, some controls, some anywhere in the BMP (surrogates included).
    for (let j = 0; j < len; j++) s += String.fromCharCode(rand(4) === 0 ? rand(0x10000) : rand(4) === 0 ? rand(0x20) : 0x20 + rand(0x5f));
    if (jsonString(s) !== JSON.stringify(s)) {
      t.fail(`random string ${JSON.stringify(s)}`);
      break;
    }
  }
});

t.test('jsonDuration is JSON of Math.round(ms * 100) / 100', async (t) => {
  const values = [0, 0.001, 0.004, 0.005, 0.015, 0.1, 0.25, 1, 1.005, 1.1, 2.675, 9.99, 10, 99.995, 123.456, 1e6 + 0.07, 2 ** 40 / 7, 9.99e12, 1e13, 1e15, 1e300, -1, -0.004, NaN, Infinity, -Infinity];
  let seed = 11;
  const rand = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let i = 0; i < 100_000; i++) values.push(rand() * 10 ** Math.floor(rand() * 14));
  let bad = 0;
  for (const v of values) {
    const want = JSON.stringify(Math.round(v * 100) / 100);
    if (jsonDuration(v) !== want && bad++ < 5) t.fail(`${v}: ${jsonDuration(v)} instead of ${want}`);
  }
  t.equal(bad, 0, `${values.length} durations, edge cases and random magnitudes`);
});

t.test('the line is the one pino wrote, field for field', async (t) => {
  const { log } = fileLog();
  const cases = [
    result(),
    result({ aborted: true }),
    result({ upstream: null, status: 502, bytes: 0 }),
    result({ url: '/no-query', method: 'POST', client: '2001:db8::1', duration: 1234.5678 }),
    result({ url: '/q"uote/back\\slash/ctl\u0001\u001f/é中😀?x="y"', method: 'M"\\' }),
    result({ duration: 0 }),
    result({ duration: 0.005 }),
  ];
  for (const r of cases) t.equal(withoutTime(log.line(r)), withoutTime(pinoLine(r)), `${r.request.method} ${r.request.url}`);
  const line = log.line(result());
  t.match(line, /^\{"level":30,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","pid":\d+,"role":"worker","client":"127\.0\.0\.1",/);
  t.ok(line.endsWith('"msg":"access"}\n'), 'one line, newline-terminated');
  const parsed = JSON.parse(log.line(result({ duration: NaN }))) as { duration: unknown };
  t.equal(parsed.duration, null, 'a non-finite duration is JSON null, as JSON.stringify writes it');
  const t0 = Date.parse(JSON.parse(log.line(result())).time as string);
  t.ok(Math.abs(t0 - Date.now()) < 1000, 'time is now');
});

t.test('batches: written when past flushBytes, or after flushDelay, or on flush(); every line whole', async (t) => {
  const { log, read } = fileLog({ flushBytes: 2000, flushDelay: 30 });
  log.write(result({ url: '/first' }));
  t.equal(read(), '', 'one line waits in the batch');
  await new Promise((r) => setTimeout(r, 150));
  t.equal(read().split('\n').filter(Boolean).length, 1, 'written after the flush delay');
  // Line by line: the batch goes out with the line that takes it to 2000 bytes (ASCII lines: bytes are characters), not before.
  let chars = 0;
  let firstOut = -1;
  for (let i = 0; i < 20; i++) {
    const r = result({ url: `/size/${i}` });
    chars += log.line(r).length;
    log.write(r);
    if (firstOut < 0 && read().split('\n').filter(Boolean).length > 1) firstOut = chars;
    else if (firstOut < 0 && chars >= 2000) t.fail(`${chars} bytes batched and not written`);
  }
  t.ok(firstOut >= 2000, `written as soon as the batch passed 2000 bytes (at ${firstOut})`);
  log.flush();
  const lines = read().split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  t.equal(lines.length, 21, 'every line out after flush()');
  t.same(lines.map((l) => (JSON.parse(l) as { path: string }).path), ['/first', ...Array.from({ length: 20 }, (_, i) => `/size/${i}`)], 'in order');
});

t.test('writes cut at line boundaries when limited (pipes): long lines go alone, nothing lost', async (t) => {
  const { log, read } = fileLog({ maxWrite: 300 });
  const paths: string[] = [];
  for (let i = 0; i < 500; i++) {
    const path = i % 50 === 7 ? `/long/${i}/${'x'.repeat(1000)}` : `/p/${i}/${'é'.repeat(i % 13)}`;
    paths.push(path);
    log.write(result({ url: path }));
  }
  log.flush();
  const lines = read().split('\n').filter(Boolean);
  t.same(lines.map((l) => (JSON.parse(l) as { path: string }).path), paths, 'every line, whole, in order');
});

t.test('a reader that stops reading: no exception, no blocking; lines past the cap dropped, counted, and the rest delivered', async (t) => {
  const sockPath = join(dir, 'sock');
  let received = '';
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(sockPath, resolve));
  const client = net.connect(sockPath);
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const peer = await accepted;
  peer.pause();
  peer.on('data', (d: Buffer) => void (received += d.toString('utf8')));
  t.teardown(() => {
    client.destroy();
    peer.destroy();
    server.close();
  });
  const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
  t.ok(fd > 0, 'the socket fd (non-blocking, as libuv opens it)');
  const log = new AccessLog({ fd, flushBytes: 4096, flushDelay: 20, maxPending: 256 * 1024 });
  t.teardown(() => log.close());

  const total = 20_000;
  const started = Date.now();
  for (let i = 0; i < total; i++) log.write(result({ url: `/s/${i}` }));
  t.ok(Date.now() - started < 5000, `writing ${total} lines into a full socket did not block (${Date.now() - started} ms)`);

  peer.resume();
  // The retry timer delivers what waited; the drop count follows once everything is out.
  const deadline = Date.now() + 10_000;
  while (!received.includes('"dropped":') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 30));
    log.flush();
  }
  const lines = received.split('\n');
  t.equal(lines.pop(), '', 'ends with a whole line');
  const parsed = lines.map((l) => JSON.parse(l) as { msg: string; path?: string; dropped?: number; level: number });
  const access = parsed.filter((l) => l.msg === 'access');
  const report = parsed.find((l) => l.dropped !== undefined);
  t.ok(report, 'a line reports the dropped lines');
  t.equal(report?.level, 40, 'at warn level');
  t.ok(access.length < total, `some lines were dropped (${access.length} delivered)`);
  t.equal(access.length + (report?.dropped ?? 0), total, 'delivered + dropped = written');
  const indices = access.map((l) => Number(l.path!.split('/')[2]));
  t.ok(indices.every((v, i) => i === 0 || v > indices[i - 1]!), 'delivered in order, none twice');
});
