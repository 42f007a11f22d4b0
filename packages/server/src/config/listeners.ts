/**
 * The `listen` key: plain addresses, TLS listeners with their certificates, and plain listeners
 * that redirect to https. Certificate files are read and checked here, so a missing file, a key
 * that does not match or a name the certificate does not cover is refused at start, with the key.
 */
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { checkRouteHost } from '@portcullis/core';
import { checkCertificateText, nameCovers } from '../tls/certificates.js';
import { describe } from './errors.js';
import { field, listItems, mapping, type KeyPath, type Raw, type SchemaContext } from './fields.js';
import { buildHttp2 } from './listener-http2.js';
import { listOf } from './suggest.js';
import {
  defaultListener,
  redirectStatuses,
  tlsDefaults,
  tlsVersions,
  type CertificateFiles,
  type HstsConfig,
  type ListenerConfig,
  type ListenerTlsConfig,
  type RedirectConfig,
  type TlsVersion,
} from './types.js';
import { checkBoolean, checkInteger, checkListen } from './values.js';

const listenerKeys = ['address', 'tls', 'redirect_https', 'http2'] as const;
const listenerTlsKeys = ['cert', 'key', 'names', 'certificates', 'default_certificate', 'min_version', 'ciphers', 'hsts', 'watch'] as const;
const certificateKeys = ['cert', 'key', 'names'] as const;
const hstsKeys = ['max_age', 'include_subdomains', 'preload'] as const;
const redirectKeys = ['port', 'status'] as const;

/** hstspreload.org refuses a max-age under one year. */
const preloadMinAge = 31_536_000;

function checkNames(ctx: SchemaContext, path: KeyPath, value: unknown): string[] | null {
  if (!Array.isArray(value) || value.length === 0) {
    ctx.report(path, Array.isArray(value) ? 'lists no name' : `expected a list of host names, got ${describe(value)}`, 'list the SNI names, e.g. [sso.domain.tld, "*.domain.tld"], or remove "names" to use the names in the certificate');
    return null;
  }
  const names: string[] = [];
  value.forEach((item, i) => {
    // SNI names follow the grammar of route hosts, so one rule (the core's) checks both.
    const checked = checkRouteHost(item);
    if (!checked.ok) return ctx.report([...path, i], checked.problem, checked.fix);
    if (isIP(checked.value) || checked.value.startsWith('[')) {
      return ctx.report([...path, i], `${JSON.stringify(item)} is an IP address, but clients send only host names in SNI`, 'remove it; a client that connects by address gets the default certificate');
    }
    names.push(checked.value);
  });
  return names;
}

function filePath(ctx: SchemaContext, path: KeyPath, raw: Raw, key: 'cert' | 'key'): string | undefined {
  const value = raw[key];
  const fix = key === 'cert'
    ? 'name the PEM certificate chain, leaf first, e.g. "/etc/letsencrypt/live/domain.tld/fullchain.pem"'
    : 'name the PEM private key, e.g. "/etc/letsencrypt/live/domain.tld/privkey.pem"';
  if (value === undefined) {
    ctx.report(path, `has no "${key}"`, `add "${key}": ${fix.replace(/^name/, 'the path of')}`);
    return undefined;
  }
  if (typeof value !== 'string' || value.trim() === '') {
    ctx.report([...path, key], `expected a file path, got ${describe(value)}`, fix);
    return undefined;
  }
  return ctx.resolvePath(value);
}

