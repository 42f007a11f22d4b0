/**
 * The keys of an upstream that decide which server takes a request: its `servers` (a string, or a
 * mapping with `weight`, `backup` and `down`), `balance` with its `hash_key`, and `retry` (when a
 * failed attempt goes to another server). Defaults are the core's (upstreamDefaults, retryDefaults).
 */
import { retryDefaults, upstreamDefaults, type BalancePolicy, type HashKey, type RetryCondition, type RetryOptions, type ServerAddress } from '@portcullis/core';
import { bad, describe, ok, type Checked } from './errors.js';
import { field, isMapping, listItems, mapping, type KeyPath, type Raw, type SchemaContext } from './fields.js';
import { didYouMean, listOf } from './suggest.js';
import { checkBoolean, checkDurationOrOff, checkInteger, checkServer, formatDuration, unifyProtocol, type ServerTarget } from './values.js';

export const serverKeys = ['address', 'weight', 'backup', 'down'] as const;
export const balancePolicies = ['round_robin', 'least_request', 'random', 'hash'] as const satisfies readonly BalancePolicy[];
export const retryKeys = ['on', 'tries', 'timeout'] as const;
export const retryConditions = ['error', 'timeout', 'http_502', 'http_503', 'http_504'] as const satisfies readonly RetryCondition[];

/** Largest `weight` (nginx has no cap; ours keeps the weighted round robin's arithmetic small). */
export const maxWeight = 1000;

const serverExample = '"{ address: 127.0.0.1:9001, weight: 3 }"';

/** nginx writes `server 10.0.0.1:80 weight=3 backup;`: what such an entry means in our form. */
function nginxStyle(text: string): string | undefined {
  const m = /^(\S+)\s+((?:weight=\d+|backup|down|max_fails=\S+|fail_timeout=\S+)(?:\s+\S+)*)\s*;?$/.exec(text.trim());
  if (!m) return undefined;
  const parts: string[] = [`address: ${m[1]}`];
  for (const p of m[2]!.split(/\s+/)) {
    if (p.startsWith('weight=')) parts.push(`weight: ${p.slice(7)}`);
    else if (p === 'backup' || p === 'down') parts.push(`${p}: true`);
  }
  return `{ ${parts.join(', ')} }`;
}

/** One entry of `servers`: an address string, or a mapping with `address` and its settings. */
function buildServer(ctx: SchemaContext, path: KeyPath, item: unknown): ServerTarget | undefined {
  if (!isMapping(item)) {
    const checked = checkServer(item);
    if (checked.ok) return checked.value;
    const nginx = typeof item === 'string' ? nginxStyle(item) : undefined;
    if (nginx !== undefined) {
      ctx.report(path, `${JSON.stringify(item)} has settings after the address, which only the mapping form takes`, `write it as ${nginx}`);
    } else {
      ctx.report(path, checked.problem, Array.isArray(item) ? `${checked.fix}; for weight, backup or down write a mapping such as ${serverExample}` : checked.fix);
    }
    return undefined;
  }
  const raw = mapping(ctx, path, item, serverKeys, serverExample);
  if (!raw) return undefined;
  let target: ServerTarget | undefined;
  if (!('address' in raw) || raw['address'] === null) {
    ctx.report('address' in raw ? [...path, 'address'] : path, 'has no "address"', 'add the server\'s address, e.g. "address: 127.0.0.1:9001"');
  } else {
    const checked = checkServer(raw['address']);
    if (checked.ok) target = checked.value;
    else ctx.report([...path, 'address'], checked.problem, checked.fix);
  }
  const weight = field<number | undefined>(ctx, raw, path, 'weight', (v) => checkInteger(v, 1, maxWeight, `set it to the server's share of requests relative to the others, e.g. 3 (1 to ${maxWeight})`), undefined, '1');
  const backup = field(ctx, raw, path, 'backup', (v) => checkBoolean(v, 'write true to use this server only while no other is usable, else false'), false, 'false');
  const down = field(ctx, raw, path, 'down', (v) => checkBoolean(v, 'write true to keep this server out of rotation, else false'), false, 'false');
  if (target === undefined) return undefined;
  if (weight !== undefined) target.weight = weight;
  if (backup) target.backup = true;
  if (down) target.down = true;
  return target;
}

/**
 * `servers` of the upstream at `path`: every entry checked, one protocol for all, and at least one
 * server that is neither down nor (all of them) a backup.
 */
