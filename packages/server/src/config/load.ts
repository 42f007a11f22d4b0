/**
 * Loading: a YAML file (with positions for every key), the command line, or both, into one
 * validated {@link ServerConfig}. Every problem found is reported together in one ConfigError.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { forwardingDefaults, upstreamDefaults, websocketDefaults, type ServerAddress } from '@portcullis/core';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { adminAddressProblems, applyAdminFlag, formatAddress } from './admin.js';
import { commandLineSource, type ParsedArgs } from './args.js';
import { bad, type Checked, ConfigError, type ConfigIssue, ok } from './errors.js';
import { type Anchor, formatKeyPath, type KeyPath } from './fields.js';
import { buildServerConfig } from './schema.js';
import { adminDefaults, commandLineUpstreamName, defaultListener, demoUpstreamName, serverDefaults, type ServerConfig } from './types.js';

interface Position {
  line: number;
  column: number;
}

interface KeyPositions {
  key?: Position;
  value?: Position;
}

const reasons: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
};

function fileReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (code && reasons[code]) ?? (err instanceof Error ? err.message : String(err));
}

/** Fixes for the YAML parser's error codes. */
function yamlFix(code: string): string {
  switch (code) {
    case 'TAB_AS_INDENT':
      return 'indent with spaces; YAML does not allow tabs for indentation';
    case 'BAD_INDENT':
    case 'MULTILINE_IMPLICIT_KEY':
    case 'BLOCK_AS_IMPLICIT_KEY':
      return 'check the indentation: keys of one mapping start in the same column and nested values are indented further (a missing space after ":" causes this too)';
    case 'MISSING_CHAR':
      return 'add the missing character, often a closing "]", "}" or quote';
    case 'MULTIPLE_DOCS':
      return 'keep a single YAML document: remove the extra "---" line';
    case 'BAD_DQ_ESCAPE':
      return 'in double quotes write a backslash as "\\\\", or use single quotes';
    case 'BAD_ALIAS':
      return 'define the anchor (&name) before using the alias (*name)';
    default:
      return 'correct the YAML there; quote values that contain ": ", " #", "[", "{" or start with "*", "&" or "!"';
  }
}

/** Record where every key and value is, and report keys repeated within one mapping. */
function walk(node: unknown, path: KeyPath, lines: LineCounter, out: Map<string, KeyPositions>, issues: (path: KeyPath, problem: string, fix: string) => void): void {
  const at = (offset: number | undefined): Position | undefined => {
    if (offset === undefined) return undefined;
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const keyNode = pair.key as Node | null;
      const key = String(isScalar(keyNode) ? keyNode.value : keyNode);
      if (key === '<<') continue; // merge key: its entries have no place of their own
      const childPath = [...path, key];
      const valueNode = pair.value as Node | null;
      const positions: KeyPositions = {};
      const keyPos = at(keyNode?.range?.[0]);
      const valuePos = at(valueNode?.range?.[0]);
      if (keyPos) positions.key = keyPos;
      if (valuePos) positions.value = valuePos;
      if (seen.has(key)) {
        const name = formatKeyPath(childPath);
        out.set(`${name}\u0000dup`, positions);
        issues(
          [...childPath, '\u0000dup'],
          path.length === 1 && path[0] === 'upstreams' ? `two upstreams are named "${key}"` : `"${key}" appears twice in the same mapping, and the second would silently replace the first`,
          path.length === 1 && path[0] === 'upstreams' ? 'give each upstream its own name' : 'keep one of them',
        );
        continue;
      }
      seen.add(key);
      out.set(formatKeyPath(childPath), positions);
      walk(valueNode, childPath, lines, out, issues);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const childPath = [...path, i];
      const pos = at((item as Node | null)?.range?.[0]);
      out.set(formatKeyPath(childPath), pos ? { value: pos } : {});
      walk(item, childPath, lines, out, issues);
    });
  }
}

