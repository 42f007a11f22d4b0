/**
 * The reading helpers every builder of the YAML schema shares (schema.ts, listeners.ts, …): key
 * paths, the context problems are reported to, mappings with their allowed keys, and fields read
 * through a check. They live apart from the builders so that builders import them, not each other.
 */
import { type Checked, describe } from './errors.js';
import { didYouMean, listOf } from './suggest.js';

export type KeyPath = readonly (string | number)[];

/** `['upstreams', 'app', 'keepalive']` → `upstreams.app.keepalive`; `['routes', 1]` → `routes[1]`. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

/** Where a problem is: at the key itself (unknown keys) or at its value. */
export type Anchor = 'key' | 'value';

export interface SchemaContext {
  report(path: KeyPath, problem: string, fix: string, anchor?: Anchor): void;
  /** Read a file named in the config (TLS material), relative to the config file. */
  readFile(path: string): Checked<string>;
  /** The absolute path of a file named in the config (certificates are read again on reload). */
  resolvePath(path: string): string;
}

export type Raw = Record<string, unknown>;

export const isMapping = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Check that `value` is a mapping with only `allowed` keys; report the rest with a suggestion. */
export function mapping(ctx: SchemaContext, path: KeyPath, value: unknown, allowed: readonly string[], example: string): Raw | undefined {
  if (!isMapping(value)) {
    ctx.report(path, `expected a mapping of keys (${listOf(allowed.slice(0, 3), 'and')}${allowed.length > 3 ? ' …' : ''}), got ${describe(value)}`, `write it like ${example}`);
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    // Top-level `x-…` keys are ignored (as in Compose files): a place for YAML anchors.
    if (path.length === 0 && key.startsWith('x-')) continue;
    const guess = didYouMean(key, allowed);
    if (guess !== undefined) {
      ctx.report([...path, key], `unknown key (did you mean "${guess}"?)`, `rename it to "${guess}"`, 'key');
    } else {
      ctx.report([...path, key], 'unknown key', `remove it; the keys allowed ${path.length ? 'here' : 'at the top level'} are ${listOf(allowed, 'and')}`, 'key');
    }
  }
  return value;
}

/**
 * Read `key` of `record` through `check`; absent gives `fallback`. An empty value (`key:` with
 * nothing after it) is an error rather than a silent default.
 */
export function field<T>(
  ctx: SchemaContext,
  record: Raw | undefined,
  path: KeyPath,
  key: string,
  check: (value: unknown) => Checked<T>,
  fallback: T,
  defaultText: string,
): T {
  if (record === undefined || !(key in record)) return fallback;
  const value = record[key];
  if (value === null || value === undefined) {
    ctx.report([...path, key], 'has no value', `give it a value, or remove the key to use the default (${defaultText})`);
    return fallback;
  }
  const checked = check(value);
  if (checked.ok) return checked.value;
  ctx.report([...path, key], checked.problem, checked.fix);
  return fallback;
}

/** A list, also accepting one bare item for convenience (`servers: 127.0.0.1:9000`). */
export function listItems(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}
