/**
 * The admin endpoint (`admin:` in the file, `--admin` on the command line): where it listens, the
 * bearer token that guards it, and how long it waits for the workers. The rules about its address
 * (loopback unless a token guards it; never a listener's port) are one function, used for both.
 */
import { bad, describe, ok, type Checked } from './errors.js';
import { field, mapping, type KeyPath, type Raw, type SchemaContext } from './fields.js';
import { adminDefaults, type AdminConfig, type ListenerConfig } from './types.js';
import { checkDuration, checkListen, formatDuration, hostsOverlap, isLoopback } from './values.js';

export const adminKeys = ['listen', 'token_file', 'scrape_timeout'] as const;

/** `host:port`, IPv6 in brackets: for messages. */
export const formatAddress = (a: { host: string; port: number }): string => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;

const defaultAddress = (): string => formatAddress(adminDefaults);

/** The admin endpoint's own address: like a listener's (a bare port is 127.0.0.1:port). */
export function checkAdminListen(value: unknown): Checked<ListenerConfig> {
  if (value !== null && typeof value === 'object') {
    return bad(`expected a "host:port" string, got ${describe(value)}`, `write "host:port" such as "${defaultAddress()}"; the admin endpoint has no TLS (put it on loopback, or behind the proxy)`);
  }
  return checkListen(value, adminDefaults.port);
}

/**
 * The bearer token in a token file's text: trimmed, not empty, one word of visible ASCII (it is
 * compared with what follows `Authorization: Bearer `).
 */
export function checkToken(text: string, file: string): Checked<string> {
  const token = text.trim();
  if (token === '') return bad(`${JSON.stringify(file)} is empty, so there is no token`, `write the token into it, e.g. "openssl rand -hex 32 > ${file}"`);
  if (!/^[\x21-\x7e]+$/.test(token)) {
    return bad(`${JSON.stringify(file)} holds more than one word, or characters other than visible ASCII`, `keep only the token in it, e.g. "openssl rand -hex 32 > ${file}"`);
  }
  return ok(token);
}

export interface AdminAddressProblem {
  /** `exposed`: not loopback and no token; `port`: a listener's port. */
  rule: 'exposed' | 'port';
  /** The listener whose port it takes (rule `port`). */
  listener?: ListenerConfig;
  problem: string;
  fix: string;
}

/** What is wrong with where the admin endpoint listens: at most one problem per rule. */
export function adminAddressProblems(admin: AdminConfig, listeners: readonly ListenerConfig[]): AdminAddressProblem[] {
  const problems: AdminAddressProblem[] = [];
  const address = formatAddress(admin);
  if (admin.token === null && !isLoopback(admin.host)) {
    problems.push({
      rule: 'exposed',
      problem: `${address} is not a loopback address, and there is no token_file, so anyone who reaches it could read /metrics and /status`,
      fix: `add "token_file" (a file holding the bearer token clients must send), or listen on ${formatAddress({ host: '127.0.0.1', port: admin.port })}`,
    });
  }
  const clash = listeners.find((l) => l.port === admin.port && hostsOverlap(l.host, admin.host));
  if (clash !== undefined) {
    const used = new Set(listeners.map((l) => l.port));
    let free = adminDefaults.port;
    while (used.has(free)) free++;
    problems.push({
      rule: 'port',
      listener: clash,
      problem: `${address} takes port ${admin.port}, on which the listener ${formatAddress(clash)} accepts connections`,
      fix: `give the admin endpoint a port of its own, e.g. ${formatAddress({ host: admin.host, port: free })}`,
    });
  }
  return problems;
}

/** The top-level `admin` key: null when absent or off. `listeners` are the file's, for the port rule. */
export function buildAdmin(ctx: SchemaContext, root: Raw, listeners: readonly ListenerConfig[]): AdminConfig | null {
  const value = root['admin'];
  if (value === undefined || value === null || value === false || value === 'off') return null;
  const path: KeyPath = ['admin'];
  const raw = mapping(ctx, path, value, adminKeys, `"admin: { listen: ${defaultAddress()} }"`);
  if (!raw) return null;
  let address: ListenerConfig | undefined;
  if (!('listen' in raw) || raw['listen'] === null) {
    ctx.report('listen' in raw ? [...path, 'listen'] : path, 'has no "listen"', `add the address to serve it on, e.g. "listen: ${defaultAddress()}"`);
  } else {
    const checked = checkAdminListen(raw['listen']);
    if (checked.ok) address = checked.value;
    else ctx.report([...path, 'listen'], checked.problem, checked.fix);
  }
  let token: string | null = null;
  let tokenFile: string | null = null;
  let tokenOk = true;
  const file = field<string | undefined>(
    ctx,
    raw,
    path,
    'token_file',
    (v) => (typeof v === 'string' && v.trim() !== '' ? ok(v.trim()) : bad(`expected a file path, got ${describe(v)}`, 'name the file that holds the bearer token, e.g. "admin.token"')),
    undefined,
    'none',
  );
  if ('token_file' in raw && file === undefined) tokenOk = false;
  if (file !== undefined) {
    tokenFile = ctx.resolvePath(file);
    const read = ctx.readFile(file);
    const checked = read.ok ? checkToken(read.value, file) : read;
    if (checked.ok) token = checked.value;
    else {
      tokenOk = false;
      ctx.report([...path, 'token_file'], checked.problem, checked.fix);
    }
  }
  const scrapeTimeout = field(ctx, raw, path, 'scrape_timeout', (v) => checkDuration(v, formatDuration(adminDefaults.scrapeTimeout)), adminDefaults.scrapeTimeout, formatDuration(adminDefaults.scrapeTimeout));
  if (address === undefined) return null;
  const admin: AdminConfig = { host: address.host, port: address.port, token, tokenFile, scrapeTimeout };
  // A token file that could not be read is reported already; "no token" would only repeat it.
  for (const p of adminAddressProblems(admin, listeners)) {
    if (!tokenOk && p.rule === 'exposed') continue;
    ctx.report([...path, 'listen'], p.problem, p.fix);
  }
  return admin;
}

/**
 * `--admin` over the admin of the file (or of the demo): the address is the flag's, the token and
 * scrape timeout stay the file's. `undefined` keeps `current`; null turns it off.
 */
export function applyAdminFlag(current: AdminConfig | null, flag: ListenerConfig | null | undefined): AdminConfig | null {
  if (flag === undefined) return current;
  if (flag === null) return null;
  return {
    token: null,
    tokenFile: null,
    scrapeTimeout: adminDefaults.scrapeTimeout,
    ...current,
    host: flag.host,
    port: flag.port,
  };
}
