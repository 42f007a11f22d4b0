/**
 * The `portcullis` command: parse flags and config, then hand over to the supervisor.
 * A bad configuration is refused here, before any worker starts, with the file, key and fix.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, parseArgs, resolveConfig, usage } from './config/index.js';
import { runSupervisor } from './cluster/supervisor.js';
import { createLogger } from './log.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<void> {
  let config;
  try {
    const args = parseArgs(argv);
    if ('help' in args) {
      process.stdout.write(usage);
      return;
    }
    if ('version' in args) {
      process.stdout.write(`portcullis ${version()}\n`);
      return;
    }
    config = resolveConfig(args);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`portcullis: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const log = createLogger(config.logLevel, 'supervisor');
  await runSupervisor(config, log);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`portcullis: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
