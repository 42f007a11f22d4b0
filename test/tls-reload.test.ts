/**
 * Certificate reload without a restart: SIGHUP and file changes make the next handshakes use the
 * new certificate in every worker, connections already open carry on untouched, and a broken new
 * file is refused with a log line naming it while the certificate in use is kept.
 */
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import { certDir, issue, type Leaf, makeCa } from './lib/certs.js';
import type { LogLine } from './lib/cli.js';
import { parseHead } from './lib/http1.js';
import { startOrigin } from './lib/origins.js';
import { handshake, startCliWithConfig } from './lib/tls.js';
import { freePort, withTimeout } from './lib/util.js';

const T = { timeout: 60_000 };

const dir = certDir(t);
const ca = makeCa(dir);
const first = issue(ca, 'first', { dns: ['reload.test'] });
const watched = issue(ca, 'watched', { dns: ['watched.test'] });
const sni = issue(ca, 'sni', { dns: ['sni.test'] });
const second = issue(ca, 'second', { dns: ['reload.test'] });

/** The files the server reads: copies we overwrite, as certbot's live/ directory would change. */
const live = { cert: join(dir, 'live-cert.pem'), key: join(dir, 'live-key.pem') };
const liveWatched = { cert: join(dir, 'live-watched-cert.pem'), key: join(dir, 'live-watched-key.pem') };
const liveSni = { cert: join(dir, 'live-sni-cert.pem'), key: join(dir, 'live-sni-key.pem') };
const install = (to: { cert: string; key: string }, leaf: Leaf): void => {
  copyFileSync(leaf.key.path, to.key);
  copyFileSync(leaf.chain.path, to.cert);
};
install(live, first);
install(liveWatched, watched);
install(liveSni, sni);

/** Replace a file in one step (write aside, rename over), as editors and certbot do. */
function replaceFile(path: string, content: string): void {
  writeFileSync(`${path}.tmp`, content);
  renameSync(`${path}.tmp`, path);
}

const origin = await startOrigin(t);
const ports = { sighup: await freePort(), watched: await freePort() };
const cli = await startCliWithConfig(
  t,
  `workers: 2
listen:
  - address: 127.0.0.1:${ports.sighup}
    tls:
      certificates:
        - { cert: ${live.cert}, key: ${live.key} }
        - { cert: ${liveSni.cert}, key: ${liveSni.key} }
      watch: false
  - address: 127.0.0.1:${ports.watched}
    tls: { cert: ${liveWatched.cert}, key: ${liveWatched.key} }
upstreams:
  app: { servers: [127.0.0.1:${origin.port}] }
`,
  ports.sighup,
);

let reloads = 0;
const reloaded = (what: string): Promise<LogLine> => {
  const generation = ++reloads;
  return cli.waitForLine((l) => l.msg === 'certificates reloaded' && l['generation'] === generation, 10_000, `certificates reloaded (generation ${generation}) after ${what}`);
};

/** Fingerprints of `n` fresh handshakes (they spread over both workers). */
async function fingerprints(t: Test, port: number, n: number, servername?: string): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const h = await handshake(t, { port, ...(servername ? { servername } : {}) });
    if (!h.ok) throw new Error(`handshake failed: ${h.message}`);
    seen.add(h.fingerprint);
    h.socket.destroy();
  }
  return seen;
}

/** A keep-alive TLS connection that can send requests one after another. */
async function keepAliveConnection(t: Test, port: number): Promise<{ socket: tls.TLSSocket; get(path: string): Promise<number> }> {
  const h = await handshake(t, { port });
  if (!h.ok) throw new Error(`handshake failed: ${h.message}`);
  const socket = h.socket;
  let buf = Buffer.alloc(0);
  let waiter: ((status: number) => void) | null = null;
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    const head = parseHead(buf);
    if (!head) return;
    const length = Number(/content-length: (\d+)/i.exec(head.headers.map(([n, v]) => `${n}: ${v}`).join('\n'))?.[1] ?? 0);
    if (buf.length < head.length + length) return;
    buf = buf.subarray(head.length + length);
    const w = waiter;
    waiter = null;
    w?.(Number(head.startLine.split(' ')[1]));
  });
  return {
    socket,
    get: (path) =>
      withTimeout(
        new Promise<number>((resolve) => {
          waiter = resolve;
          socket.write(`GET ${path} HTTP/1.1\r\nHost: reload.test\r\n\r\n`);
        }),
        5000,
        `response to ${path} on the kept-alive connection`,
      ),
  };
}

