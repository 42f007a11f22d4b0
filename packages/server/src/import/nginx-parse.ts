// The nginx configuration reader for `portcullis import nginx.conf`: text -> a tree of directives, each
// with the file and line it is written on, `include` expanded in place.
//
// Why our own: no npm package fits. nginx-conf is an editing API whose tree keeps no lines and leaves
// `include` alone; @webantic/nginx-config-parser works line by line (cuts a `#` even inside quotes,
// needs a space before `{`) into objects keyed by directive name, without lines; nginx-config-parser
// is a 0.1 on underscore 1.5 without includes; crossplane is Python only. The grammar is small, so this
// follows nginx's own reader (ngx_conf_read_token and ngx_conf_include in src/core/ngx_conf_file.c)
// state for state, and records the line of each directive's name as crossplane does.
//
// Nothing here knows any directive except `include`: a block is whatever has `{ }` after it, and `if`'s
// parentheses stay in its arguments as nginx tokenizes them (`if ($a = "b")` gives `($a`, `=`, `b`, `)`).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

export interface NginxDirective {
  /** Directive name as written (for `map` blocks' entries: the key, e.g. 'default' or ''). */
  name: string;
  /** Arguments, quotes removed and escapes resolved (\" \' \\ and, inside quotes, \n \t \r as nginx does), variables kept as written ($host, ${host}). */
  args: string[];
  /** Absolute path of the file this directive is written in. */
  file: string;
  /** 1-based line of the directive's name. */
  line: number;
  /** The directives inside its `{ }`, or null for a simple directive ending in `;`. */
  block: NginxDirective[] | null;
}

/**
 * A configuration nginx would refuse (or a file that cannot be read). The message starts with
 * `file:line: ` and says what is wrong; `line` is 0 only when the main file itself cannot be read.
 */
export class NginxParseError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'NginxParseError';
  }
}

export interface ParseOptions {
  /** Directory relative `include` paths resolve against (nginx -p / the conf prefix); default: the directory of the main file. */
  prefix?: string;
  /** Read a file (tests inject a map); default fs.readFileSync(path, 'utf8'). */
  readFile?: (path: string) => string;
  /** List files matching a glob pattern (absolute), sorted; default: a small implementation over fs (nginx include masks use *, ? and [...] in the last path parts; nginx sorts matches alphabetically). */
  glob?: (pattern: string) => string[];
}

/** Parse the file at `path` and, recursively, every file it includes (in place of the include directive, as nginx does). */
export function parseNginxFile(path: string, opts: ParseOptions = {}): NginxDirective[] {
  const file = resolve(path);
  const ctx = context(file, opts);
  let text: string;
  try {
    text = ctx.readFile(file);
  } catch (err) {
    throw new NginxParseError(`${file}: cannot read the file (${reason(err)})`, file, 0);
  }
  return parseFileText(text, file, ctx);
}

/** Parse text as if it were the file `file` (absolute). */
export function parseNginxText(text: string, file: string, opts: ParseOptions = {}): NginxDirective[] {
  const abs = resolve(file);
  return parseFileText(text, abs, context(abs, opts));
}

interface Context {
  prefix: string;
  readFile: (path: string) => string;
  glob: (pattern: string) => string[];
  /** The files being read, outermost first: including one of them again is a cycle. */
  reading: string[];
}