/** One certificate: files and names, read and checked now (and again on every reload). */
function buildCertificate(ctx: SchemaContext, path: KeyPath, raw: Raw): { files: CertificateFiles; names: string[] } | undefined {
  const certFile = filePath(ctx, path, raw, 'cert');
  const keyFile = filePath(ctx, path, raw, 'key');
  const names = 'names' in raw ? checkNames(ctx, [...path, 'names'], raw['names']) : null;
  if (certFile === undefined || keyFile === undefined || ('names' in raw && names === null)) return undefined;
  const files: CertificateFiles = { certFile, keyFile, names };
  const cert = ctx.readFile(certFile);
  if (!cert.ok) return void ctx.report([...path, 'cert'], cert.problem, cert.fix);
  const key = ctx.readFile(keyFile);
  if (!key.ok) return void ctx.report([...path, 'key'], key.problem, key.fix);
  const checked = checkCertificateText(files, cert.value, key.value);
  if (!checked.ok) {
    const at = checked.file === keyFile && checked.file !== certFile ? 'key' : checked.reason.includes('is not valid for') ? 'names' : 'cert';
    ctx.report(
      [...path, at === 'names' && !('names' in raw) ? 'cert' : at],
      `${checked.file} ${checked.reason}`,
      at === 'names'
        ? 'list only names the certificate covers, or use a certificate issued for them'
        : at === 'key'
          ? 'give the private key of this certificate (certbot: privkey.pem next to fullchain.pem)'
          : 'give a PEM certificate chain, leaf first (certbot: fullchain.pem)',
    );
    return undefined;
  }
  return { files, names: checked.certificate.names };
}

function buildHsts(ctx: SchemaContext, path: KeyPath, value: unknown): HstsConfig | null {
  if (value === false) return null;
  if (value === true) return { ...tlsDefaults.hsts };
  const raw = mapping(ctx, path, value, hstsKeys, '"hsts: { max_age: 63072000, include_subdomains: false, preload: false }", or false');
  if (!raw) return null;
  const d = tlsDefaults.hsts;
  const hsts: HstsConfig = {
    maxAge: field(ctx, raw, path, 'max_age', (v) => checkInteger(v, 0, 2 ** 31 - 1, 'set it to the number of seconds browsers keep to https, e.g. 63072000 (two years); 0 tells them to forget'), d.maxAge, String(d.maxAge)),
    includeSubDomains: field(ctx, raw, path, 'include_subdomains', (v) => checkBoolean(v, 'write true to cover every subdomain too, else false'), d.includeSubDomains, 'false'),
    preload: field(ctx, raw, path, 'preload', (v) => checkBoolean(v, 'write true to ask for the browsers\' preload list, else false'), d.preload, 'false'),
  };
  if (hsts.preload && (!hsts.includeSubDomains || hsts.maxAge < preloadMinAge)) {
    ctx.report([...path, 'preload'], 'needs include_subdomains: true and max_age of at least 31536000 (one year), or the preload list refuses the site', 'set both, or remove "preload"');
  }
  return hsts;
}

function checkVersion(value: unknown): { ok: true; value: TlsVersion } | { ok: false; problem: string; fix: string } {
  const fix = `write ${listOf(tlsVersions)}`;
  const text = typeof value === 'number' ? value.toFixed(1) : typeof value === 'string' ? value.trim() : '';
  const m = /^(?:tls\s*v?)?(1(?:\.\d)?)$/i.exec(text);
  if (m) {
    const version = `TLSv${m[1]!.length === 1 ? '1.0' : m[1]}`;
    if ((tlsVersions as readonly string[]).includes(version)) return { ok: true, value: version as TlsVersion };
    if (version === 'TLSv1.0' || version === 'TLSv1.1') {
      return { ok: false, problem: `${version} is insecure and refused by the TLS library of uWS in any case`, fix: 'write TLSv1.2 (the default) or TLSv1.3' };
    }
  }
  if (/^(sslv|ssl)/i.test(text)) return { ok: false, problem: `${describe(value)} is long broken and not supported`, fix };
  return { ok: false, problem: `expected a TLS version, got ${describe(value)}`, fix };
}

