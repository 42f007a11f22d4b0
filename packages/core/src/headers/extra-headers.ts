/**
 * A listener's own response headers (HSTS): flat `[name, value, ...]` pairs with lower-case
 * names that every response carries, replacing an upstream field of the same name. One check,
 * shared by the node:http, upgrade and node:http2 adapters.
 */

/** Whether `name` (lower case) is one of `extra`'s names. */
export function isExtraName(name: string, extra: readonly string[]): boolean {
  for (let i = 0; i < extra.length; i += 2) if (extra[i] === name) return true;
  return false;
}

/** `headers` with `extra`'s names dropped and `extra` appended (a new array only when needed). */
export function withExtra(headers: string[], extra: readonly string[]): string[] {
  if (extra.length === 0) return headers;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if (!isExtraName(headers[i]!.toLowerCase(), extra)) out.push(headers[i]!, headers[i + 1]!);
  }
  for (let j = 0; j < extra.length; j++) out.push(extra[j]!);
  return out;
}
