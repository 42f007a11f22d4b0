/**
 * Client connections per listener, counted by the supervisor from the kernel's socket tables
 * (/proc/net/tcp and /proc/net/tcp6) at scrape time: ESTABLISHED sockets whose local address and
 * port are a listener's. uWebSockets.js 20.30 reports no connection open or close for HTTP (its
 * `filter` callback came later), so the workers cannot count them without a cost per request.
 * Linux only; elsewhere the metric has no samples.
 */
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { formatHostPort } from '@portcullis/core';
import type { ListenerConfig } from '../config/index.js';

/** `st` of an ESTABLISHED socket in /proc/net/tcp*. */
const ESTABLISHED = '01';

/** A listener's address in the tables' form: the address (null: any) and the port. */
interface Wanted {
  label: string;
  /** 32 hex digits of the IPv6 form (IPv4 as ::ffff:a.b.c.d) in network order, or null for any address. */
  address: string | null;
  port: number;
}

/** 32 hex digits of an IP address in network order (IPv4 as ::ffff:a.b.c.d), or null for a name. */
function hexOf(ip: string): string | null {
  const v4 = (a: string): string[] => {
    const b = a.split('.').map((x) => Number(x).toString(16).padStart(2, '0'));
    return [b[0]! + b[1]!, b[2]! + b[3]!];
  };
  if (isIPv4(ip)) return ['0', '0', '0', '0', '0', 'ffff', ...v4(ip)].map((g) => g.padStart(4, '0')).join('');
  if (!isIPv6(ip)) return null;
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':').flatMap((g) => (g.includes('.') ? v4(g) : [g])));
  const gap = ip.indexOf('::');
  const head = groups(gap < 0 ? ip : ip.slice(0, gap));
  const tail = gap < 0 ? [] : groups(ip.slice(gap + 2));
  const all = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return all.map((g) => g.padStart(4, '0')).join('').toLowerCase();
}

/** The tables' hex address (IPv4: one little-endian word; IPv6: four) in network order, as hexOf gives it. */
function tableAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const swapped = words.map((w) => w.match(/../g)!.reverse().join('')).join('').toLowerCase();
  return words.length === 1 ? '00000000000000000000ffff' + swapped : swapped;
}

const ANY = new Set(['0.0.0.0', '::', '']);

export class DownstreamConnections {
  private readonly wanted: Wanted[];
  private counts = new Map<string, number>();
  /** False when the tables cannot be read (not Linux): no samples. */
  private available = true;

  constructor(listeners: readonly ListenerConfig[]) {
    this.wanted = listeners.map((l) => ({
      label: formatHostPort(l.host, l.port),
      // A host name binds whatever it resolves to: match the port alone.
      address: ANY.has(l.host) ? null : hexOf(l.host),
      port: l.port,
    }));
  }

  /** Count again from the kernel's tables (at scrape time). */
  async refresh(): Promise<void> {
    const counts = new Map<string, number>(this.wanted.map((w) => [w.label, 0]));
    let read = 0;
    for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text: string;
      try {
        text = await readFile(file, 'latin1');
        read++;
      } catch {
        continue;
      }
      let start = text.indexOf('\n') + 1;
      while (start > 0 && start < text.length) {
        const end = text.indexOf('\n', start);
        const line = text.slice(start, end < 0 ? text.length : end);
        start = end < 0 ? text.length : end + 1;
        // "  sl  local_address rem_address   st ..."
        const f = line.trim().split(/\s+/);
        if (f[3] !== ESTABLISHED || f[1] === undefined) continue;
        const colon = f[1].indexOf(':');
        const port = parseInt(f[1].slice(colon + 1), 16);
        let address: string | undefined;
        for (const w of this.wanted) {
          if (w.port !== port) continue;
          if (w.address !== null) {
            address ??= tableAddress(f[1].slice(0, colon));
            if (address !== w.address) continue;
          }
          counts.set(w.label, counts.get(w.label)! + 1);
          break;
        }
      }
    }
    this.available = read > 0;
    this.counts = counts;
  }

  /** label → established connections, as of the last refresh. */
  current(): ReadonlyMap<string, number> {
    return this.available ? this.counts : new Map();
  }
}
