// The README's "Embedding: hooks" example, kept here so that it is compiled and run:
// test/embed-hooks-example.test.ts runs it against real origins and checks that the README
// shows this code unchanged (everything below this comment).
import http from 'node:http';
import { createProxy, nodeHttpHandler, type ProxyHooks, type ServerInfo } from '@portcullis/core';

export function embeddedProxy(servers: string[], log: (line: string) => void = console.log) {
  /** 5xx responses per upstream server (`host:port`), in this process. */
  const serverErrors = new Map<string, number>();
  let requests = 0;

  const hooks: ProxyHooks = {
    // Least open connections instead of round-robin (ties: the first in the list).
    upstreamPeer(req, upstream) {
      let best: ServerInfo | undefined;
      for (const s of upstream.servers) if (best === undefined || s.open < best.open) best = s;
      return best;
    },
    // One header added to what goes upstream (names are lower-case).
    upstreamRequestFilter(req, headers) {
      headers.push('x-request-id', `${process.pid}-${++requests}`);
    },
    // Count the 5xx answers of each server (a passive health check would act on it).
    upstreamResponse(req, server, head) {
      if (head.status >= 500) serverErrors.set(server.label, (serverErrors.get(server.label) ?? 0) + 1);
    },
    // One line per request; `r` is valid only during this call.
    logging(r) {
      const error = r.error === null ? '' : ` error="${r.error.message}"`;
      log(`${r.client} "${r.request.method} ${r.request.url}" ${r.status} ${r.bytes} ${r.upstream ?? '-'} ${r.duration.toFixed(1)}ms retries=${r.retries}${error}`);
    },
  };

  const proxy = createProxy({ upstreams: [{ name: 'app', servers }] }, hooks);
  return { proxy, serverErrors, handler: nodeHttpHandler(proxy) };
}

// In front of two local servers, on port 8080:
export function main(): http.Server {
  const { handler } = embeddedProxy(['127.0.0.1:9000', '127.0.0.1:9001']);
  return http.createServer(handler).listen(8080);
}