function buildTls(ctx: SchemaContext, path: KeyPath, value: unknown): ListenerTlsConfig | undefined {
  const raw = mapping(ctx, path, value, listenerTlsKeys, '"tls: { cert: fullchain.pem, key: privkey.pem }"');
  if (!raw) return undefined;
  const built: Array<{ files: CertificateFiles; names: string[] } | undefined> = [];
  let problemCount = 0;
  const outer = ctx;
  ctx = { ...outer, report: (...args) => (problemCount++, outer.report(...args)) };
  if ('certificates' in raw) {
    for (const key of ['cert', 'key', 'names'] as const) {
      if (key in raw) ctx.report([...path, key], `is given together with "certificates"`, `move it into one of the "certificates", or use "cert" and "key" alone for one certificate`);
    }
    const list = raw['certificates'];
    if (!Array.isArray(list) || list.length === 0) {
      ctx.report([...path, 'certificates'], Array.isArray(list) ? 'lists no certificate' : `expected a list of certificates, got ${describe(list)}`, 'write it like "certificates: [{ cert: fullchain.pem, key: privkey.pem }]"');
      return undefined;
    }
    list.forEach((item, i) => {
      const itemPath = [...path, 'certificates', i];
      const c = mapping(ctx, itemPath, item, certificateKeys, '"{ cert: fullchain.pem, key: privkey.pem, names: [sso.domain.tld] }"');
      built.push(c ? buildCertificate(ctx, itemPath, c) : undefined);
    });
  } else if ('cert' in raw || 'key' in raw) {
    built.push(buildCertificate(ctx, path, raw));
  } else {
    ctx.report(path, 'has no certificate', 'add "cert" and "key" (nginx ssl_certificate and ssl_certificate_key), or a list of "certificates" for several');
    return undefined;
  }
  const problems = problemCount > 0;

  // Each SNI name is served by one certificate.
  const owner = new Map<string, number>();
  built.forEach((c, i) => {
    for (const name of c?.names ?? []) {
      const earlier = owner.get(name);
      if (earlier !== undefined) {
        ctx.report([...path, 'certificates', i], `serves "${name}", which certificates[${earlier}] serves already`, 'give each name to one certificate with "names"');
      } else owner.set(name, i);
    }
  });

  let defaultCertificate = 0;
  if ('default_certificate' in raw) {
    const name = raw['default_certificate'];
    const key = [...path, 'default_certificate'];
    if (typeof name !== 'string' || name.trim() === '') {
      ctx.report(key, `expected a host name, got ${describe(name)}`, 'write a name one of the certificates serves, e.g. sso.domain.tld');
    } else if (!problems) {
      const wanted = name.trim().toLowerCase();
      const index = built.findIndex((c) => c !== undefined && c.names.some((n) => n === wanted || nameCovers(n, wanted)));
      if (index < 0) {
        const all = built.flatMap((c) => c?.names ?? []);
        ctx.report(key, `no certificate serves "${name}"`, all.length ? `write one of ${listOf(all)}` : 'add "names" to the certificates');
      } else defaultCertificate = index;
    }
  }

  const minVersion = field(ctx, raw, path, 'min_version', checkVersion, tlsDefaults.minVersion, tlsDefaults.minVersion);
  let ciphers: string | null = null;
  if ('ciphers' in raw) {
    ciphers = field<string | null>(
      ctx,
      raw,
      path,
      'ciphers',
      (v) => {
        const fix = 'write an OpenSSL cipher list such as "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", or remove it for the default';
        if (typeof v !== 'string' || v.trim() === '') return { ok: false, problem: `expected a cipher list, got ${describe(v)}`, fix };
        try {
          createSecureContext({ ciphers: v.trim() });
        } catch {
          return { ok: false, problem: `${JSON.stringify(v)} names no cipher the TLS library knows`, fix };
        }
        return { ok: true, value: v.trim() };
      },
      null,
      'the built-in list',
    );
    if (ciphers !== null && minVersion === 'TLSv1.3') {
      ctx.report([...path, 'ciphers'], 'applies to TLS 1.2 only, and min_version is TLSv1.3 (the TLS 1.3 suites are fixed by the TLS library)', 'remove "ciphers", or set min_version: TLSv1.2');
    }
  }
  const hsts = 'hsts' in raw && raw['hsts'] !== null ? buildHsts(ctx, [...path, 'hsts'], raw['hsts']) : { ...tlsDefaults.hsts };
  const watch = field(ctx, raw, path, 'watch', (v) => checkBoolean(v, 'write false to reload only on SIGHUP, else true'), tlsDefaults.watch, 'true');
  if (built.some((c) => c === undefined)) return undefined;
  return {
    certificates: built.map((c) => c!.files),
    defaultCertificate,
    minVersion,
    ciphers,
    hsts,
    watch,
  };
}

