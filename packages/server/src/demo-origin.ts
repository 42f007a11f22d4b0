/**
 * The built-in demo origin that `portcullis` with no configuration puts behind the proxy: it
 * answers every request with what it received, so one curl shows the proxying and the
 * X-Forwarded-* headers Portcullis added.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export async function startDemoOrigin(): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    let size = 0;
    req.on('data', (chunk: Buffer) => (size += chunk.length));
    req.on('end', () => {
      const body = JSON.stringify(
        {
          message: 'Hello from the Portcullis demo origin. This is the request the proxy sent me:',
          method: req.method,
          url: req.url,
          httpVersion: req.httpVersion,
          headers: req.headers,
          bodyBytes: size,
        },
        null,
        2,
      );
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) + 1 });
      res.end(body + '\n');
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
