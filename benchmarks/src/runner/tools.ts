// Where things are: the repo, external binaries (nginx, haproxy) and their versions.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onExit } from './processes.js';

/** benchmarks/ (this file is compiled to benchmarks/dist/runner/). */
export const benchmarksDir = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
export const repoRoot = resolve(benchmarksDir, '..');
/** The compiled entry points of benchmarks/src (child processes run these). */
export const distDir = join(benchmarksDir, 'dist');

/**
 * Absolute path of `name` on PATH or in the sbin dirs (nginx and haproxy live there), or null.
 * `BENCH_<NAME>_BIN` overrides it: a path to use another build, or `none` to act as if absent.
 */
export function findBinary(name: string): string | null {
  const override = process.env[`BENCH_${name.toUpperCase()}_BIN`];
  if (override !== undefined && override !== '') return override === 'none' ? null : override;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** First line of `<bin> <flag>` (stdout or stderr: nginx prints its version on stderr). */
export function versionOf(bin: string | null, flag = '-v'): string | null {
  if (!bin) return null;
  const r = spawnSync(bin, [flag], { encoding: 'utf8', timeout: 5000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
  return out.split('\n')[0] ?? null;
}

/**
 * A fresh temp dir for one benchmark run (configs, pid files, logs), removed at exit unless
 * BENCH_KEEP_TMP is set. World-readable so that nginx workers (which drop to `nobody` when
 * started as root) can reach their temp paths.
 */
export function makeRunDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `portcullis-${prefix}-`));
  chmodSync(dir, 0o755);
  if (!process.env.BENCH_KEEP_TMP) onExit(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
