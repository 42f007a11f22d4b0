/**
 * Keep-alive sockets to one upstream server, per thread (nginx `keepalive`, undici's Pool).
 *
 * Dispatch order: an idle socket (most recently used first: it is the least likely to have been
 * closed by the server), else a new socket while under `maxConnections`, else a pipelined slot on
 * the busiest-free socket when pipelining is on, else a FIFO wait bounded by `connectTimeout`.
 * Released sockets go back idle; idle sockets beyond `keepalive` that stay unused for a tick are
 * closed (least recently used first). Closing them at once, as nginx does, makes a busy pool
 * churn: under 50 concurrent requests and `keepalive 10`, every release past the tenth would close
 * a socket the next request then reopens. Sockets past `maxRequestsPerSocket` are closed, and idle
 * ones are retired one second before the server would drop them.
 */
import type tls from 'node:tls';
import { clock, watch, unwatch, type Timed } from '../clock.js';
import { Connection, ConnState, type Carried, type ConnectionOwner } from './connection.js';
import type { HealthState, ServerInfo, ServerStats } from './info.js';
import { Histogram } from '../stats/histogram.js';
import type { ServerAddress, UpstreamOptions } from '../config/options.js';
import { FAILURE_KINDS, FailureKind, UpstreamError } from './errors.js';
import { formatHostPort } from '../headers/host.js';

/** A request as the pool sees it. */
export interface PoolRequest extends Carried {
  /** May share a socket with requests in flight (idempotent, no streaming body). */
  readonly pipelinable: boolean;
}

/** Keep a little margin before the server's own idle timeout so we never reuse a dying socket. */
const SERVER_TIMEOUT_MARGIN = 1000;

/** How long surplus idle sockets (beyond `keepalive`) may wait for reuse before being closed. */
const SURPLUS_GRACE = 100;

class Waiter implements Timed {
  deadline: number;
  constructor(
    readonly req: PoolRequest,
    timeout: number,
    private readonly pool: Pool,
    /** A retry after a stale keep-alive socket: it must get a new connection, never a reused one. */
    readonly fresh: boolean,
  ) {
    this.deadline = clock.now + timeout;
  }
  onDeadline(): void {
    this.pool.expire(this);
  }
}

export class Pool implements ConnectionOwner, ServerInfo {
  readonly address: ServerAddress;
  /** Position in its upstream's servers (a reload may move it). Set by adopt(). */
  index!: number;
  /** `host:port`, for logs and the default Host header. */
  readonly label: string;
  weight!: number;
  backup!: boolean;
  readonly readTimeout: number;
  readonly sendTimeout: number;
  readonly stats: ServerStats = {
    connects: 0,
    reuses: 0,
    errors: new Float64Array(FAILURE_KINDS),
    connectTime: new Histogram(),
    ejections: 0,
  };
  /** Requests assigned to this server and not finished (the exchange counts itself in and out). */
  active = 0;

  // ---- health: the balancer reads `usable`, kept up to date at every transition
  /** The balancer may choose it: not down, passing active checks, not ejected. */
  usable!: boolean;
  /** Kept out by configuration. */
  down!: boolean;
  /** Active health checks (run elsewhere) say it passes, or never ran. */
  private checksPass = true;
  /** End of the current ejection (ms since the epoch), or 0 (passive health, passive-health.ts). */
  ejectedUntil = 0;
  /** Failures counted towards an ejection, and when the count began (window mode). */
  failures = 0;
  failingSince = 0;
  /** Ejections in a row without a quiet max_ejection_time between: the next lasts this much longer. */
  ejectionLevel = 0;
  /** When the last ejection ended. */
  returnedAt = 0;
  private connectingCount = 0;
  private readonly opts: UpstreamOptions;
  private readonly tls: tls.ConnectionOptions | undefined;
  private readonly idleSockets: Connection[] = [];
  private readonly connections = new Set<Connection>();
  private waiting: Waiter[] = [];
  private closing = false;
  /** Trims surplus idle sockets once they have sat unused for SURPLUS_GRACE. */
  private readonly trimmer: Timed = { deadline: 0, onDeadline: () => this.trim() };
  private readonly trimGroup = [this.trimmer];

  constructor(server: ServerAddress, index: number, opts: UpstreamOptions, tlsOptions?: tls.ConnectionOptions) {
    this.address = server;
    this.adopt(server, index);
    this.opts = opts;
    this.tls = tlsOptions;
    this.readTimeout = opts.readTimeout;
    this.sendTimeout = opts.sendTimeout;
    this.label = formatHostPort(server.host, server.port);
    watch(this.connections);
    watch(this.waitingView);
    watch(this.trimGroup);
  }

  get open(): number {
    return this.connections.size;
  }

  get connecting(): number {
    return this.connectingCount;
  }

  get health(): HealthState {
    return this.down ? 'down' : !this.checksPass ? 'unhealthy' : this.ejectedUntil !== 0 ? 'ejected' : 'up';
  }

  /** Active health checks passed or failed (rise/fall already applied by the checker). */
  setChecksPass(pass: boolean): void {
    this.checksPass = pass;
    this.updateUsable();
  }

  /** Its place and settings in the configuration: at construction, and when a reload keeps this pool (sockets and health stay). */
  adopt(server: ServerAddress, index: number): void {
    this.index = index;
    this.weight = server.weight ?? 1;
    this.backup = server.backup ?? false;
    this.down = server.down ?? false;
    this.updateUsable();
  }

  /** After an ejection began or ended. */
  updateUsable(): void {
    this.usable = !this.down && this.checksPass && this.ejectedUntil === 0;
  }

  get idle(): number {
    return this.idleSockets.length;
  }

