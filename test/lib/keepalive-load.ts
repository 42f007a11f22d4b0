/**
 * Continuous keep-alive load for the tests of a stopping or changing server: `clients` loops,
 * each sending GET / over a shared keep-alive agent, one request at a time, recording each
 * outcome with whether it went out on a reused connection (a request lost there is what a
 * graceful stop must never do). A loop ends when told to, or at a refused connection (the
 * listeners are closed: that client would move to another replica).
 */
import http from 'node:http';
import type { Test } from 'tap';

export interface Outcome {
  at: number;
  status: number;
  /** The response's Connection header. */
  connection: string | undefined;
  /** The error code, when there was no response. */
  error: string | null;
  /** Sent on a keep-alive connection that had carried a request before. */
  reused: boolean;
}

export interface KeepAliveLoad {
  outcomes: Outcome[];
  /** Stop the loops and wait for their last requests. */
  stop(): Promise<void>;
}

export function keepAliveLoad(t: Test, port: number, clients = 6): KeepAliveLoad {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  t.teardown(() => agent.destroy());
  const outcomes: Outcome[] = [];
  let running = true;
  const one = (): Promise<Outcome> =>
    new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ at: Date.now(), status: res.statusCode ?? 0, connection: res.headers.connection, error: null, reused: req.reusedSocket }));
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ at: Date.now(), status: 0, connection: undefined, error: err.code ?? err.message, reused: req.reusedSocket }));
    });
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const o = await one();
      outcomes.push(o);
      if (o.error === 'ECONNREFUSED') return;
    }
  });
  return {
    outcomes,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
