// piscina task for the TLS benchmark: `concurrency` loops, each opening a new TLS connection
// (a full handshake: no session is offered for resumption), sending one GET with
// `Connection: close`, reading the whole answer and closing, for `durationS` seconds.
import tls from 'node:tls';

export interface HandshakeTask {
  host: string;
  port: number;
  concurrency: number;
  durationS: number;
  /** Per-connection deadline. */
  timeoutMs?: number;
}

export interface HandshakeOutcome {
  /** Connections that completed handshake, request and a 200 answer. */
  completed: number;
  errors: number;
  errorKinds: Record<string, number>;
  /** Wall time of the run, seconds. */
  durationS: number;
  /** TLS versions negotiated (should be TLSv1.3 only). */
  protocols: Record<string, number>;
}

const request = 'GET / HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n';

export default async function run(task: HandshakeTask): Promise<HandshakeOutcome> {
  const out: HandshakeOutcome = { completed: 0, errors: 0, errorKinds: {}, durationS: 0, protocols: {} };
  const t0 = process.hrtime.bigint();
  const end = Date.now() + task.durationS * 1000;
  const fail = (kind: string): void => {
    out.errors++;
    out.errorKinds[kind] = (out.errorKinds[kind] ?? 0) + 1;
  };
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      let head = '';
      let done = false;
      const finish = (error?: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (error) fail(error);
        else if (head.startsWith('HTTP/1.1 200')) out.completed++;
        else fail(`answer ${JSON.stringify(head.slice(0, 12))}`);
        socket.destroy();
        resolve();
      };
      const socket = tls.connect({ host: task.host, port: task.port, servername: 'bench.test', rejectUnauthorized: false });
      const timer = setTimeout(() => finish('timeout'), task.timeoutMs ?? 10_000);
      socket.once('secureConnect', () => {
        const p = socket.getProtocol() ?? '?';
        out.protocols[p] = (out.protocols[p] ?? 0) + 1;
        socket.write(request);
      });
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => {
        if (head.length < 16) head += d;
      });
      socket.once('end', () => finish());
      socket.once('close', () => finish());
      socket.once('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    });
  const loop = async (): Promise<void> => {
    while (Date.now() < end) await one();
  };
  await Promise.all(Array.from({ length: task.concurrency }, loop));
  out.durationS = Number(process.hrtime.bigint() - t0) / 1e9;
  return out;
}
