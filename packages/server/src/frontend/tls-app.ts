/**
 * A uWS SSLApp for one TLS listener, built from certificates the supervisor has read and checked.
 *
 * What uWS 20.30 gives and how it is used here (docs/http-edge.md lists what this uWS build gets wrong):
 * - `SSLApp({ cert_file_name, key_file_name, ssl_ciphers })` holds the default certificate: the one
 *   served when the client sends no SNI name or one no certificate claims.
 * - `addServerName(name, options)` adds a certificate for an exact name or a `*.domain` wildcard
 *   (one label, as browsers match). Each server name gets its own router: requests on a connection
 *   whose SNI picked it are routed only there, so every handler is mounted once per name too
 *   (`domain(name)`, then the same mount as for the default router).
 * - uWS reads certificates from files only, and a file it cannot use crashes the process in
 *   `addServerName` (a NULL SSL_CTX is dereferenced). So it never reads the user's files: the
 *   checked PEM text is written to a private snapshot (mode 0600, removed right after), and each
 *   extra certificate is first tried in a throwaway SSLApp, whose constructor fails with an
 *   exception instead.
 * - The TLS library is BoringSSL, linked in, with TLS 1.2 as its hard minimum (TLS 1.0/1.1 are
 *   always refused) and no way to raise it through uWS. TLS 1.3 only is obtained by allowing no
 *   TLS 1.2 cipher that can ever be negotiated: a PSK-only list (this server has no pre-shared key,
 *   so BoringSSL skips PSK suites), while TLS 1.3 suites are fixed and unaffected.
 * - A server name cannot be replaced while connections use it (`removeServerName` deletes its
 *   router under them: their next request finds the connection closed), and the default
 *   certificate cannot be replaced at all: a reload builds a new app (listener.ts swaps it in on
 *   the same port).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppOptions, TemplatedApp } from 'uWebSockets.js';
import { tlsDefaults, type ListenerTlsConfig } from '../config/index.js';
import type { LoadedCertificate } from '../tls/certificates.js';
import type { Uws } from './uws.js';

/** No TLS <= 1.2 handshake can agree on this without a pre-shared key, which the server never has. */
export const tls13OnlyCiphers = 'PSK-AES128-CBC-SHA';

/** RAM-backed when available: the key material in a snapshot never reaches a disk. */
function snapshotBase(): string {
  try {
    return mkdtempSync('/dev/shm/portcullis-tls-');
  } catch {
    return mkdtempSync(join(tmpdir(), 'portcullis-tls-'));
  }
}

export function ciphersFor(config: ListenerTlsConfig): string {
  return config.minVersion === 'TLSv1.3' ? tls13OnlyCiphers : (config.ciphers ?? tlsDefaults.ciphers);
}

/**
 * Build the app and mount the handlers on each of its routers (`mount` is called once for the
 * default router, then once per SNI name after `domain(name)`).
 * @throws Error naming the certificate file when the TLS library refuses a certificate.
 */
export function createTlsApp(
  uws: Uws,
  config: ListenerTlsConfig,
  certificates: readonly LoadedCertificate[],
  mount: (app: TemplatedApp) => void,
): { app: TemplatedApp; names: string[] } {
  const dir = snapshotBase();
  try {
    const ciphers = ciphersFor(config);
    const options: AppOptions[] = certificates.map((c, i) => {
      const cert = join(dir, `cert-${i}.pem`);
      const key = join(dir, `key-${i}.pem`);
      writeFileSync(key, c.key, { mode: 0o600 });
      writeFileSync(cert, c.cert, { mode: 0o600 });
      return { cert_file_name: cert, key_file_name: key, ssl_ciphers: ciphers };
    });
    const construct = (i: number): TemplatedApp => {
      try {
        return uws.SSLApp(options[i]!);
      } catch {
        const c = certificates[i]!;
        throw new Error(`the TLS library of uWS (BoringSSL) refuses the certificate ${c.certFile} with key ${c.keyFile}${config.minVersion === 'TLSv1.3' ? '' : ` or the cipher list "${ciphers}"`}`);
      }
    };
    // Names are claimed by the first certificate listing them (the config refuses overlaps).
    const claimed = new Map<string, number>();
    certificates.forEach((c, i) => {
      for (const name of c.names) if (!claimed.has(name)) claimed.set(name, i);
    });
    for (const i of new Set(claimed.values())) {
      if (i !== config.defaultCertificate) (construct(i) as TemplatedApp & { close(): void }).close();
    }
    const app = construct(config.defaultCertificate);
    for (const [name, i] of claimed) app.addServerName(name, options[i]!);
    mount(app);
    for (const name of claimed.keys()) mount(app.domain(name));
    return { app, names: [...claimed.keys()] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The Strict-Transport-Security value for `hsts`. */
export function hstsValue(hsts: { maxAge: number; includeSubDomains: boolean; preload: boolean }): string {
  return `max-age=${hsts.maxAge}${hsts.includeSubDomains ? '; includeSubDomains' : ''}${hsts.preload ? '; preload' : ''}`;
}
