// The core's side of client backpressure, over real loopback sockets to a real origin: a client
// that cannot take bytes pauses the upstream socket, and what the core lends it is only valid
// during the call. The client here is a Downstream that records what it got and never drains,
// which a real client's timing cannot pin down: backed up exactly when a response completes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { ClientRequest, Downstream } from '../src/exchange/contract.js';
import { createProxy } from '../src/exchange/proxy.js';

/** A client that records what it gets; a backed-up one says so on every write and never drains. */
class RecordingClient implements Downstream {
  status = 0;
  body: Buffer[] = [];
  ended = false;
  readonly done: Promise<void>;
  private resolve!: () => void;
  constructor(private readonly backedUp: boolean) {
    this.done = new Promise((r) => (this.resolve = r));
  }
  respond(status: number, _reason: string, _headers: string[], body: Buffer | null): void {
    this.status = status;
    if (body !== null) this.body.push(Buffer.from(body));
    this.ended = true;
    this.resolve();
  }
  writeHead(status: number): void {
    this.status = status;
  }
  write(chunk: Buffer): boolean {
    this.body.push(Buffer.from(chunk));
    return !this.backedUp;
  }
  end(): void {
    this.ended = true;
    this.resolve();
  }
  destroy(): void {
    this.resolve();
  }
  pauseBody(): void {}
  resumeBody(): void {}
}

const get = (url: string): ClientRequest => ({
  method: 'GET',
  url,
  headers: ['host', 'test'],
  host: 'test',
  remoteAddress: '127.0.0.1',
  scheme: 'http',
  body: 'none',
  contentLength: 0,
  headerEncoding: 'latin1',
});

t.test('a response that completes while its client is backed up leaves its upstream socket reading for the next request', async (t) => {
  let connections = 0;
  const origin = http.createServer((req, res) => {
    if (req.url === '/split') {
      // The head in one read, the whole body in the next: the body is written to a client
      // that is backed up, and the response completes within that same read.
      res.writeHead(200, { 'content-length': '5' });
      res.flushHeaders();
      setTimeout(() => res.end('hello'), 50);
    } else {
      res.end('second');
    }
  });
  origin.on('connection', () => connections++);
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  t.teardown(() => origin.close());
  const proxy = createProxy({ target: `http://127.0.0.1:${(origin.address() as AddressInfo).port}` });
  t.teardown(() => proxy.close());

  const first = new RecordingClient(true);
  proxy.handle(get('/split'), first);
  await first.done;
  t.equal(Buffer.concat(first.body).toString(), 'hello', 'the first client got the body');

  // The first client never drains. The second request reuses the idle socket, which must read.
  const second = new RecordingClient(false);
  proxy.handle(get('/next'), second);
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise((r) => (timer = setTimeout(() => r('stuck'), 2000)));
  const outcome = await Promise.race([second.done.then(() => 'answered'), stuck]);
  clearTimeout(timer);
  t.equal(outcome, 'answered', 'the second request is answered, not held by the first client');
  t.equal(Buffer.concat(second.body).toString(), 'second');
  t.equal(connections, 1, 'on the same upstream connection');
});
