/**
 * Hop-by-hop headers describe one connection, not the message, so they never cross the proxy
 * (RFC 9110 §7.6.1): the fixed set below plus every name a Connection header lists.
 */

/**
 * The fixed hop-by-hop names, the one definition every header pass uses: requests sent upstream
 * (http1/request-head.ts), responses sent to the client (response-headers.ts), a 101's headers
 * (websocket/handshake.ts) and the names a Connection header may list.
 */
export const HOP_BY_HOP: readonly string[] = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/** Whether `s[start, end)` is one of {@link HOP_BY_HOP}, in any case. */
export function hopByHopAt(s: string, start: number, end: number): boolean {
  // Switching on the length first rejects almost every end-to-end name with one integer compare;
  // the case-folding compare stops at the first differing character.
  switch (end - start) {
    case 2:
      return tokenIs(s, start, 'te');
    case 7:
      return tokenIs(s, start, 'trailer') || tokenIs(s, start, 'upgrade');
    case 10:
      return tokenIs(s, start, 'connection') || tokenIs(s, start, 'keep-alive');
    case 16:
      return tokenIs(s, start, 'proxy-connection');
    case 17:
      return tokenIs(s, start, 'transfer-encoding');
    default:
      return false;
  }
}

/** True for the fixed hop-by-hop names, in any case. */
export function isHopByHop(name: string): boolean {
  return hopByHopAt(name, 0, name.length);
}

/**
 * Case-insensitive equality against a lower-case literal without allocating a lower-cased copy.
 * Only letters of `lower` are folded, so `\r` can never pass for `-`.
 */
export function equalsLower(name: string, lower: string): boolean {
  const n = lower.length;
  if (name.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    const l = lower.charCodeAt(i);
    if (c !== l && !(l >= 97 && l <= 122 && (c | 0x20) === l)) return false;
  }
  return true;
}

/**
 * The header names one Connection value lists, lower-cased, appended to `into` (created on the
 * first name so the common values cost nothing). Tokens that are not worth listing are skipped:
 * `close` and `keep-alive` are connection options, and names already in the fixed hop-by-hop
 * set are dropped anyway. `host` is never listed: the route was chosen by it, so a client must
 * not be able to make the upstream see a different virtual host.
 */
export function addConnectionTokens(value: string, into: string[] | null): string[] | null {
  // Nearly every Connection value is one of these exactly; a compare beats the parse.
  if (value === 'keep-alive' || value === 'close' || value === 'Upgrade' || value === 'Keep-Alive') return into;
  const len = value.length;
  let i = 0;
  while (i < len) {
    // Trim OWS and skip empty list elements (`a, ,b` is legal list syntax).
    let c = value.charCodeAt(i);
    while (i < len && (c === 32 || c === 9 || c === 44)) c = value.charCodeAt(++i);
    if (i >= len) break;
    const start = i;
    let end = i;
    while (i < len && (c = value.charCodeAt(i)) !== 44) {
      if (c !== 32 && c !== 9) end = i + 1;
      i++;
    }
    if (!isIgnoredToken(value, start, end)) {
      const name = value.slice(start, end).toLowerCase();
      if (into === null) into = [name];
      else if (!into.includes(name)) into.push(name);
    }
  }
  return into;
}

/**
 * Every name listed by the Connection header(s) of a flat `[name, value, ...]` array with
 * lower-case names, or null when there is nothing beyond the usual keep-alive/close/upgrade.
 */
export function connectionListedNames(headers: readonly string[]): string[] | null {
  let listed: string[] | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === 'connection') listed = addConnectionTokens(headers[i + 1]!, listed);
  }
  return listed;
}

function isIgnoredToken(value: string, start: number, end: number): boolean {
  // Compared in place: slicing `Upgrade` out of `keep-alive, Upgrade` would allocate per request.
  const n = end - start;
  if (n === 4) return tokenIs(value, start, 'host');
  if (n === 5) return tokenIs(value, start, 'close');
  return hopByHopAt(value, start, end);
}

/** `equalsLower` on `value[start, start + lower.length)`; the caller has checked the length. */
function tokenIs(value: string, start: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = value.charCodeAt(start + i);
    const l = lower.charCodeAt(i);
    if (c !== l && !(l >= 97 && l <= 122 && (c | 0x20) === l)) return false;
  }
  return true;
}
