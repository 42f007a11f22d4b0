/**
 * The `portcullis` command line: flags → {@link ParsedArgs}, every value checked, errors that name
 * the flag, what is wrong and the fix.
 */
import { parseArgs as parseNodeArgs } from 'node:util';
import type { ServerAddress } from '@portcullis/core';
import { ConfigError, type Checked, type ConfigIssue } from './errors.js';
import { didYouMean } from './suggest.js';
import { adminDefaults, type ListenerConfig, type LogLevel } from './types.js';
import { checkAdminListen } from './admin.js';
import { checkCidr, checkListen, checkLogLevel, checkServer, checkWorkers, unifyProtocol, type ServerTarget } from './values.js';

/** What the command line asked for; values are checked and typed, unset flags are absent. */
export interface ParsedArgs {
  /** `--config FILE`: the file provides everything but the overrides below. */
  config?: string;
  /** `--listen` addresses in order; empty when none was given. */
  listen: ListenerConfig[];
  /** `--to` servers: one upstream, round-robin. Absent when no --to was given. */
  to?: { protocol: 'http' | 'https'; servers: ServerAddress[] };
  /** `--workers` (also overrides the file). */
  workers?: number;
  /** `--log-level` (also overrides the file). */
  logLevel?: LogLevel;
  /** false with `--no-access-log` (also overrides the file). */
  accessLog?: boolean;
  /** `--trust-proxy` CIDRs, normalised (a bare address gets /32 or /128). */
  trustProxy: string[];
  /**
   * `--admin [ADDR]`: where the admin endpoint listens (over the file's `admin`, and the demo's);
   * null with `--admin off`. Absent when not given.
   */
  admin?: ListenerConfig | null;
}

export const commandLineSource = 'command line';

export const usage = `Usage: portcullis [options]

  portcullis --listen 127.0.0.1:8080 --to http://127.0.0.1:9000 [--to http://127.0.0.1:9001 ...]
  portcullis --config portcullis.yaml [--workers N] [--log-level L] [--no-access-log] [--admin ADDR]
  portcullis                     (demo: a built-in origin behind http://127.0.0.1:8080,
                                 the admin endpoint on http://${adminDefaults.host}:${adminDefaults.port})
  portcullis check --config portcullis.yaml
                                 (validate, print the listeners, routes and upstreams, and exit;
                                 exit status 2 with the errors otherwise)

  SIGHUP (or POST /reload on the admin endpoint) reads the configuration file again and switches
  routes and upstreams without closing any connection; SIGTERM stops gracefully.

Options:
  -l, --listen ADDR      Accept connections on host:port ([::1]:8080 for IPv6; a bare port
                         means 127.0.0.1:port). Repeatable. Default 127.0.0.1:8080.
      --to URL           An origin server, http://host:port or https://host:port (no path).
                         Repeat for several servers of one upstream, used round-robin.
  -c, --config FILE      Read everything from a YAML file (see examples/portcullis.yaml).
  -w, --workers N        Worker processes, or "auto" for one per CPU (the default).
      --log-level L      fatal, error, warn, info (default), debug, trace or silent.
      --no-access-log    Do not log one line per request.
      --trust-proxy CIDR Believe X-Forwarded-* from these addresses, e.g. 10.0.0.0/8.
                         Repeatable, or comma-separated.
      --admin [ADDR]     Serve /metrics, /live, /ready and /status on host:port (default
                         ${adminDefaults.host}:${adminDefaults.port}); overrides the file's admin.listen. "off"
                         turns it off (the demo serves it unless --admin off).
  -h, --help             Show this help.
  -v, --version          Show the version.
`;