function context(mainFile: string, opts: ParseOptions): Context {
  return {
    prefix: resolve(opts.prefix ?? dirname(mainFile)),
    readFile: opts.readFile ?? ((path) => readFileSync(path, 'utf8')),
    glob: opts.glob ?? globFiles,
    reading: [],
  };
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fail(file: string, line: number, what: string): never {
  throw new NginxParseError(`${file}:${line}: ${what}`, file, line);
}

/** Like nginx, every file (the main one or an included one) must balance its own braces. */
function parseFileText(text: string, file: string, ctx: Context): NginxDirective[] {
  ctx.reading.push(file);
  const lexer = new Lexer(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, file);
  const root: NginxDirective[] = [];
  const open: NginxDirective[] = [];
  let list = root;
  for (;;) {
    const step = lexer.next();
    if (step.kind === 'end') {
      const block = open.at(-1);
      if (block) {
        fail(file, step.line, `unexpected end of file, expecting "}" (the block "${block.name}" at line ${block.line} is not closed)`);
      }
      ctx.reading.pop();
      return root;
    }
    if (step.kind === 'close') {
      const block = open.pop();
      if (!block) fail(file, step.line, 'unexpected "}" (no block is open here)');
      list = open.at(-1)?.block ?? root;
      continue;
    }
    const [name = '', ...args] = step.words;
    if (name === 'include') {
      if (step.kind === 'block') fail(file, step.line, 'directive "include" is not terminated by ";" (it cannot have a block)');
      if (args.length !== 1) {
        fail(file, step.line, `invalid number of arguments in "include" (it takes one file or mask, got ${args.length})`);
      }
      for (const directive of include(args[0]!, file, step.line, ctx)) list.push(directive);
      continue;
    }
    const directive: NginxDirective = { name, args, file, line: step.line, block: step.kind === 'block' ? [] : null };
    list.push(directive);
    if (directive.block) {
      open.push(directive);
      list = directive.block;
    }
  }
}

function include(arg: string, file: string, line: number, ctx: Context): NginxDirective[] {
  const target = isAbsolute(arg) ? resolve(arg) : resolve(ctx.prefix, arg);
  // As ngx_conf_include: a name with *, ? or [ is a mask and may match nothing; any other must exist.
  const isMask = /[*?[]/.test(target);
  let files: string[];
  if (isMask) {
    try {
      files = ctx.glob(target);
    } catch (err) {
      fail(file, line, `include "${arg}": cannot list ${target} (${reason(err)})`);
    }
  } else {
    files = [target];
  }
  const out: NginxDirective[] = [];
  for (const path of files) {
    const abs = resolve(path);
    const at = ctx.reading.indexOf(abs);
    if (at >= 0) {
      // (Where an include leads depends only on its text, so endless nesting always repeats a path.)
      const chain = [...ctx.reading.slice(at), abs].join(' -> ');
      fail(file, line, `include "${arg}" makes an include cycle: ${chain}`);
    }
    let text: string;
    try {
      text = ctx.readFile(abs);
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
      const where = isAbsolute(arg) ? '' : `; relative includes resolve against ${ctx.prefix}`;
      fail(file, line, missing && !isMask
        ? `include "${arg}": no such file ${abs}${where}`
        : `include "${arg}": cannot read ${abs} (${reason(err)})`);
    }
    for (const directive of parseFileText(text, abs, ctx)) out.push(directive);
  }
  return out;
}

/**
 * One step of the reader, as ngx_conf_read_token returns them: a directive ended by `;`, one opening a
 * block with `{`, a `}`, or the end of the file. `line` is that of the directive's name, or of the `}`
 * or the end.
 */
type Step =
  | { kind: 'simple' | 'block'; words: string[]; line: number }
  | { kind: 'close'; line: number }
  | { kind: 'end'; line: number };

const LF = 10;
const CR = 13;
const TAB = 9;
const SPACE = 32;
const HASH = 35; // #
const DQUOTE = 34; // "
const SQUOTE = 39; // '
const DOLLAR = 36; // $
const SEMICOLON = 59; // ;
const LBRACE = 123; // {
const RBRACE = 125; // }
const RPAREN = 41; // )
const BACKSLASH = 92; // \

function isSpace(ch: number): boolean {
  return ch === SPACE || ch === TAB || ch === CR || ch === LF;
}

class Lexer {
  private pos = 0;
  private line = 1;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  /** ngx_conf_read_token, state for state; its messages, with what is missing where it helps. */
  next(): Step {
    const { text, file } = this;
    const words: string[] = [];
    let firstLine = 0;
    let needSpace = false; // a closing quote was just read: a space, ';', '{' or ')' must follow
    let lastSpace = true; // between words
    let comment = false;
    let variable = false; // the previous character was '$': a '{' right after it is part of the word
    let escaped = false; // the previous character was '\': this one is taken as is
    let sQuoted = false;
    let dQuoted = false;
    let start = this.pos;
    let startLine = this.line;

    const word = (end: number) => {
      if (words.length === 0) firstLine = startLine;
      words.push(unescape(text.slice(start, end)));
    };
    const pending = () => `the directive "${words[0]}" at line ${firstLine}`;

    for (;;) {
      if (this.pos >= text.length) {
        if (sQuoted || dQuoted) {
          fail(file, this.line, `unexpected end of file, expecting ${sQuoted ? "\"'\"" : "'\"'"} (the quoted string at line ${startLine} is not closed)`);
        }
        if (words.length > 0 || !lastSpace) {
          const what = words.length > 0 ? pending() : `the directive "${text.slice(start)}" at line ${startLine}`;
          fail(file, this.line, `unexpected end of file, expecting ";" (${what} is not terminated)`);
        }
        return { kind: 'end', line: this.line };
      }
      const ch = text.charCodeAt(this.pos++);

      if (ch === LF) {
        this.line++;
        comment = false;
      }
      if (comment) continue;
      if (escaped) {
        escaped = false;
        continue;
      }

      if (needSpace) {
        if (isSpace(ch)) {
          lastSpace = true;
          needSpace = false;
          continue;
        }
        if (ch === SEMICOLON) return { kind: 'simple', words, line: firstLine };
        if (ch === LBRACE) return { kind: 'block', words, line: firstLine };
        if (ch === RPAREN) {
          // `if ($a = "b")`: the ')' becomes a word of its own, read below
          lastSpace = true;
          needSpace = false;
        } else {
          fail(file, this.line, `unexpected "${String.fromCharCode(ch)}" after a closing quote (a space, ";" or "{" must follow it)`);
        }
      }

      if (lastSpace) {
        start = this.pos - 1;
        startLine = this.line;
        if (isSpace(ch)) continue;
        switch (ch) {
          case SEMICOLON:
          case LBRACE:
            if (words.length === 0) {
              fail(file, this.line, ch === SEMICOLON
                ? 'unexpected ";" (a directive without a name)'
                : 'unexpected "{" (a block without a directive name before it)');
            }
            return { kind: ch === SEMICOLON ? 'simple' : 'block', words, line: firstLine };
          case RBRACE:
            if (words.length > 0) fail(file, this.line, `unexpected "}" (${pending()} is missing its ";")`);
            return { kind: 'close', line: this.line };
          case HASH:
            comment = true;
            continue;
          case BACKSLASH:
            escaped = true;
            lastSpace = false;
            continue;
          case DQUOTE:
            start++;
            dQuoted = true;
            lastSpace = false;
            continue;
          case SQUOTE:
            start++;
            sQuoted = true;
            lastSpace = false;
            continue;
          case DOLLAR:
            variable = true;
            lastSpace = false;
            continue;
          default:
            lastSpace = false;
        }
      } else {
        if (ch === LBRACE && variable) continue;
        variable = false;
        if (ch === BACKSLASH) {
          escaped = true;
          continue;
        }
        if (ch === DOLLAR) {
          variable = true;
          continue;
        }
        let found = false;
        if (dQuoted) {
          if (ch === DQUOTE) {
            dQuoted = false;
            needSpace = true;
            found = true;
          }
        } else if (sQuoted) {
          if (ch === SQUOTE) {
            sQuoted = false;
            needSpace = true;
            found = true;
          }
        } else if (isSpace(ch) || ch === SEMICOLON || ch === LBRACE) {
          lastSpace = true;
          found = true;
        }
        if (found) {
          word(this.pos - 1);
          if (ch === SEMICOLON) return { kind: 'simple', words, line: firstLine };
          if (ch === LBRACE) return { kind: 'block', words, line: firstLine };
        }
      }
    }
  }
}

/** The escapes nginx resolves when it copies a word (quoted or not): \" \' \\ \t \r \n; any other \x stays. */
function unescape(raw: string): string {
  if (!raw.includes('\\')) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\' && i + 1 < raw.length) {
      const n = raw[i + 1]!;
      if (n === '"' || n === "'" || n === '\\') {
        out += n;
        i++;
        continue;
      }
      if (n === 't' || n === 'r' || n === 'n') {
        out += n === 't' ? '\t' : n === 'r' ? '\r' : '\n';
        i++;
        continue;
      }
    }
    out += c;
  }
  return out;
}

