// Child process: the floor of Portcullis's HTTP design, a peer of the keep-alive benchmark. The
// least any proxy built on the same two parts (a uWebSockets.js 20.30 frontend, keep-alive
// node:net sockets to the upstream) can do per request: the client's request line and headers
// copied as they came, no forwarded headers, routing, limits or timers; responses assumed to be
// one read with a Content-Length (as the benchmark origin's are); nothing of the response head
// checked but the status and the header lines. What it costs per request is the part of
// Portcullis's cost that is uWS's and Node's. Not a proxy to use: it trusts its upstream completely.
// Usage: node http-floor-relay.js HOST PORT ORIGIN_HOST ORIGIN_PORT
import net from 'node:net';
import uWS from 'uWebSockets.js';

const [host = '127.0.0.1', portArg = '0', originHost = '127.0.0.1', originPort = '0'] = process.argv.slice(2);

interface Pending {
  res: uWS.HttpResponse;
  aborted: boolean;
}

interface Upstream {
  sock: net.Socket;
  pending: Pending | null;
}

/** Sockets at most, as the other peers' pools (64). */
const MAX_SOCKETS = 64;
let open = 0;
const idle: Upstream[] = [];
const waiting: Array<[Pending, string]> = [];

/** One write per socket per event-loop turn, as Portcullis does. */
const corked = new Set<net.Socket>();
function flush(): void {
  for (const s of corked) s.uncork();
  corked.clear();
}

function send(up: Upstream, p: Pending, head: string): void {
  up.pending = p;
  if (!corked.has(up.sock)) {
    if (corked.size === 0) setImmediate(flush);
    corked.add(up.sock);
    up.sock.cork();
  }
  up.sock.write(head, 'latin1');
}

function respond(up: Upstream, data: Buffer): void {
  const p = up.pending;
  up.pending = null;
  const next = waiting.shift();
  if (next !== undefined) send(up, next[0], next[1]);
  else idle.push(up);
  if (p === null || p.aborted) return;
  const end = data.indexOf('\r\n\r\n');
  const text = data.toString('latin1', 0, end);
  let line = text.indexOf('\r\n');
  const status = text.slice(9, line);
  const body = data.subarray(end + 4);
  p.res.cork(() => {
    p.res.writeStatus(status);
    while (line < text.length) {
      const e = text.indexOf('\r\n', line + 2);
      const stop = e < 0 ? text.length : e;
      const colon = text.indexOf(':', line + 2);
      const name = text.slice(line + 2, colon);
      const lower = name.toLowerCase();
      if (lower !== 'content-length' && lower !== 'connection' && lower !== 'date') p.res.writeHeader(name, text.slice(colon + 2, stop));
      line = stop;
    }
    p.res.end(body);
  });
}

/** Upstream reads land in one buffer for all sockets (Node's onread), as Portcullis's do. */
const readBuffer = Buffer.allocUnsafeSlow(64 * 1024);

function connect(): Upstream {
  let up: Upstream | null = null;
  const onRead = (n: number): boolean => {
    respond(up!, readBuffer.subarray(0, n));
    return true;
  };
  const sock = net.connect({ host: originHost, port: Number(originPort), noDelay: true, onread: { buffer: readBuffer, callback: onRead } });
  up = { sock, pending: null };
  sock.on('error', () => {});
  // A socket the origin closed: forget it, and fail what it carried so that no client hangs.
  sock.on('close', () => {
    open--;
    const i = idle.indexOf(up!);
    if (i >= 0) idle.splice(i, 1);
    const p = up!.pending;
    up!.pending = null;
    if (p !== null && !p.aborted) p.res.cork(() => p.res.writeStatus('502 Bad Gateway').end());
  });
  return up;
}

uWS
  .App()
  .any('/*', (res, req) => {
    const query = req.getQuery();
    let head = `${req.getCaseSensitiveMethod()} ${query ? `${req.getUrl()}?${query}` : req.getUrl()} HTTP/1.1\r\n`;
    req.forEach((name, value) => {
      head += `${name}: ${value}\r\n`;
    });
    head += '\r\n';
    const p: Pending = { res, aborted: false };
    res.onAborted(() => {
      p.aborted = true;
    });
    const up = idle.pop();
    if (up !== undefined) send(up, p, head);
    else if (open < MAX_SOCKETS) {
      open++;
      send(connect(), p, head);
    }
    else waiting.push([p, head]);
  })
  .listen(host, Number(portArg), (token) => {
    if (!token) {
      console.error(`http-floor-relay: cannot listen on ${host}:${portArg}`);
      process.exit(1);
    }
    console.log(JSON.stringify({ msg: 'ready', host, port: Number(portArg) }));
  });
