/**
 * Asking every worker for its metrics or its status over the fork IPC channel, at scrape time.
 * Each worker is asked once; the answers that arrive within the timeout are used. A worker that
 * is not running (being restarted) is not asked, one that dies or stays silent is given up on at
 * the timeout or at its exit, whichever comes first: a scrape never waits longer than the timeout.
 */
import type { ChildProcess } from 'node:child_process';
import type { FromWorker, ScrapeAnswer, ToWorker } from '../cluster/messages.js';

/** How a worker took part in one scrape. */
export type ScrapeResult = 'answered' | 'late' | 'down';

export interface ScrapeTarget {
  slot: number;
  child: ChildProcess | null;
}

export interface Scraped<T> {
  /** Per target, in order: its answer, or null. */
  answers: (T | null)[];
  results: ScrapeResult[];
}

type Waiting = (answer: ScrapeAnswer | null) => void;

export class Scraper {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  /** Give a worker's message here; returns whether it was a scrape answer. */
  onMessage(msg: FromWorker): boolean {
    if (msg.type !== 'scraped') return false;
    const w = this.waiting.get(msg.id);
    if (w !== undefined) w(msg);
    return true;
  }

  async gather(targets: readonly ScrapeTarget[], what: 'metrics', timeoutMs: number): Promise<Scraped<Extract<ScrapeAnswer, { what: 'metrics' }>>>;
  async gather(targets: readonly ScrapeTarget[], what: 'status', timeoutMs: number): Promise<Scraped<Extract<ScrapeAnswer, { what: 'status' }>>>;
  async gather(targets: readonly ScrapeTarget[], what: 'metrics' | 'status', timeoutMs: number): Promise<Scraped<ScrapeAnswer>> {
    const results: ScrapeResult[] = [];
    const answers = await Promise.all(
      targets.map((t, i) => {
        const child = t.child;
        if (child === null || !child.connected || child.exitCode !== null || child.signalCode !== null) {
          results[i] = 'down';
          return null;
        }
        return this.ask(child, what, timeoutMs).then((a) => {
          results[i] = a === null ? 'late' : 'answered';
          return a;
        });
      }),
    );
    return { answers, results };
  }

  private ask(child: ChildProcess, what: 'metrics' | 'status', timeoutMs: number): Promise<ScrapeAnswer | null> {
    const id = this.nextId++;
    return new Promise<ScrapeAnswer | null>((resolve) => {
      const done: Waiting = (answer) => {
        if (!this.waiting.delete(id)) return;
        clearTimeout(timer);
        child.off('exit', gone);
        resolve(answer !== null && answer.what === what ? answer : null);
      };
      const gone = (): void => done(null);
      const timer = setTimeout(gone, timeoutMs);
      this.waiting.set(id, done);
      child.once('exit', gone);
      try {
        child.send({ type: 'scrape', id, what } satisfies ToWorker, (err) => {
          if (err) done(null);
        });
      } catch {
        done(null);
      }
    });
  }
}
