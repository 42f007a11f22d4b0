/**
 * The `portcullis` command: parse flags and config, then hand over to the supervisor.
 * A bad configuration is refused here, before any worker starts, with the file, key and fix.
 */
import { readFileSync } from 'node:fs';
import { formatProblem, normalizeOptions, ProxyConfigError } from '@portcullis/core';
import { commandLineSource, ConfigError, parseArgs, resolveConfig, usage, type ServerConfig } from './config/index.js';
import { describeConfig } from './config/describe.js';
import { runSupervisor } from './cluster/supervisor.js';
import { runImport } from './import/command.js';
import { createLogger } from './log.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<void> {
  // `portcullis import nginx.conf`: translate an nginx configuration (import/command.ts).
  if (argv[0] === 'import') {
    process.exitCode = runImport(argv.slice(1));
    return;
  }
  // `portcullis check --config FILE` (nginx -t): validate, print what would be served, exit.
  const checking = argv[0] === 'check';
  if (checking) argv = argv.slice(1);
  let config: ServerConfig;
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(argv);
    if ('help' in args) {
      process.stdout.write(usage);
      return;
    }
    if ('version' in args) {
      process.stdout.write(`portcullis ${version()}\n`);
      return;
    }
    config = resolveConfig(args);
    // What the workers will run, with the core's own checks (as a reload does). The demo's
    // upstream gets its server only once the demo origin listens.
    if (!config.demo) normalizeOptions(config.proxy);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`portcullis: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof ProxyConfigError) {
      process.stderr.write(`portcullis: ${err.problems.map(formatProblem).join('\n')}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  if (checking) {
    process.stdout.write(describeConfig(config));
    return;
  }
  const log = createLogger(config.logLevel, 'supervisor');
  // A reload reads the same file with the same flags again; --to and the demo have no file.
  const resolved = args;
  const reread = config.source === commandLineSource ? null : () => resolveConfig(resolved);
  await runSupervisor(config, log, reread);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`portcullis: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
