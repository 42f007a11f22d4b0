/**
 * What `portcullis import` says about the nginx configuration besides the YAML: one line per
 * directive it did not carry over, and per difference in meaning it could not avoid. Every line
 * names the file and line of the directive, as nginx's own messages do.
 */
import type { NginxDirective } from './nginx-parse.js';

export type ReportKind =
  /** Not in the output at all: the reason, and what to do instead where Portcullis has a way. */
  | 'not translated'
  /** Translated, but Portcullis will not behave exactly as nginx did. */
  | 'differs'
  /** Translated as nginx behaved, which is less safe than Portcullis's own default. */
  | 'less safe';

export interface ReportLine {
  file: string;
  line: number;
  directive: string;
  kind: ReportKind;
  why: string;
}

export class Report {
  readonly lines: ReportLine[] = [];

  /** One line per directive and reason: an http-level directive inherited by many locations is reported once. */
  add(d: Pick<NginxDirective, 'file' | 'line' | 'name'>, kind: ReportKind, why: string): void {
    if (this.lines.some((l) => l.file === d.file && l.line === d.line && l.directive === d.name && l.why === why)) return;
    this.lines.push({ file: d.file, line: d.line, directive: d.name, kind, why });
  }

  /** Lines that make `--strict` fail: directives left out. */
  get untranslated(): number {
    return this.lines.filter((l) => l.kind === 'not translated').length;
  }

  /** In file and line order, one per line: `file:line directive: kind: why`. */
  format(relativeTo?: (file: string) => string): string {
    const name = relativeTo ?? ((f: string) => f);
    return [...this.lines]
      .sort((a, b) => (a.file === b.file ? a.line - b.line : a.file < b.file ? -1 : 1))
      .map((l) => `${name(l.file)}:${l.line} ${l.directive}: ${l.kind}: ${l.why}\n`)
      .join('');
  }
}
