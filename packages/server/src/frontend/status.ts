/** "200 OK" status lines, built once per status for the usual reason phrases. */
const cache = new Map<number, string>();
const reasons = new Map<number, string>();

export function statusLine(status: number, reason: string): string {
  if (reasons.get(status) === reason) return cache.get(status)!;
  const line = reason ? `${status} ${reason}` : String(status);
  if (!reasons.has(status)) {
    reasons.set(status, reason);
    cache.set(status, line);
  }
  return line;
}