function buildRedirect(ctx: SchemaContext, path: KeyPath, value: unknown): RedirectConfig | undefined {
  if (value === false) return undefined;
  if (value === true) return { port: 443, status: 301 };
  const raw = mapping(ctx, path, value, redirectKeys, '"redirect_https: true", or "redirect_https: { port: 8443 }"');
  if (!raw) return undefined;
  return {
    port: field(ctx, raw, path, 'port', (v) => checkInteger(v, 1, 65535, 'set it to the port of the https listener, e.g. 443 (left out of the URL) or 8443'), 443, '443'),
    status: field(
      ctx,
      raw,
      path,
      'status',
      (v) =>
        (redirectStatuses as readonly unknown[]).includes(v)
          ? { ok: true, value: v as RedirectConfig['status'] }
          : { ok: false, problem: `expected a redirect status, got ${describe(v)}`, fix: `use ${listOf(redirectStatuses.map(String))}; 301 is what the nginx guide uses` },
      301,
      '301',
    ),
  };
}

function buildListener(ctx: SchemaContext, path: KeyPath, item: unknown): ListenerConfig | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    const checked = checkListen(item);
    if (!checked.ok) return void ctx.report(path, checked.problem, checked.fix);
    return checked.value;
  }
  const raw = mapping(ctx, path, item, listenerKeys, '"{ address: 0.0.0.0:443, tls: { cert: fullchain.pem, key: privkey.pem } }"');
  if (!raw) return undefined;
  if (!('address' in raw)) {
    ctx.report(path, 'has no "address"', 'add the address to listen on, e.g. "address: 0.0.0.0:443"');
    return undefined;
  }
  const address = checkListen(raw['address']);
  if (!address.ok) ctx.report([...path, 'address'], address.problem, address.fix);
  const listener: ListenerConfig = address.ok ? address.value : { host: '', port: 0 };
  if ('tls' in raw && raw['tls'] !== null) {
    const tls = buildTls(ctx, [...path, 'tls'], raw['tls']);
    if (tls) listener.tls = tls;
  }
  if ('redirect_https' in raw && raw['redirect_https'] !== null) {
    if ('tls' in raw && raw['tls'] !== null) {
      ctx.report([...path, 'redirect_https'], 'is set on a TLS listener, which would redirect https to itself', 'put "redirect_https" on the plain listener (port 80), and keep "tls" here');
    } else {
      const redirect = buildRedirect(ctx, [...path, 'redirect_https'], raw['redirect_https']);
      if (redirect) listener.redirectHttps = redirect;
    }
  }
  if ('http2' in raw && raw['http2'] !== null) {
    const http2 = buildHttp2(ctx, [...path, 'http2'], raw['http2'], 'tls' in raw && raw['tls'] !== null);
    if (http2) listener.http2 = http2;
  }
  return address.ok ? listener : undefined;
}

export function buildListeners(ctx: SchemaContext, root: Raw): ListenerConfig[] {
  if (!('listen' in root)) return [{ ...defaultListener }];
  const value = root['listen'];
  const items = value === null ? [] : listItems(value);
  if (items.length === 0) {
    ctx.report(['listen'], 'lists no address, so the server would accept no connections', 'add an address such as "127.0.0.1:8080", or remove the key to use that default');
    return [];
  }
  const listeners: ListenerConfig[] = [];
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const path = Array.isArray(value) ? ['listen', i] : ['listen'];
    const listener = buildListener(ctx, path, item);
    if (listener === undefined) return;
    const id = `${listener.host}|${listener.port}`;
    if (seen.has(id)) {
      return ctx.report(path, `repeats the address of listen[${seen.get(id)}]`, 'remove one of the two');
    }
    seen.set(id, i);
    listeners.push(listener);
  });
  return listeners;
}