  get pending(): number {
    return this.waiting.length;
  }

  dispatch(req: PoolRequest, fresh = false): void {
    if (this.closing) {
      req.onFailure(new UpstreamError(FailureKind.Connect, 'upstream pool is closing'), null);
      return;
    }
    if (!fresh) {
      const conn = this.idleSockets.pop();
      if (conn !== undefined) {
        conn.carry(req);
        return;
      }
    }
    // With pipelining on, up to `keepalive` sockets are opened before requests share them.
    const pipelining = req.pipelinable && this.opts.pipelining > 1 && !fresh;
    if (pipelining && this.connections.size >= Math.max(1, this.opts.keepalive)) {
      const conn = this.pipelineSlot();
      if (conn !== null) {
        conn.carry(req);
        return;
      }
    }
    if (this.connections.size < this.opts.maxConnections) {
      this.openSocket().carry(req);
      return;
    }
    if (pipelining) {
      const conn = this.pipelineSlot();
      if (conn !== null) {
        conn.carry(req);
        return;
      }
    }
    this.waiting.push(new Waiter(req, this.opts.connectTimeout, this, fresh));
  }

  /** Remove a request that is still waiting for a socket (its client went away). */
  cancel(req: PoolRequest): boolean {
    const i = this.waiting.findIndex((w) => w.req === req);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  /** Least-loaded busy socket with room in its pipeline whose head request is pipelinable too. */
  private pipelineSlot(): Connection | null {
    let best: Connection | null = null;
    for (const c of this.connections) {
      if (c.state !== ConnState.Busy && c.state !== ConnState.Connecting) continue;
      const n = c.inflight.length;
      if (n === 0 || n >= this.opts.pipelining) continue;
      if (!(c.inflight[n - 1] as PoolRequest).pipelinable) continue;
      if (best === null || n < best.inflight.length) best = c;
    }
    return best;
  }

  private openSocket(): Connection {
    const conn = new Connection(this, {
      host: this.address.host,
      port: this.address.port,
      connectTimeout: this.opts.connectTimeout,
      ...(this.tls ? { tls: this.tls } : {}),
    });
    this.connections.add(conn);
    this.stats.connects++;
    this.connectingCount++;
    return conn;
  }

  connected(conn: Connection): void {
    this.connectingCount--;
    this.stats.connectTime.observe((performance.now() - conn.startedAt) / 1000);
    conn.startQueued();
    if (conn.state === ConnState.Idle) this.released(conn);
  }

  released(conn: Connection): void {
    if (conn.served >= this.opts.maxRequestsPerSocket || this.closing) {
      conn.retire();
      return;
    }
    const w = this.waiting[0];
    if (w !== undefined) {
      if (w.fresh && conn.reused) {
        // Closing this socket frees the room closed() opens a new one in, for this waiter.
        conn.retire();
        return;
      }
      this.waiting.shift();
      conn.carry(w.req);
      return;
    }
    if (this.opts.keepalive === 0) {
      conn.retire();
      return;
    }
    let idleFor = this.opts.idleTimeout;
    if (conn.serverIdleTimeout >= 0) {
      idleFor = Math.min(idleFor, conn.serverIdleTimeout - SERVER_TIMEOUT_MARGIN);
    }
    if (idleFor <= 0) {
      conn.retire();
      return;
    }
    conn.deadline = clock.now + idleFor;
    conn.idleSince = clock.now;
    this.idleSockets.push(conn);
    if (this.idleSockets.length > this.opts.keepalive && this.trimmer.deadline === 0) {
      this.trimmer.deadline = clock.now + SURPLUS_GRACE;
    }
  }

  /** Close idle sockets beyond `keepalive` that nobody reused, oldest first. */
  private trim(): void {
    const idle = this.idleSockets;
    const keep = this.opts.keepalive;
    const cutoff = clock.now - SURPLUS_GRACE;
    let n = 0;
    while (idle.length - n > keep && idle[n]!.idleSince <= cutoff) n++;
    if (n > 0) for (const c of idle.splice(0, n)) c.retire();
    if (idle.length > keep) this.trimmer.deadline = clock.now + SURPLUS_GRACE;
  }

  closed(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    if (!conn.connected) this.connectingCount--;
    if (this.closing && this.connections.size === 0) unwatch(this.connections);
    const i = this.idleSockets.indexOf(conn);
    if (i >= 0) this.idleSockets.splice(i, 1);
    // A socket freed room under maxConnections: start the next waiter on a new one.
    if (!this.closing && this.waiting.length > 0 && this.connections.size < this.opts.maxConnections) {
      const w = this.waiting.shift()!;
      this.openSocket().carry(w.req);
    }
  }

  expire(w: Waiter): void {
    const i = this.waiting.indexOf(w);
    if (i < 0) return;
    this.waiting.splice(i, 1);
    w.req.onFailure(
      new UpstreamError(FailureKind.QueueTimeout, `no free upstream connection to ${this.label} within connect_timeout`),
      null,
    );
  }

  /** The wait queue as a live iterable for the timer sweep. */
  private readonly waitingView: Iterable<Timed> = {
    [Symbol.iterator]: () => this.waiting.slice()[Symbol.iterator](),
  };

  /** Close idle sockets now, and busy ones as soon as their response completes. */
  close(): void {
    this.closing = true;
    for (const c of this.idleSockets.splice(0)) c.retire();
    for (const w of this.waiting.splice(0)) {
      w.req.onFailure(new UpstreamError(FailureKind.Connect, 'proxy is shutting down'), null);
    }
    unwatch(this.waitingView);
    unwatch(this.trimGroup);
    if (this.connections.size === 0) unwatch(this.connections);
  }
}
