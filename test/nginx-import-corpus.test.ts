/**
 * `portcullis import` against a corpus of realistic nginx configurations, each with the YAML and
 * the report (standard error) it must produce, byte for byte: test/fixtures/nginx-import/<case>/.
 *
 * A case directory holds:
 * - the nginx configuration: `nginx.conf`, or `main.conf`, or the file named in `input` (one
 *   line, relative to the case directory), plus whatever it includes (conf.d/, sites-enabled/ ...)
 *   and the certificate files it names (relative paths, as nginx would read them);
 * - `args` (optional): further arguments of `portcullis import`, split on blanks (`-p .`, `--strict`);
 * - `expected.yaml`: the file written by `-o`; absent when nothing may be written;
 * - `expected.report`: standard error of the import (the case's directory written `<dir>`);
 * - `expected.status` (optional): the exit status, 0 when absent;
 * - `todo` (optional): a known mistranslation, the reason in one line. Its expected.yaml and
 *   status are what the importer SHOULD give (nginx's behaviour), its expected.report a sketch of
 *   the lines; its comparisons are tap todos (shown, not failing the run) and UPDATE_GOLDEN leaves
 *   it alone. Once the YAML and status match, the case fails until `todo` is removed (then
 *   UPDATE_GOLDEN=1 writes the real report, to review like any other).
 *
 * Each case is copied to a temporary directory and imported there with `-o portcullis.yaml`, so
 * that relative certificate paths resolve as they do for nginx (against the configuration's
 * directory) and for Portcullis (against the YAML's); the import itself validates what it writes
 * as `--config` reads it. Every YAML written with exit status 0 (todo cases excepted) must also
 * pass `portcullis check --config`, which adds the core's own checks.
 *
 * After a deliberate change to the importer: `UPDATE_GOLDEN=1 npx tap nginx-import-corpus.test.ts`
 * rewrites the expected files of every case but the todo ones; review the diff against nginx's
 * behaviour before committing it (a golden file that keeps a wrong translation is worse than none).
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { CLI_PATH } from './lib/cli.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/nginx-import/', import.meta.url));
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const EXPECTED = new Set(['expected.yaml', 'expected.report', 'expected.status', 'todo']);
/** Processes at once: each is a node start (about 0.2 s of CPU). */
const PARALLEL = Math.max(2, availableParallelism());

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI as a user would. Through env(1): tap's process-info hook puts its loader in the
 * NODE_OPTIONS of every child it sees spawned, whatever env is given, which doubles the cost of
 * each node start (this suite starts two dozen).
 */
function cli(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    const proc = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, CLI_PATH, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, signal: null, stdout, stderr: `${stderr}${String(err)}` });
    });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

let slots = PARALLEL;
const waiting: Array<() => void> = [];
async function limited<T>(f: () => Promise<T>): Promise<T> {
  if (slots === 0) await new Promise<void>((r) => waiting.push(r));
  else slots--;
  try {
    return await f();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else slots++;
  }
}

interface Case {
  name: string;
  dir: string;
  input: string;
  args: string[];
  todo: string | undefined;
}

interface Outcome {
  run: Run;
  /** stderr with the temporary directory written `<dir>`. */
  report: string;
  /** The YAML written, or null. */
  yaml: string | null;
  /** `check --config` of it, when it was written with exit status 0. */
  check: Run | null;
}

const read = (file: string): string | undefined => (existsSync(file) ? readFileSync(file, 'utf8') : undefined);

function loadCase(name: string): Case {
  const dir = join(FIXTURES, name);
  const given = read(join(dir, 'input'))?.trim();
  const input = given ?? (existsSync(join(dir, 'nginx.conf')) ? 'nginx.conf' : 'main.conf');
  const args = (read(join(dir, 'args')) ?? '').split(/\s+/).filter((a) => a !== '');
  return { name, dir, input, args, todo: read(join(dir, 'todo'))?.trim() };
}

async function importCase(c: Case): Promise<Outcome> {
  // The real path: the CLI names files by it (macOS's /var is /private/var).
  const work = realpathSync(mkdtempSync(join(tmpdir(), `nginx-import-${c.name}-`)));
  try {
    cpSync(c.dir, work, { recursive: true, filter: (src) => src === c.dir || !EXPECTED.has(basename(src)) });
    const run = await limited(() => cli(['import', c.input, '-o', 'portcullis.yaml', ...c.args], work));
    const written = join(work, 'portcullis.yaml');
    const yaml = read(written) ?? null;
    // What was written must also be what `portcullis check` accepts (the core's checks too).
    const accepted = yaml !== null && run.code === 0 && c.todo === undefined;
    const check = accepted ? await limited(() => cli(['check', '--config', 'portcullis.yaml'], work)) : null;
    return { run, report: run.stderr.split(work).join('<dir>'), yaml, check };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function update(c: Case, o: Outcome): void {
  const file = (n: string): string => join(c.dir, n);
  writeFileSync(file('expected.report'), o.report);
  if (o.yaml !== null) writeFileSync(file('expected.yaml'), o.yaml);
  else if (existsSync(file('expected.yaml'))) unlinkSync(file('expected.yaml'));
  if (o.run.code !== 0) writeFileSync(file('expected.status'), `${o.run.code}\n`);
  else if (existsSync(file('expected.status'))) unlinkSync(file('expected.status'));
}

const cases = readdirSync(FIXTURES)
  .filter((n) => statSync(join(FIXTURES, n)).isDirectory())
  .sort()
  .map(loadCase);

t.ok(cases.length >= 10, `${cases.length} cases in ${FIXTURES}`);

// Every import starts now, a few at a time; the subtests below wait for their own.
const outcomes = new Map(cases.map((c) => [c.name, importCase(c)]));

for (const c of cases) {
  t.test(c.name, { timeout: 60_000 }, async (t) => {
    const o = await outcomes.get(c.name)!;
    t.equal(o.run.signal, null, 'the import exited by itself');
    if (UPDATE && c.todo === undefined) {
      update(c, o);
      t.comment(`UPDATE_GOLDEN: wrote the expected files of ${c.name}; review them`);
    }
    // A todo case's comparisons are tap todos: a difference is shown, not counted as a failure.
    const todo = c.todo !== undefined ? { todo: c.todo } : {};
    const status = Number(read(join(c.dir, 'expected.status'))?.trim() ?? '0');
    const expectedReport = read(join(c.dir, 'expected.report')) ?? '';
    const expectedYaml = read(join(c.dir, 'expected.yaml')) ?? null;
    t.equal(o.run.code, status, `exit status ${status}`, todo);
    t.equal(o.report, expectedReport, 'standard error is expected.report', todo);
    t.equal(o.run.stdout, '', 'nothing on standard output (the YAML goes to -o)');
    t.equal(o.yaml, expectedYaml, expectedYaml === null ? 'nothing written' : 'the written YAML is expected.yaml', todo);
    if (c.todo !== undefined && o.run.code === status && o.yaml === expectedYaml) {
      t.fail(`${c.name} now writes what nginx does: remove ${join(c.dir, 'todo')}, then UPDATE_GOLDEN=1 and review the report`);
    }
    if (o.check !== null) {
      t.equal(o.check.code, 0, `portcullis check --config accepts it${o.check.code === 0 ? '' : `: ${o.check.stderr}`}`);
      t.match(o.check.stdout, /^portcullis: portcullis\.yaml is valid\n/, 'check says it is valid');
    }
  });
}
