/**
 * Problems in proxy options as data: where (a path into the options as an embedder writes them,
 * `['routes', 1, 'pathPrefix']`), what is wrong and how to fix it. A caller that reads the options
 * from elsewhere (the server's YAML) maps the path to its own keys and positions, so nobody has to
 * parse a message back; embedders just get one readable exception listing every problem.
 */

export type OptionPath = readonly (string | number)[];

export interface ConfigProblem {
  /** Where, from the root of the options (ProxyInit/ProxyOptions); `[]` for the whole. */
  readonly path: OptionPath;
  /** What is wrong, about the value at `path` without naming it, and without a trailing period. */
  readonly problem: string;
  /** How to fix it, without a trailing period. */
  readonly fix: string;
}

/** The outcome of checking one value: the value as the core uses it, or what is wrong. */
export type CheckResult<T> = { ok: true; value: T } | { ok: false; problem: string; fix: string };

/** `['routes', 1, 'pathPrefix']` → `routes[1].pathPrefix`. */
export function formatOptionPath(path: OptionPath): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

/** One line: `routes[1].pathPrefix: "api" does not start with "/". Fix: write "/api".` */
export function formatProblem(p: ConfigProblem): string {
  const where = formatOptionPath(p.path);
  return `${where === '' ? 'options' : where}: ${p.problem}. Fix: ${p.fix}.`;
}

/** Invalid proxy options: every problem found, one per line in the message. */
export class ProxyConfigError extends Error {
  override readonly name = 'ProxyConfigError';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

/** Throw the problems, if any, as one ProxyConfigError. */
export function throwProblems(problems: readonly ConfigProblem[]): void {
  if (problems.length > 0) throw new ProxyConfigError(problems);
}

/**
 * The problems `compile` reports, or none. Lets one validation gather the problems of several
 * compile functions instead of stopping at the first that throws; other errors are bugs and pass.
 */
export function problemsOf(compile: () => unknown): readonly ConfigProblem[] {
  try {
    compile();
    return [];
  } catch (err) {
    if (err instanceof ProxyConfigError) return err.problems;
    throw err;
  }
}

/** Render a value the user wrote, for "got …" in problems. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
