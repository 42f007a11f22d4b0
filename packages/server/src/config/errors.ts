/**
 * Configuration errors that tell the user where (file, line, key), what is wrong and how to fix
 * it. Validation collects every problem it finds, so one run reports them all.
 */

export interface ConfigIssue {
  /** The config file path as given, or "command line". */
  source: string;
  /** Key path such as `upstreams.app.keepalive` or `routes[1].path`, or a flag such as `--listen`. */
  key?: string;
  /** 1-based position in the file, when known. */
  line?: number;
  column?: number;
  /** What is wrong, without a trailing period. */
  problem: string;
  /** How to fix it, without a trailing period. */
  fix: string;
  /** Optional excerpt of the file under the message (YAML syntax errors). */
  excerpt?: string;
}

const trimPeriod = (s: string): string => s.replace(/[.\s]+$/, '');

/** `file:line:col: key: problem. Fix: fix.` — the parts that are unknown are left out. */
export function formatIssue(issue: ConfigIssue): string {
  let where = issue.source;
  if (issue.line !== undefined) {
    where += `:${issue.line}`;
    if (issue.column !== undefined) where += `:${issue.column}`;
  }
  const key = issue.key ? `${issue.key}: ` : '';
  let text = `${where}: ${key}${trimPeriod(issue.problem)}. Fix: ${trimPeriod(issue.fix)}.`;
  if (issue.excerpt) text += '\n' + issue.excerpt.replace(/\n+$/, '').replace(/^/gm, '    ');
  return text;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** Every problem found, in the order of the file. */
  readonly issues: readonly ConfigIssue[];

  constructor(issues: ConfigIssue | readonly ConfigIssue[]) {
    const list = Array.isArray(issues) ? [...(issues as readonly ConfigIssue[])] : [issues as ConfigIssue];
    if (list.length === 0) throw new TypeError('ConfigError needs at least one issue');
    super(list.map(formatIssue).join('\n'));
    this.issues = list;
  }
}

/** The outcome of checking one value: the typed value, or what is wrong and how to fix it. */
export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string; fix: string };

export const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
export const bad = (problem: string, fix: string): { ok: false; problem: string; fix: string } => ({
  ok: false,
  problem,
  fix,
});

/** Render a value the user wrote, for "got …" in messages. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
