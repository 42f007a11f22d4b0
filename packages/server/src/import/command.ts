/**
 * `portcullis import nginx.conf [-o FILE] [-p PREFIX] [--strict] [--check]`: read an nginx
 * configuration, write the Portcullis YAML (standard output or -o), and the report on standard
 * error. The YAML is validated as `portcullis --config` would read it before it is written.
 *
 * Exit status: 0 translated (the report may list differences); 1 `--strict` with directives left
 * out, or an output that does not validate; 2 a usage error or an nginx file that cannot be read.
 */
import { writeFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { ConfigError, parseConfigText } from '../config/index.js';
import { NginxParseError, parseNginxFile } from './nginx-parse.js';
import { translate } from './translate.js';

export const importUsage = `Usage: portcullis import NGINX_CONF [-o FILE] [-p PREFIX] [--strict] [--check]

  -o, --output FILE   write the Portcullis YAML to FILE (default: standard output)
  -p, --prefix DIR    resolve relative include paths against DIR (nginx -p), not the file's directory
  --strict            fail (exit 1, nothing written) when any directive is not translated
  --check             print the report only

The report (standard error) has one line per directive left out or translated with a difference:
  file:line directive: not translated | differs | less safe: why
`;

export interface ImportIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export function runImport(argv: string[], io: ImportIo = { stdout: (t) => void process.stdout.write(t), stderr: (t) => void process.stderr.write(t) }): number {
  let input: string | undefined;
  let output: string | undefined;
  let prefix: string | undefined;
  let strict = false;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o' || a === '--output') output = argv[++i];
    else if (a === '-p' || a === '--prefix') prefix = argv[++i];
    else if (a === '--strict') strict = true;
    else if (a === '--check') check = true;
    else if (a === '-h' || a === '--help') {
      io.stdout(importUsage);
      return 0;
    } else if (a.startsWith('-') || input !== undefined) {
      io.stderr(`portcullis import: unexpected "${a}"\n${importUsage}`);
      return 2;
    } else input = a;
  }
  const given = (...names: string[]): boolean => names.some((n) => argv.includes(n));
  if (input === undefined || (output === undefined && given('-o', '--output')) || (prefix === undefined && given('-p', '--prefix'))) {
    io.stderr(`portcullis import: ${input === undefined ? 'name the nginx configuration to read' : 'an option lacks its value'}\n${importUsage}`);
    return 2;
  }
  const file = resolve(input);
  let parsed;
  try {
    parsed = parseNginxFile(file, prefix !== undefined ? { prefix: resolve(prefix) } : {});
  } catch (err) {
    if (err instanceof NginxParseError) {
      io.stderr(`portcullis import: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const base = dirname(file);
  const name = (f: string): string => relative(base, f) || f;
  // Certificate paths: nginx reads a relative one from its prefix, Portcullis from the output's directory.
  const nginxPrefix = prefix !== undefined ? resolve(prefix) : base;
  const outDir = dirname(output !== undefined ? resolve(output) : resolve('portcullis.yaml'));
  const filePath = (p: string): string => (isAbsolute(p) ? p : relative(outDir, resolve(nginxPrefix, p)) || '.');
  const { output: out, report } = translate(parsed, name, filePath);
  io.stderr(report.format(name));
  if (strict && report.untranslated > 0) {
    io.stderr(`portcullis import: --strict: ${report.untranslated} directive${report.untranslated === 1 ? '' : 's'} not translated; nothing written\n`);
    return 1;
  }
  const yaml = out.toYaml(` Portcullis configuration imported from ${input} by "portcullis import".\n Each key names the nginx directive and file:line it came from; the report listed what was\n left out or differs (run "portcullis import --check ${input}" to see it again).`);
  // Validated as the server would read it, relative paths from where it will be written.
  const where = output !== undefined ? resolve(output) : resolve('portcullis.yaml');
  try {
    parseConfigText(yaml, where, { baseDir: dirname(where) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr(`portcullis import: the translated configuration does not pass validation:\n${err.message}\n`);
    if (!check) {
      if (output !== undefined) writeFileSync(output, yaml);
      else io.stdout(yaml);
    }
    return 1;
  }
  if (check) return 0;
  if (output !== undefined) writeFileSync(output, yaml);
  else io.stdout(yaml);
  return 0;
}