export function buildServers(ctx: SchemaContext, path: KeyPath, raw: Raw): { ok: boolean; protocol: 'http' | 'https'; servers: ServerAddress[] } {
  const targets: ServerTarget[] = [];
  const value = raw['servers'];
  if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) {
    ctx.report(
      value === undefined ? path : [...path, 'servers'],
      value === undefined ? 'has no "servers"' : 'lists no servers',
      'list at least one, e.g. "servers: [127.0.0.1:9000]"',
    );
  } else {
    let complete = true;
    listItems(value).forEach((item, i) => {
      const target = buildServer(ctx, Array.isArray(value) ? [...path, 'servers', i] : [...path, 'servers'], item);
      if (target) targets.push(target);
      else complete = false;
    });
    // The rules on the whole list, only when every entry was read (a bad one may be the exception).
    if (complete && targets.length > 0) {
      if (targets.every((s) => s.down)) {
        ctx.report(
          [...path, 'servers'],
          `marks ${targets.length === 1 ? 'its only server' : `all ${targets.length} servers`} down, so the upstream could serve no request`,
          'remove "down" from one of them, or remove the upstream (and its routes)',
        );
      } else if (targets.every((s) => s.backup)) {
        ctx.report(
          [...path, 'servers'],
          `marks ${targets.length === 1 ? 'its only server' : `all ${targets.length} servers`} as backup, but backups serve only while no other server is usable`,
          'remove "backup" from the servers that should take requests normally',
        );
      }
    }
  }
  const unified = unifyProtocol(targets);
  if (!unified.ok) ctx.report([...path, 'servers'], unified.problem, unified.fix);
  return unified.ok ? { ok: true, ...unified.value } : { ok: false, protocol: 'http', servers: [] };
}

/** RFC 9110 token: what a header field name (and a cookie name) is made of. */
const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const hashKeyFix = 'write client_ip, uri, header:<Name> (e.g. "header:X-User-Id") or cookie:<name> (e.g. "cookie:session")';

/** nginx `hash` keys and HAProxy `balance` names people bring, mapped to ours. */
const familiarHashKeys: Record<string, string> = {
  $remote_addr: 'client_ip',
  remote_addr: 'client_ip',
  ip: 'client_ip',
  source: 'client_ip',
  client: 'client_ip',
  $request_uri: 'uri',
  request_uri: 'uri',
  url: 'uri',
  path: 'uri',
};

/**
 * `hash_key`: `client_ip`, `uri`, `header:<Name>` (the name lower-cased, as the core sees header
 * names) or `cookie:<name>` (case kept: cookie names are case-sensitive).
 */
export function checkHashKey(value: unknown): Checked<HashKey> {
  if (typeof value !== 'string') return bad(`expected a hash key, got ${describe(value)}`, hashKeyFix);
  const text = value.trim();
  const lower = text.toLowerCase();
  if (lower === 'client_ip') return ok({ kind: 'client_ip' });
  if (lower === 'uri') return ok({ kind: 'uri' });
  const m = /^(header|cookie)\s*:\s*(.*)$/i.exec(text);
  if (m) {
    const kind = m[1]!.toLowerCase() as 'header' | 'cookie';
    const name = m[2]!.trim();
    const example = kind === 'header' ? '"header:X-User-Id"' : '"cookie:session"';
    if (name === '') return bad(`${JSON.stringify(value)} names no ${kind}`, `write the ${kind}'s name after the colon, e.g. ${example}`);
    if (!token.test(name)) return bad(`${JSON.stringify(name)} is not a valid ${kind} name`, `write a name of letters, digits and !#$%&'*+-.^_\`|~, e.g. ${example}`);
    return ok(kind === 'header' ? { kind, name: name.toLowerCase() } : { kind, name });
  }
  const nginx = /^\$(?:http|cookie)_(.+)$/.exec(lower);
  if (nginx) {
    const kind = lower.startsWith('$http_') ? 'header' : 'cookie';
    return bad(`${JSON.stringify(value)} is an nginx variable`, `write "${kind}:${kind === 'header' ? nginx[1]!.replace(/_/g, '-') : nginx[1]}"`);
  }
  const guess = familiarHashKeys[lower] ?? didYouMean(lower, ['client_ip', 'uri', 'header', 'cookie']);
  const guessText = guess === 'header' || guess === 'cookie' ? `${guess}:<name>` : guess;
  return bad(`expected a hash key, got ${JSON.stringify(value)}${guessText ? ` (did you mean "${guessText}"?)` : ''}`, hashKeyFix);
}

/** What nginx and HAProxy call the policies, mapped to ours (where spelling won't find them). */
const familiarPolicies: Record<string, string> = {
  least_conn: 'least_request',
  leastconn: 'least_request',
  least_connections: 'least_request',
  roundrobin: 'round_robin',
  ip_hash: 'hash',
  source: 'hash',
  consistent_hash: 'hash',
  random_two: 'random',
};

