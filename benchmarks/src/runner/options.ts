// Benchmark options from flags (`--rounds 5`, `--rounds=5`) or the environment (`BENCH_ROUNDS=5`),
// flags winning. Each option's type is that of its default.

export interface OptionSpec<V extends string | number> {
  default: V;
  help: string;
}

export type OptionValues<T extends Record<string, OptionSpec<string | number>>> = {
  [K in keyof T]: T[K]['default'];
};

const envName = (key: string) => `BENCH_${key.replace(/[A-Z]/g, (c) => `_${c}`).replace(/-/g, '_').toUpperCase()}`;
const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export function usage(title: string, specs: Record<string, OptionSpec<string | number>>): string {
  const lines = Object.entries(specs).map(
    ([k, s]) => `  ${`${flagName(k)} / ${envName(k)}`.padEnd(44)} ${s.help} (default: ${s.default})`,
  );
  return `${title}\n\nOptions (flag / environment variable):\n${lines.join('\n')}\n`;
}

export function readOptions<T extends Record<string, OptionSpec<string | number>>>(
  title: string,
  specs: T,
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): OptionValues<T> {
  const raw = new Map<string, string>();
  for (const key of Object.keys(specs)) {
    const v = env[envName(key)];
    if (v !== undefined && v !== '') raw.set(key, v);
  }
  const byFlag = new Map(Object.keys(specs).map((k) => [flagName(k), k]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') continue;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(usage(title, specs));
      process.exit(0);
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const key = byFlag.get(flag);
    if (!key) throw new Error(`unknown option ${arg}\n\n${usage(title, specs)}`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new Error(`${flag} needs a value`);
    raw.set(key, value);
  }
  const out: Record<string, string | number> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const v = raw.get(key);
    if (v === undefined) out[key] = spec.default;
    else if (typeof spec.default === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${flagName(key)}: not a number: ${v}`);
      out[key] = n;
    } else out[key] = v;
  }
  return out as OptionValues<T>;
}

/** "a,b, c" → ["a", "b", "c"]. */
export function list(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
