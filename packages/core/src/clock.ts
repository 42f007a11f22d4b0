/**
 * One coarse clock and sweep per thread instead of a timer per request: arming a deadline on the
 * hot path is a field assignment, and one interval finds what expired (undici's fast timers,
 * nginx's timer tree, in miniature). Deadlines fire up to one tick late.
 */

export interface Timed {
  /** Absolute time in ms (clock.now based); 0 means no deadline. */
  deadline: number;
  onDeadline(now: number): void;
}

const TICK = 100;
const members = new Set<Iterable<Timed>>();
let interval: NodeJS.Timeout | null = null;

export const clock = {
  now: Date.now(),
};

function tick(): void {
  const now = (clock.now = Date.now());
  for (const group of members) {
    for (const t of group) {
      if (t.deadline !== 0 && t.deadline <= now) {
        t.deadline = 0;
        t.onDeadline(now);
      }
    }
  }
}

/** Watch a live collection (a pool's connections, a wait queue) until unwatched. */
export function watch(group: Iterable<Timed>): void {
  members.add(group);
  if (interval === null) {
    clock.now = Date.now();
    interval = setInterval(tick, TICK);
    interval.unref();
  }
}

export function unwatch(group: Iterable<Timed>): void {
  members.delete(group);
  if (members.size === 0 && interval !== null) {
    clearInterval(interval);
    interval = null;
  }
}
