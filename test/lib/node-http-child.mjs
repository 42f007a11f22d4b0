// Runs createProxy + nodeHttpHandler on a node:http server in its own process, so a test can read
// the proxy's memory from /proc. argv[2]: createProxy options as JSON. Prints {"msg":"ready","port":N}.
import http from 'node:http';
import { createProxy, nodeHttpHandler } from '@portcullis/core';

const proxy = createProxy(JSON.parse(process.argv[2]));
const server = http.createServer(nodeHttpHandler(proxy));
const sockets = new Set();
server.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ msg: 'ready', port: server.address().port, pid: process.pid }) + '\n');
});
const stop = () => {
  for (const s of sockets) s.destroy();
  server.close();
  Promise.resolve(proxy.close()).finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
