// CPU time used by a peer's processes (Linux /proc), so that a measurement can say how much CPU
// each request cost the peer: on a shared, noisy machine this moves much less than req/s.
// User and system time are kept apart because they answer different questions: the kernel's
// share (syscalls, loopback TCP) is about the same for every proxy design, the user-space share
// is what a proxy's own code costs.
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

/** CPU seconds, user and system apart. */
export interface CpuTimes {
  user: number;
  system: number;
}

interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

/** One /proc/<pid>/stat (or /proc/self/stat), or undefined once the process is gone. */
function readStat(pid: number | 'self'): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  // cutime cstime ...": comm may hold spaces and parentheses, so split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    pid: Number.parseInt(stat, 10),
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
    cutime: Number(rest[13]),
    cstime: Number(rest[14]),
  };
}

/**
 * User and system CPU seconds of every live process of a peer: the members of the given process
 * groups (a peer is started with its own group: nginx master and worker, a cluster's
 * supervisor and workers) and, should one of them have moved to a group of its own (setsid),
 * every descendant of a group's members too. NaN without /proc. A process's stat covers all of
 * its threads (Node's worker threads, libuv's pool). Processes that exit between two readings
 * take their time with them: peers keep theirs alive during a run.
 */
export function groupCpu(pgids: number[]): CpuTimes {
  if (pgids.length === 0) return { user: NaN, system: NaN };
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return { user: NaN, system: NaN };
  }
  const want = new Set(pgids);
  const all: ProcStat[] = [];
  for (const e of entries) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue;
    const s = readStat(Number(e));
    if (s) all.push(s);
  }
  const mine = new Set(all.filter((s) => want.has(s.pgrp)).map((s) => s.pid));
  // Descendants outside the groups: repeat until no new one is found (process trees are shallow).
  for (let grew = mine.size > 0; grew; ) {
    grew = false;
    for (const s of all) {
      if (!mine.has(s.pid) && mine.has(s.ppid)) {
        mine.add(s.pid);
        grew = true;
      }
    }
  }
  let utime = 0;
  let stime = 0;
  for (const s of all) {
    if (!mine.has(s.pid)) continue;
    utime += s.utime;
    stime += s.stime;
  }
  const hz = clockTicks();
  return { user: utime / hz, system: stime / hz };
}

/** User + system CPU seconds of a peer's processes (see groupCpu), or NaN without /proc. */
export function groupCpuSeconds(pgids: number[]): number {
  const t = groupCpu(pgids);
  return t.user + t.system;
}

/**
 * CPU seconds of this process's exited and reaped children (cutime + cstime of /proc/self/stat):
 * taken around a run of an external load generator (wrk), the difference is what that process
 * used, since nothing else this benchmark starts exits during a run. NaN without /proc.
 */
export function reapedChildrenCpuSeconds(): number {
  const s = readStat('self');
  return s ? (s.cutime + s.cstime) / clockTicks() : NaN;
}