function checkBalance(value: unknown): Checked<BalancePolicy> {
  const fix = `use ${listOf(balancePolicies)}`;
  if (typeof value !== 'string') return bad(`expected a balancing policy, got ${describe(value)}`, fix);
  const text = value.trim().toLowerCase().replace(/-/g, '_');
  if ((balancePolicies as readonly string[]).includes(text)) return ok(text as BalancePolicy);
  const guess = familiarPolicies[text] ?? didYouMean(text, balancePolicies);
  if (guess === undefined) return bad(`expected a balancing policy, got ${JSON.stringify(value)}`, fix);
  return bad(
    `expected a balancing policy, got ${JSON.stringify(value)} (did you mean "${guess}"?)`,
    text === 'ip_hash' || text === 'source' ? 'write "balance: hash" with "hash_key: client_ip"' : `write "${guess}"`,
  );
}

/** `balance` and `hash_key`: a hash key exactly when the policy is `hash`. */
export function buildBalance(ctx: SchemaContext, path: KeyPath, raw: Raw): { balance: BalancePolicy; hashKey?: HashKey } {
  const d = upstreamDefaults;
  let policyKnown = true;
  const balance = field(
    ctx,
    raw,
    path,
    'balance',
    (v) => {
      const checked = checkBalance(v);
      policyKnown = checked.ok;
      return checked;
    },
    d.balance,
    d.balance,
  );
  const hashKey = field<HashKey | undefined>(ctx, raw, path, 'hash_key', checkHashKey, undefined, 'none');
  if (balance === 'hash' && !('hash_key' in raw)) {
    ctx.report([...path, 'balance'], 'is hash, but there is no "hash_key" to say what to hash', 'add "hash_key: client_ip" (or uri, header:<Name>, cookie:<name>)');
  }
  // Not when the policy itself was wrong: the fix is then to the policy.
  if (balance !== 'hash' && policyKnown && raw['balance'] !== null && 'hash_key' in raw && raw['hash_key'] !== null) {
    ctx.report(
      [...path, 'hash_key'],
      `is set, but ${'balance' in raw ? `balance is ${balance}` : `balance is ${d.balance} (the default)`}, which hashes nothing`,
      'add "balance: hash", or remove hash_key',
    );
  }
  return hashKey === undefined ? { balance } : { balance, hashKey };
}

function checkCondition(value: unknown): Checked<RetryCondition> {
  const fix = `use ${listOf(retryConditions)}`;
  if (typeof value !== 'string') return bad(`expected a retry condition, got ${describe(value)}`, fix);
  const text = value.trim().toLowerCase();
  if ((retryConditions as readonly string[]).includes(text)) return ok(text as RetryCondition);
  if (/^(http_\d{3}|non_idempotent|invalid_header|off)$/.test(text)) {
    return bad(`${JSON.stringify(value)} is not a condition Portcullis retries on`, `${fix}; a request is only retried while no byte of its body was sent, and on anything but "error" only if idempotent`);
  }
  const guess = didYouMean(text, retryConditions);
  return bad(`expected a retry condition, got ${JSON.stringify(value)}${guess ? ` (did you mean "${guess}"?)` : ''}`, guess ? `write "${guess}"` : fix);
}

/**
 * `retry`: `on` (a list of conditions, or one), `tries` and `timeout`; `retry: off` never tries
 * another server.
 */
export function buildRetry(ctx: SchemaContext, path: KeyPath, value: unknown): RetryOptions {
  const d = retryDefaults;
  if (value === false || value === 'off') return { ...d, on: [] };
  const raw = mapping(ctx, path, value, retryKeys, '"retry: { on: [error, timeout], tries: 3 }", or off');
  if (!raw) return { ...d, on: [...d.on] };
  let on: RetryCondition[] = [...d.on];
  if ('on' in raw) {
    const list = raw['on'];
    if (list === null) {
      ctx.report([...path, 'on'], 'has no value', `give it a value, or remove the key to use the default (${listOf(d.on)})`);
    } else if (list === false || list === 'off' || (Array.isArray(list) && list.length === 0)) {
      on = [];
    } else {
      on = [];
      listItems(list).forEach((item, i) => {
        const checked = checkCondition(item);
        if (!checked.ok) ctx.report(Array.isArray(list) ? [...path, 'on', i] : [...path, 'on'], checked.problem, checked.fix);
        else if (!on.includes(checked.value)) on.push(checked.value);
      });
    }
  }
  return {
    on,
    tries: field(ctx, raw, path, 'tries', (v) => checkInteger(v, 0, Infinity, 'set it to the most attempts in all, the first included, e.g. 3; 0 tries each usable server once'), d.tries, String(d.tries)),
    timeout: field(ctx, raw, path, 'timeout', (v) => checkDurationOrOff(v, '10s'), d.timeout, d.timeout === 0 ? 'off' : formatDuration(d.timeout)),
  };
}