/**
 * glob(3) as nginx calls it (no flags): *, ? and [...] (with ! or ^ to negate) in any path part, \ to
 * quote one character, a leading '.' matched only by a '.' written in the pattern; existing paths only,
 * sorted.
 */
function globFiles(pattern: string): string[] {
  let paths = ['/'];
  for (const part of resolve(pattern).split('/')) {
    if (part === '') continue;
    if (!/[*?[]/.test(part)) {
      const name = part.replace(/\\(.)/gs, '$1');
      paths = paths.map((dir) => join(dir, name));
      continue;
    }
    const re = globPartRegExp(part);
    const next: string[] = [];
    for (const dir of paths) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        if (name.startsWith('.') && !part.startsWith('.')) continue;
        if (re.test(name)) next.push(join(dir, name));
      }
    }
    paths = next;
  }
  return paths.filter(exists).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

function globPartRegExp(part: string): RegExp {
  let re = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (c === '\\' && i + 1 < part.length) {
      re += escapeRegExp(part[++i]!);
    } else if (c === '*') {
      re += '.*';
    } else if (c === '?') {
      re += '.';
    } else if (c === '[') {
      let j = i + 1;
      const negate = part[j] === '!' || part[j] === '^';
      if (negate) j++;
      // a ']' first in the set is a member, not its end
      const close = part.indexOf(']', part[j] === ']' ? j + 1 : j);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      const members = [...part.slice(j, close)].map((m) => (m === '-' ? m : escapeRegExp(m))).join('');
      re += `[${negate ? '^' : ''}${members}]`;
      i = close;
    } else {
      re += escapeRegExp(c);
    }
  }
  return new RegExp(`^${re}$`, 's');
}