t.test('SIGHUP: new handshakes in every worker get the new certificate, an open connection carries on', T, async (t) => {
  t.same(await fingerprints(t, ports.sighup, 6), new Set([first.fingerprint]), 'the first certificate at start');
  const open = await keepAliveConnection(t, ports.sighup);
  t.equal(await open.get('/before'), 200, 'the open connection works before the reload');

  install(live, second);
  const done = reloaded('SIGHUP');
  process.kill(cli.pid, 'SIGHUP');
  await done;
  t.same(await fingerprints(t, ports.sighup, 8), new Set([second.fingerprint]), 'every new handshake gets the second certificate');
  t.equal(await open.get('/after'), 200, 'the connection opened before the reload still serves requests');
  t.equal(open.socket.getPeerCertificate().fingerprint256, first.fingerprint, 'on its original certificate');
  t.ok(cli.lines.some((l) => l.msg === 'certificate loaded' && l['cert'] === live.cert && l['fingerprint'] === second.fingerprint), 'the supervisor logs the certificate it loaded');
  t.equal(cli.lines.filter((l) => l.msg === 'new TLS handshakes use the reloaded certificates').length, 2, 'both workers switched');

  // An SNI certificate is reloaded the same way.
  const sni2 = issue(ca, 'sni2', { dns: ['sni.test'] });
  install(liveSni, sni2);
  const doneSni = reloaded('SIGHUP for the SNI certificate');
  process.kill(cli.pid, 'SIGHUP');
  await doneSni;
  t.same(await fingerprints(t, ports.sighup, 4, 'sni.test'), new Set([sni2.fingerprint]), 'SNI sni.test gets its new certificate');
  t.same(await fingerprints(t, ports.sighup, 4), new Set([second.fingerprint]), 'the default certificate is unchanged');
  t.equal(await open.get('/after-two-reloads'), 200, 'the first connection outlives two reloads');
});

t.test('SIGHUP with a broken file: refused with the file and the reason, the certificate in use kept', T, async (t) => {
  const before = await fingerprints(t, ports.sighup, 1);
  replaceFile(live.cert, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
  const refusedAt = cli.lines.length;
  process.kill(cli.pid, 'SIGHUP');
  const refused = await cli.waitForLine((l) => cli.lines.indexOf(l) >= refusedAt && l.msg?.startsWith('certificate reload refused') === true, 10_000, 'the refusal');
  t.equal(refused['file'], live.cert, 'the log line names the file');
  t.match(String(refused['reason']), /cannot be parsed/, `and the reason: ${String(refused['reason'])}`);
  t.equal(refused['level'], 50, 'at error level');
  await cli.waitForLine((l) => cli.lines.indexOf(l) >= refusedAt && l.msg === 'certificates unchanged', 10_000, 'certificates unchanged');
  t.same(await fingerprints(t, ports.sighup, 4), before, 'handshakes still get the certificate in use');

  // A certificate whose key is another one's: refused too.
  const stranger = issue(ca, 'stranger', { dns: ['reload.test'] });
  replaceFile(live.cert, stranger.chain.pem);
  const mismatchAt = cli.lines.length;
  process.kill(cli.pid, 'SIGHUP');
  const mismatch = await cli.waitForLine((l) => cli.lines.indexOf(l) >= mismatchAt && l.msg?.startsWith('certificate reload refused') === true, 10_000, 'the key mismatch refusal');
  t.equal(mismatch['file'], live.key);
  t.match(String(mismatch['reason']), /the key does not belong to the certificate/);
  t.same(await fingerprints(t, ports.sighup, 4), before, 'still the certificate in use');
  install(live, second);
});

t.test('a changed file is picked up without a signal (watch), a broken one refused', T, async (t) => {
  t.same(await fingerprints(t, ports.watched, 2), new Set([watched.fingerprint]));
  const renewed = issue(ca, 'renewed', { dns: ['watched.test'], keyFrom: watched.key.path });
  const done = reloaded('the certificate file changed');
  replaceFile(liveWatched.cert, renewed.chain.pem);
  await done;
  t.same(await fingerprints(t, ports.watched, 6), new Set([renewed.fingerprint]), 'new handshakes get the renewed certificate');

  const at = cli.lines.length;
  replaceFile(liveWatched.cert, 'garbage\n');
  const refused = await cli.waitForLine(
    (l) => cli.lines.indexOf(l) >= at && l.msg?.startsWith('certificate reload refused') === true && l['cert'] === liveWatched.cert,
    10_000,
    'the refusal of the broken file',
  );
  t.equal(refused['file'], liveWatched.cert);
  t.match(String(refused['reason']), /has no PEM certificate/);
  t.same(await fingerprints(t, ports.watched, 4), new Set([renewed.fingerprint]), 'the renewed certificate is kept');
});