export interface ParseOptions {
  /** Directory that relative file paths in the config (TLS material) are resolved against. */
  baseDir?: string;
}

/**
 * Parse and validate the text of a config file. `source` names it in errors.
 * @throws ConfigError with every problem found.
 */
export function parseConfigText(text: string, source: string, options: ParseOptions = {}): ServerConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, merge: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((err): ConfigIssue => {
        const [summary = err.message, excerpt] = err.message.split(/ at line \d+, column \d+:?\n?\n?/);
        const pos = err.linePos?.[0];
        return {
          source,
          ...(pos ? { line: pos.line, column: pos.col } : {}),
          problem: `YAML syntax error: ${summary.replace(/\.$/, '')}`,
          fix: yamlFix(err.code),
          ...(excerpt ? { excerpt } : {}),
        };
      }),
    );
  }

  const positions = new Map<string, KeyPositions>();
  const found: { issue: ConfigIssue; order: number }[] = [];
  const report = (path: KeyPath, problem: string, fix: string, anchor: Anchor = 'value'): void => {
    const duplicate = path[path.length - 1] === '\u0000dup';
    const keyPath = duplicate ? path.slice(0, -1) : path;
    let pos: Position | undefined;
    if (duplicate) {
      pos = positions.get(`${formatKeyPath(keyPath)}\u0000dup`)?.key;
    } else {
      // The closest recorded place: the key or value itself, else its nearest ancestor.
      for (let n = path.length; n > 0 && pos === undefined; n--) {
        const p = positions.get(formatKeyPath(path.slice(0, n)));
        pos = n === path.length && anchor === 'key' ? (p?.key ?? p?.value) : (p?.value ?? p?.key);
      }
    }
    const key = formatKeyPath(keyPath);
    found.push({
      issue: { source, ...(key ? { key } : {}), ...(pos ? { line: pos.line, column: pos.column } : {}), problem, fix },
      order: found.length,
    });
  };
  walk(doc.contents, [], lines, positions, report);

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ConfigError({ source, problem: `cannot read the YAML: ${err instanceof Error ? err.message : String(err)}`, fix: 'simplify the anchors and aliases in the file' });
  }
  const baseDir = options.baseDir ?? process.cwd();
  const config = buildServerConfig(
    {
      report,
      readFile(path: string): Checked<string> {
        const full = resolve(baseDir, path);
        try {
          return ok(readFileSync(full, 'utf8'));
        } catch (err) {
          return bad(`cannot read ${JSON.stringify(path)} (${full}): ${fileReason(err)}`, 'check the path; a relative path is relative to the directory of the config file');
        }
      },
      resolvePath: (path: string) => resolve(baseDir, path),
    },
    value,
    source,
  );
  if (found.length > 0) {
    // In the order of the file; problems without a place (missing top-level keys) come last.
    found.sort((a, b) => (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) || (a.issue.column ?? 0) - (b.issue.column ?? 0) || a.order - b.order);
    throw new ConfigError(found.map((f) => f.issue));
  }
  return config;
}

/**
 * Read, parse and validate a config file.
 * @throws ConfigError naming the file, the key, what is wrong and the fix.
 */
export function loadConfigFile(path: string): ServerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError({
      source: path,
      problem: `cannot read the config file: ${fileReason(err)}`,
      fix: `check the path given to --config (relative paths start from ${process.cwd()})`,
    });
  }
  return parseConfigText(text, path, { baseDir: dirname(resolve(path)) });
}

/**
 * The config of `portcullis --to …` or of the demo: one upstream, a catch-all route. The demo
 * serves the admin endpoint at its default address; `--to` leaves it off (until `--admin`).
 */