const options = {
  listen: { type: 'string', short: 'l', multiple: true },
  to: { type: 'string', multiple: true },
  config: { type: 'string', short: 'c' },
  workers: { type: 'string', short: 'w' },
  'log-level': { type: 'string' },
  'no-access-log': { type: 'boolean' },
  'trust-proxy': { type: 'string', multiple: true },
  // Its value is optional, so node must not take the next argument for it: read by hand below.
  admin: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

type Flag = keyof typeof options;
const flags = Object.keys(options) as Flag[];
const examples: Record<Flag, string> = {
  listen: '--listen 127.0.0.1:8080',
  to: '--to http://127.0.0.1:9000',
  config: '--config portcullis.yaml',
  workers: '--workers 4',
  'log-level': '--log-level debug',
  'no-access-log': '--no-access-log',
  'trust-proxy': '--trust-proxy 10.0.0.0/8',
  admin: `--admin ${adminDefaults.host}:${adminDefaults.port}`,
  help: '--help',
  version: '--version',
};

/**
 * Parse `argv` (without the node and script paths). Help and version win over everything else.
 * @throws ConfigError listing every bad flag.
 */
export function parseArgs(argv: string[]): ParsedArgs | { help: true } | { version: true } {
  const { tokens } = parseNodeArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const named = tokens.filter((t) => t.kind === 'option');
  if (named.some((t) => t.name === 'help')) return { help: true };
  if (named.some((t) => t.name === 'version')) return { version: true };

  const issues: ConfigIssue[] = [];
  const report = (key: string | undefined, problem: string, fix: string): void => {
    issues.push({ source: commandLineSource, ...(key === undefined ? {} : { key }), problem, fix });
  };
  const values = new Map<Flag, string[]>();
  let accessLog: boolean | undefined;
  // After an unknown option, or a value-taking option followed by another option, the next bare
  // word was most likely meant as that option's value: one report is enough.
  let swallowNext = false;
  // `--admin` takes the next bare word, if any, as its address: `--admin`, `--admin 9902`.
  const admin: Array<{ written: string; value: string | undefined }> = [];
  let adminValueNext = false;

  for (const token of tokens) {
    const swallow = swallowNext;
    const adminValue = adminValueNext;
    swallowNext = false;
    adminValueNext = false;
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      if (adminValue) {
        const last = admin[admin.length - 1]!;
        last.value = token.value;
        last.written += ` ${token.value}`;
        continue;
      }
      if (swallow) continue;
      const value = token.value;
      const fix = /\.ya?ml$/i.test(value)
        ? `write --config ${value}`
        : /^[a-z]+:\/\//i.test(value) || /:\d+$/.test(value)
          ? `write --to ${value} for an origin server, or --listen ${value} for an address to accept connections on`
          : 'remove it; see --help';
      report(undefined, `unexpected argument ${JSON.stringify(value)}`, fix);
      continue;
    }
    const flag = token.name as Flag;
    if (!(flag in options)) {
      const guess = didYouMean(token.rawName, flags.map((f) => `--${f}`));
      report(token.rawName, `unknown option${guess ? ` (did you mean ${guess}?)` : ''}`, guess ? `write ${guess}` : 'see --help for the options');
      swallowNext = !token.inlineValue;
      continue;
    }
    const spec = options[flag];
    if (flag === 'admin') {
      admin.push({ written: token.inlineValue ? `${token.rawName}=${token.value}` : token.rawName, value: token.inlineValue ? token.value : undefined });
      adminValueNext = !token.inlineValue;
      continue;
    }
    if (spec.type === 'boolean') {
      if (token.inlineValue) report(token.rawName, `takes no value, got ${JSON.stringify(token.value)}`, `write just ${examples[flag]}`);
      else if (flag === 'no-access-log') accessLog = false;
      continue;
    }
    const value = token.value;
    if (value === undefined || (!token.inlineValue && value.startsWith('-') && !/^-\d/.test(value))) {
      report(
        token.rawName,
        value === undefined ? 'needs a value' : `needs a value, but is followed by the option ${value}`,
        `write it like ${examples[flag]}${value !== undefined ? `, or ${token.rawName}=${value} if the value really starts with "-"` : ''}`,
      );
      swallowNext = value !== undefined;
      continue;
    }
    const list = values.get(flag) ?? [];
    if (!('multiple' in spec) && list.length > 0) {
      report(token.rawName, `is given twice (${JSON.stringify(list[0])} and ${JSON.stringify(value)})`, `keep one ${token.rawName}`);
      continue;
    }
    list.push(value);
    values.set(flag, list);
  }

  const check = <T>(flag: Flag, value: string, checker: (v: string) => Checked<T>): T | undefined => {
    const checked = checker(value);
    if (checked.ok) return checked.value;
    report(`--${flag}`, checked.problem, checked.fix);
    return undefined;
  };

  const result: ParsedArgs = { listen: [], trustProxy: [] };
  const config = values.get('config')?.[0];
  if (config !== undefined) {
    if (config.trim() === '') report('--config', 'names no file', `write it like ${examples.config}`);
    else result.config = config;
  }
  for (const v of values.get('listen') ?? []) {
    const listener = check('listen', v, checkListen);
    if (!listener) continue;
    if (result.listen.some((l) => l.host === listener.host && l.port === listener.port)) {
      report('--listen', `${JSON.stringify(v)} is given twice`, 'remove one of them');
    } else result.listen.push(listener);
  }
  const targets: ServerTarget[] = [];
  for (const v of values.get('to') ?? []) {
    const target = check('to', v, checkServer);
    if (target) targets.push(target);
  }
  if (targets.length > 0) {
    const unified = unifyProtocol(targets);
    if (unified.ok) result.to = unified.value;
    else report('--to', unified.problem.replace('mixes', 'the --to servers mix'), 'use the same scheme for every --to, or write a config file with two upstreams');
  }
  for (const v of values.get('trust-proxy') ?? []) {
    for (const part of v.split(',')) {
      const cidr = check('trust-proxy', part.trim(), checkCidr);
      if (cidr) result.trustProxy.push(cidr);
    }
  }
  const workers = values.get('workers')?.[0];
  if (workers !== undefined) {
    const n = check('workers', workers, checkWorkers);
    if (n !== undefined) result.workers = n;
  }
  const level = values.get('log-level')?.[0];
  if (level !== undefined) {
    const l = check('log-level', level, checkLogLevel);
    if (l !== undefined) result.logLevel = l;
  }
  if (accessLog !== undefined) result.accessLog = accessLog;
  if (admin.length > 1) {
    report('--admin', `is given ${admin.length === 2 ? 'twice' : `${admin.length} times`} (${admin.map((a) => a.written).join(', ')})`, 'keep one --admin');
  } else if (admin.length === 1) {
    const value = admin[0]!.value?.trim();
    if (value === undefined) result.admin = { host: adminDefaults.host, port: adminDefaults.port };
    else if (value.toLowerCase() === 'off') result.admin = null;
    else {
      const address = check('admin', value, checkAdminListen);
      if (address) result.admin = address;
    }
  }

  if (values.has('config')) {
    const fileKey = { to: 'upstreams', listen: 'listen', 'trust-proxy': 'trusted_proxies' } as const;
    for (const flag of ['to', 'listen', 'trust-proxy'] as const) {
      if (values.has(flag)) {
        report(
          `--${flag}`,
          'cannot be combined with --config, which provides upstreams, listeners and trusted proxies',
          `put it in the config file (${fileKey[flag]}), or drop --config; ` +
            'only --workers, --log-level, --no-access-log and --admin override the file',
        );
      }
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return result;
}
