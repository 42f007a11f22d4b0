/**
 * The configuration `portcullis import` writes, as a plain object, with the nginx directive each
 * key came from; emitted as YAML with that origin as a comment above the key
 * (`# ssl_certificate (sites-enabled/sso:12)`), using the `yaml` package's document model.
 */
import { Document, isMap, isSeq, type Node, type Pair, type YAMLMap, type YAMLSeq } from 'yaml';
import type { NginxDirective } from './nginx-parse.js';

export type Path = ReadonlyArray<string | number>;

const TOP_ORDER = ['workers', 'log', 'trusted_proxies', 'forwarded', 'listen', 'upstreams', 'routes'];

export class Output {
  readonly root: Record<string, unknown> = {};
  private readonly origins = new Map<string, string[]>();

  constructor(private readonly fileName: (file: string) => string) {}

  /** Set `value` at `path` (objects and arrays on the way are made), noting where it came from. */
  set(path: Path, value: unknown, from?: Pick<NginxDirective, 'name' | 'args' | 'file' | 'line'> | string): void {
    let node: Record<string | number, unknown> = this.root;
    for (let i = 0; i < path.length - 1; i++) {
      const k = path[i]!;
      if (node[k] === undefined) node[k] = typeof path[i + 1] === 'number' ? [] : {};
      node = node[k] as Record<string | number, unknown>;
    }
    node[path[path.length - 1]!] = value;
    if (from !== undefined) this.note(path, from);
  }

  get(path: Path): unknown {
    let node: unknown = this.root;
    for (const k of path) {
      if (node === undefined || node === null) return undefined;
      node = (node as Record<string | number, unknown>)[k];
    }
    return node;
  }

  /** Say where `path` came from (several directives may add to one key). */
  note(path: Path, from: Pick<NginxDirective, 'name' | 'args' | 'file' | 'line'> | string): void {
    const text = typeof from === 'string' ? from : `${[from.name, ...from.args.map(quoteArg)].join(' ')}  (${this.fileName(from.file)}:${from.line})`;
    const key = JSON.stringify(path);
    const list = this.origins.get(key) ?? [];
    if (!list.includes(text)) list.push(text);
    this.origins.set(key, list);
  }

  /** The YAML text, each key with its origins as comments, `header` on top. */
  toYaml(header: string): string {
    // The keys in the order a reader looks for them, whatever order the translation found them in.
    const ordered: Record<string, unknown> = {};
    for (const k of TOP_ORDER) if (k in this.root) ordered[k] = this.root[k];
    for (const k of Object.keys(this.root)) if (!(k in ordered)) ordered[k] = this.root[k];
    // No anchors and aliases: a list written twice (the names of two listeners) is written out twice.
    const doc = new Document(ordered, { aliasDuplicateObjects: false });
    for (const [key, texts] of this.origins) {
      const path = JSON.parse(key) as Array<string | number>;
      const target = locate(doc.contents as Node, path);
      if (target === null) continue;
      const comment = texts.map((t) => ` ${t}`).join('\n');
      target.commentBefore = target.commentBefore ? `${target.commentBefore}\n${comment}` : comment;
    }
    doc.commentBefore = header;
    return doc.toString({ lineWidth: 0 });
  }
}

/** nginx shows an argument with spaces or quotes in quotes. */
function quoteArg(a: string): string {
  return a === '' || /[\s;{}"'#]/.test(a) ? JSON.stringify(a) : a;
}

/** The node a comment for `path` goes on: a map key, or a sequence item. */
function locate(root: Node, path: Array<string | number>): { commentBefore?: string | null } | null {
  let node: Node | null = root;
  let holder: { commentBefore?: string | null } | null = null;
  for (const k of path) {
    if (node === null) return null;
    if (isMap(node)) {
      const pair = (node as YAMLMap).items.find((p) => (p.key as { value?: unknown } | null)?.value === k) as Pair | undefined;
      if (pair === undefined) return null;
      holder = pair.key as { commentBefore?: string | null };
      node = pair.value as Node | null;
    } else if (isSeq(node)) {
      const item = (node as YAMLSeq).items[k as number] as Node | undefined;
      if (item === undefined) return null;
      holder = item as { commentBefore?: string | null };
      node = item;
    } else {
      return null;
    }
  }
  return holder;
}