function commandLineConfig(args: ParsedArgs, upstream: string, protocol: 'http' | 'https', servers: ServerAddress[], demo: boolean): ServerConfig {
  return {
    source: commandLineSource,
    listeners: args.listen.length > 0 ? args.listen.map((l) => ({ ...l })) : [{ ...defaultListener }],
    workers: args.workers ?? availableParallelism(),
    logLevel: args.logLevel ?? serverDefaults.logLevel,
    accessLog: args.accessLog ?? serverDefaults.accessLog,
    demo,
    proxy: {
      upstreams: [{ ...upstreamDefaults, name: upstream, protocol, servers }],
      routes: [{ hosts: [], pathPrefix: '/', stripPrefix: false, upstream }],
      forwarding: { ...forwardingDefaults, trustedProxies: [...args.trustProxy] },
      websocket: { ...websocketDefaults },
    },
    shutdownTimeout: serverDefaults.shutdownTimeout,
    drainDelay: serverDefaults.drainDelay,
    watch: serverDefaults.watch,
    sendTimeout: serverDefaults.sendTimeout,
    admin: demo ? { host: adminDefaults.host, port: adminDefaults.port, token: null, tokenFile: null, scrapeTimeout: adminDefaults.scrapeTimeout } : null,
  };
}

/**
 * `--admin` over the admin endpoint of the file or the demo, and its address checked against the
 * listeners (the file's were checked with the file).
 * @throws ConfigError
 */
function withAdminFlag(config: ServerConfig, args: ParsedArgs): ServerConfig {
  config.admin = applyAdminFlag(config.admin, args.admin);
  if (config.admin === null) return config;
  // Without --admin only the demo's default address can meet a --listen port.
  if (args.admin === undefined && !config.demo) return config;
  const issues: ConfigIssue[] = adminAddressProblems(config.admin, config.listeners).map((p) => {
    const loopback = formatAddress({ host: '127.0.0.1', port: config.admin!.port });
    if (args.admin === undefined) {
      return {
        source: commandLineSource,
        key: '--listen',
        problem: `${formatAddress(p.listener!)} takes port ${config.admin!.port}, on which the demo serves its admin endpoint`,
        fix: `listen on another port, or move the admin endpoint, e.g. --admin ${formatAddress({ host: adminDefaults.host, port: adminDefaults.port + 1 })} (or --admin off)`,
      };
    }
    const fix =
      p.rule === 'port'
        ? p.fix.replace('give the admin endpoint', 'give --admin')
        : args.config !== undefined
          ? `put "token_file" under admin in ${args.config} (a file holding the bearer token), or write --admin ${loopback}`
          : `write --admin ${loopback}; a token needs a config file (admin.token_file)`;
    return { source: commandLineSource, key: '--admin', problem: p.problem, fix };
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}

/**
 * The config the command line asks for: the --config file with --workers, --log-level,
 * --no-access-log and --admin applied over it; or one upstream of the --to servers; or, with neither, the
 * demo (whose upstream's servers are filled in by {@link withDemoOrigin} at start).
 * @throws ConfigError
 */
export function resolveConfig(args: ParsedArgs): ServerConfig {
  if (args.config !== undefined) {
    const config = loadConfigFile(args.config);
    if (args.workers !== undefined) config.workers = args.workers;
    if (args.logLevel !== undefined) config.logLevel = args.logLevel;
    if (args.accessLog !== undefined) config.accessLog = args.accessLog;
    return withAdminFlag(config, args);
  }
  if (args.to !== undefined) return withAdminFlag(commandLineConfig(args, commandLineUpstreamName, args.to.protocol, args.to.servers, false), args);
  return withAdminFlag(commandLineConfig(args, demoUpstreamName, 'http', [], true), args);
}

/** The demo config with its upstream pointed at the built-in origin the supervisor started. */
export function withDemoOrigin(config: ServerConfig, origin: ServerAddress): ServerConfig {
  if (!config.demo) throw new Error('withDemoOrigin: the config is not the demo config');
  return {
    ...config,
    proxy: {
      ...config.proxy,
      upstreams: config.proxy.upstreams.map((u) => (u.name === demoUpstreamName ? { ...u, servers: [{ ...origin }] } : u)),
    },
  };
}
