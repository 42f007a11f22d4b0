// CPU time used by a peer's processes (Linux /proc), so that a measurement can say how much CPU
// each request cost the peer: on a shared, noisy machine this moves much less than req/s.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * User + system CPU seconds of every live process in the given process groups (a peer started
 * with its own group: nginx master and worker, a cluster's workers), or NaN without /proc.
 */
export function groupCpuSeconds(pgids: number[]): number {
  if (pgids.length === 0) return NaN;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return NaN;
  }
  const want = new Set(pgids);
  let ticks = 0;
  for (const e of entries) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue; // gone
    }
    // Fields after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (!want.has(Number(rest[2]))) continue;
    ticks += Number(rest[11]) + Number(rest[12]);
  }
  return ticks / clockTicks();
}
