// Child process: node-http-proxy (the `http-proxy` package) as its users run it: HTTP through a
// keep-alive agent, and WebSockets (`ws: true`, `proxy.ws()` on 'upgrade') as a byte tunnel.
// Usage: node node-http-proxy.js HOST PORT TARGET_URL
import http from 'node:http';
import httpProxy from 'http-proxy';

const [host = '127.0.0.1', portArg = '0', target = 'http://127.0.0.1:8080'] = process.argv.slice(2);

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const proxy = httpProxy.createProxyServer({ target, agent, xfwd: true, ws: true });
proxy.on('error', (err, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`bad gateway: ${err.message}\n`);
  } else {
    res.destroy();
  }
});

const server = http.createServer((req, res) => proxy.web(req, res));
server.on('upgrade', (req, socket, head) => proxy.ws(req, socket, head));
server.listen(Number(portArg), host, () => {
  console.log(JSON.stringify({ msg: 'ready', host, port: Number(portArg) }));
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
