/**
 * Sockets of the `http2` listeners, bound once by the supervisor and shared by every worker.
 *
 * uWS listens with SO_REUSEPORT; Node 20's net cannot (`reusePort` came in Node 22.12), so the
 * workers' node:http2 listeners cannot each bind the port. Instead the supervisor binds a TCP socket
 * and sends it to each worker over IPC; each worker listens on its copy and the kernel hands every
 * new connection to one of them. The supervisor binds but never listens on its own copy, so it
 * never accepts a connection itself; keeping it means a restarted worker gets the same socket, and
 * connections waiting in the backlog while a worker is replaced are taken by the others instead
 * of being reset.
 *
 * The raw handle comes from Node's tcp_wrap binding: the one public way to bind without listening.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { formatHostPort } from '@portcullis/core';
import type { ListenerConfig } from '../config/index.js';

interface TcpHandle {
  bind(host: string, port: number): number;
  bind6(host: string, port: number, flags: number): number;
  getsockname(out: { port?: number }): number;
  close(): void;
}

interface TcpWrap {
  TCP: new (type: number) => TcpHandle;
  constants: { SERVER: number };
}

const { TCP, constants } = (process as unknown as { binding(name: string): TcpWrap }).binding('tcp_wrap');

/** libuv's error names for the bind errors a user can fix. */
const bindErrors: Record<number, string> = {
  [-98]: 'the address is in use (another program, or a listener of this server without http2 on the same port: switching a listener to or from http2 needs a restart)',
  [-99]: 'the address is not one of this machine\'s',
  [-13]: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
};

function key(l: ListenerConfig): string {
  return formatHostPort(l.host, l.port);
}

export class SharedSockets {
  private readonly handles = new Map<string, TcpHandle>();

  /**
   * Bind the `http2` listeners of `listeners` not bound yet.
   * @throws Error naming the address and why it cannot be bound.
   */
  async bind(listeners: readonly ListenerConfig[]): Promise<void> {
    for (const l of listeners) {
      if (!l.http2 || this.handles.has(key(l))) continue;
      const address = isIP(l.host) ? l.host : (await lookup(l.host)).address;
      const handle = new TCP(constants.SERVER);
      let err = isIP(address) === 6 ? handle.bind6(address, l.port, 0) : handle.bind(address, l.port);
      // libuv defers EADDRINUSE from bind() to listen() (its "delayed error"), which here would
      // happen in a worker, on a copy that no longer carries the error, binding an ephemeral port
      // instead. So the socket's own address says whether the bind took.
      const bound: { port?: number } = {};
      if (err === 0 && (handle.getsockname(bound) !== 0 || bound.port !== l.port)) err = -98;
      if (err !== 0) {
        handle.close();
        throw new Error(`cannot bind ${key(l)}: ${bindErrors[err] ?? `error ${err}`}`);
      }
      this.handles.set(key(l), handle);
    }
  }

  /** The socket of listener `l` (http2 listeners only). */
  handleOf(l: ListenerConfig): object | undefined {
    return this.handles.get(key(l));
  }

  /** Close the sockets of listeners no longer in `listeners` (after the workers using them left). */
  keepOnly(listeners: readonly ListenerConfig[]): void {
    const wanted = new Set(listeners.filter((l) => l.http2).map(key));
    for (const [k, h] of this.handles) {
      if (wanted.has(k)) continue;
      h.close();
      this.handles.delete(k);
    }
  }

  close(): void {
    this.keepOnly([]);
  }
}
