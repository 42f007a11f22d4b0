// Turning measurements into tables (markdown) and result files (markdown + JSON).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { median, type Measurement } from './rounds.js';
import { benchmarksDir, findBinary, repoRoot, versionOf } from './tools.js';

export interface Metric<S> {
  /** Key in the JSON summary. */
  key: string;
  /** Column label in the tables. */
  label: string;
  get(sample: S): number;
  digits: number;
}

export interface PeerSummary {
  peer: string;
  /** Successful samples. */
  n: number;
  failures: number;
  medians: Record<string, number>;
}

export function summarize<S>(peers: string[], ms: Array<Measurement<S>>, metrics: Array<Metric<S>>): PeerSummary[] {
  return peers.map((peer) => {
    const mine = ms.filter((m) => m.peer === peer);
    const ok = mine.filter((m) => m.sample !== undefined).map((m) => m.sample as S);
    const medians: Record<string, number> = {};
    for (const metric of metrics) medians[metric.key] = median(ok.map((s) => metric.get(s)));
    return { peer, n: ok.length, failures: mine.length - ok.length, medians };
  });
}

export function fmt(v: number, digits: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return digits === 0 ? Math.round(v).toLocaleString('en-US') : v.toFixed(digits);
}

export function markdownTable(header: string[], rows: string[][], alignRight: boolean[] = []): string {
  const sep = header.map((_, i) => (alignRight[i] ? '---:' : '---'));
  return [header, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** A ratio column: the peer's median of `metric` over the baseline peer's (ratio of medians). */
export interface RatioColumn {
  metric: string;
  baseline: string;
  /** Column header; default `vs <baseline>`. */
  label?: string;
}

/**
 * The main table: one row per peer, the median of each metric over the rounds, and for each
 * ratio the ratio of medians against a baseline peer for one metric (e.g. req/s vs nginx).
 * `flags` are appended to a peer's name (e.g. that some of its runs had errors).
 */
export function summaryTable<S>(
  summaries: PeerSummary[],
  metrics: Array<Metric<S>>,
  ratios: RatioColumn[] = [],
  flags: Record<string, string> = {},
): string {
  const header = ['peer', ...metrics.map((m) => `${m.label} (median)`), ...ratios.map((r) => r.label ?? `vs ${r.baseline}`)];
  const rows = summaries.map((s) => {
    const row = [s.peer, ...metrics.map((m) => fmt(s.medians[m.key]!, m.digits))];
    for (const ratio of ratios) {
      const b = summaries.find((x) => x.peer === ratio.baseline)?.medians[ratio.metric];
      const v = s.medians[ratio.metric];
      row.push(b && v !== undefined && Number.isFinite(v) && b > 0 ? `${(v / b).toFixed(2)}x` : 'n/a');
    }
    if (s.failures) row[0] += ` (${s.failures} failed run${s.failures > 1 ? 's' : ''})`;
    if (flags[s.peer]) row[0] += ` ${flags[s.peer]}`;
    return row;
  });
  return markdownTable(header, rows, header.map((_, i) => i > 0));
}

/** Per-round raw numbers: one row per peer, one column per round, `metric/metric` per cell. */
export function roundsTable<S>(peers: string[], rounds: number, ms: Array<Measurement<S>>, metrics: Array<Metric<S>>): string {
  const header = ['peer', ...Array.from({ length: rounds }, (_, i) => `round ${i + 1}: ${metrics.map((m) => m.label).join(' / ')}`)];
  const rows = peers.map((peer) => [
    peer,
    ...Array.from({ length: rounds }, (_, i) => {
      const m = ms.find((x) => x.peer === peer && x.round === i + 1);
      if (!m) return '-';
      if (!m.sample) return `error: ${m.error?.split('\n')[0] ?? ''}`;
      return `${metrics.map((x) => fmt(x.get(m.sample as S), x.digits)).join(' / ')} (#${m.position + 1})`;
    }),
  ]);
  return markdownTable(header, rows);
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  availableParallelism: number;
  memoryGiB: number;
  os: string;
  node: string;
  nginx: string | null;
  haproxy: string | null;
  autocannon: string | null;
  wrk: string | null;
  loadAvgAtStart: number[];
  gitCommit: string | null;
}

export function machineInfo(): MachineInfo {
  let autocannonVersion: string | null = null;
  try {
    const pkg = execFileSync(process.execPath, ['-p', "require('autocannon/package.json').version"], {
      cwd: benchmarksDir,
      encoding: 'utf8',
    });
    autocannonVersion = pkg.trim();
  } catch {
    /* unknown */
  }
  let gitCommit: string | null = null;
  try {
    gitCommit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    /* not a checkout */
  }
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    nginx: versionOf(findBinary('nginx'))?.replace(/^nginx version: /, '') ?? null,
    haproxy: versionOf(findBinary('haproxy'))?.replace(/ - https?:\S+/, '') ?? null,
    autocannon: autocannonVersion,
    // `wrk -v` prints its version and then its usage, exit status 1.
    wrk: versionOf(findBinary('wrk'))?.replace(/^wrk /, '').replace(/ Copyright.*$/, '') ?? null,
    loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    gitCommit,
  };
}

export function machineMarkdown(m: MachineInfo): string {
  return [
    `- CPU: ${m.cpuModel}, ${m.cores} cores (available parallelism ${m.availableParallelism}), ${m.memoryGiB} GiB`,
    `- OS: ${m.os}; Node ${m.node}; autocannon ${m.autocannon ?? '?'}; wrk ${m.wrk ?? 'not installed'}`,
    `- nginx: ${m.nginx ?? 'not installed'}; HAProxy: ${m.haproxy ?? 'not installed'}`,
    `- load average at start: ${m.loadAvgAtStart.join(' ')}; commit ${m.gitCommit ?? '?'}`,
  ].join('\n');
}

/** `2026-05-02-1432` (local time). */
export function stamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`;
}

/** Writes benchmarks/results/<name>-<stamp>.md and .json; returns the two paths. */
export function writeResults(name: string, markdown: string, json: unknown, dir = join(benchmarksDir, 'results')): string[] {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `${name}-${stamp()}`);
  writeFileSync(`${base}.md`, markdown);
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  return [`${base}.md`, `${base}.json`];
}
