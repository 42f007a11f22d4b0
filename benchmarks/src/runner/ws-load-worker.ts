// piscina task for the upgrade benchmark: WebSocket load from one worker thread, with the `ws`
// package as the client (bufferutil masks natively). Two shapes:
//   echo       `connections` long-lived connections, each keeping `inflight` messages of `size`
//              bytes in flight; counts echoes received during `durationS`
//   handshake  `connections` loops of open, one echo, close; counts completed loops
import WebSocket from 'ws';

export interface WsLoadTask {
  kind: 'echo' | 'handshake';
  url: string;
  connections: number;
  durationS: number;
  size: number;
  inflight: number;
  binary: boolean;
}

export interface WsLoadOutcome {
  /** Echoes (echo) or completed open-echo-close loops (handshake) in the measured window. */
  count: number;
  durationS: number;
  errors: number;
}

export default async function run(task: WsLoadTask): Promise<WsLoadOutcome> {
  return task.kind === 'echo' ? echo(task) : handshakes(task);
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

async function echo(task: WsLoadTask): Promise<WsLoadOutcome> {
  const payload = task.binary ? Buffer.alloc(task.size, 7) : 'x'.repeat(task.size);
  let errors = 0;
  const sockets: WebSocket[] = [];
  for (let i = 0; i < task.connections; i++) {
    try {
      sockets.push(await open(task.url));
    } catch {
      errors++;
    }
  }
  let counting = false;
  let count = 0;
  let running = true;
  for (const ws of sockets) {
    ws.on('message', () => {
      if (counting) count++;
      if (running) ws.send(payload, { binary: task.binary });
    });
    ws.on('error', () => errors++);
    for (let k = 0; k < task.inflight; k++) ws.send(payload, { binary: task.binary });
  }
  // Let the pipelines fill before counting.
  await new Promise((r) => setTimeout(r, 200));
  counting = true;
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, task.durationS * 1000));
  counting = false;
  const durationS = Number(process.hrtime.bigint() - t0) / 1e9;
  running = false;
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          ws.close();
          setTimeout(() => {
            ws.terminate();
            resolve();
          }, 2000).unref();
        }),
    ),
  );
  return { count, durationS, errors };
}

async function handshakes(task: WsLoadTask): Promise<WsLoadOutcome> {
  const payload = 'x'.repeat(Math.max(1, task.size));
  let count = 0;
  let errors = 0;
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + task.durationS * 1000;
  const loop = async (): Promise<void> => {
    while (Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const ws = new WebSocket(task.url, { perMessageDeflate: false });
        let done = false;
        const finish = (ok: boolean): void => {
          if (done) return;
          done = true;
          if (ok) count++;
          else errors++;
          resolve();
        };
        ws.once('open', () => ws.send(payload));
        ws.once('message', () => ws.close(1000));
        ws.once('close', (code) => finish(code === 1000));
        ws.once('error', () => finish(false));
        ws.once('unexpected-response', () => {
          ws.terminate();
          finish(false);
        });
      });
    }
  };
  await Promise.all(Array.from({ length: task.connections }, loop));
  return { count, durationS: Number(process.hrtime.bigint() - t0) / 1e9, errors };
}
