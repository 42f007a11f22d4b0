/**
 * Test certificates, made at run time with the openssl command (nothing that expires is
 * committed): a CA, and leaf certificates it signs for given DNS names and IP addresses, valid for
 * two days. EC P-256 keys by default (fast to make); RSA on request. Files go to a temp directory
 * removed in t.teardown.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export interface Pem {
  /** Path of the PEM file. */
  path: string;
  /** Its text. */
  pem: string;
}

export interface TestCa {
  dir: string;
  cert: Pem;
  key: Pem;
}

export interface Leaf {
  /** Leaf and CA certificate, leaf first (like certbot's fullchain.pem). */
  chain: Pem;
  /** The leaf certificate alone. */
  cert: Pem;
  key: Pem;
  /** SHA-256 fingerprint as Node prints it (`AB:CD:…`). */
  fingerprint: string;
}

export interface LeafOptions {
  dns?: string[];
  ip?: string[];
  keyType?: 'ec' | 'rsa';
  /** Also usable as a TLS client certificate (mTLS). */
  client?: boolean;
  /** Sign this existing key (a new certificate for the same key) instead of making a new one. */
  keyFrom?: string;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() || e.message}`);
  }
}

const read = (path: string): Pem => ({ path, pem: readFileSync(path, 'utf8') });

/** A temp directory removed at the end of the test. */
export function certDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-certs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function keyArgs(keyType: 'ec' | 'rsa'): string[] {
  return keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
}

export function makeCa(dir: string, name = 'Portcullis Test CA'): TestCa {
  const prefix = name.replace(/\W+/g, '-').toLowerCase();
  openssl(['req', '-x509', ...keyArgs('ec'), '-nodes', '-keyout', `${prefix}.key`, '-out', `${prefix}.pem`, '-days', '2', '-subj', `/CN=${name}`], dir);
  return { dir, cert: read(join(dir, `${prefix}.pem`)), key: read(join(dir, `${prefix}.key`)) };
}

let serial = 0;

/** A leaf certificate signed by `ca`, written as `<name>.pem` (chain), `<name>.crt` and `<name>.key`. */
export function issue(ca: TestCa, name: string, opts: LeafOptions = {}): Leaf {
  const dir = ca.dir;
  const san = [...(opts.dns ?? []).map((d) => `DNS:${d}`), ...(opts.ip ?? []).map((i) => `IP:${i}`)];
  const ext = [
    ...(san.length ? [`subjectAltName=${san.join(',')}`] : []),
    'basicConstraints=CA:FALSE',
    `keyUsage=digitalSignature${opts.keyType === 'rsa' ? ',keyEncipherment' : ''}`,
    `extendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}`,
  ].join('\n');
  writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
  const cn = opts.dns?.[0] ?? opts.ip?.[0] ?? name;
  if (opts.keyFrom) {
    writeFileSync(join(dir, `${name}.key`), readFileSync(opts.keyFrom));
    openssl(['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  } else {
    openssl(['req', '-new', ...keyArgs(opts.keyType ?? 'ec'), '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  }
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert.path, '-CAkey', ca.key.path, '-set_serial', String(Date.now() * 100 + (serial++ % 100)), '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`],
    dir,
  );
  const cert = read(join(dir, `${name}.crt`));
  writeFileSync(join(dir, `${name}.pem`), cert.pem + ca.cert.pem);
  const x509 = execFileSync('openssl', ['x509', '-in', cert.path, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
  return {
    chain: read(join(dir, `${name}.pem`)),
    cert,
    key: read(join(dir, `${name}.key`)),
    fingerprint: x509.trim().replace(/^.*=/, ''),
  };
}
