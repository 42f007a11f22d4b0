/**
 * A node:http client call with a deadline, for tests that do not need raw framing. The response
 * reports whether its body ended cleanly or was cut ('aborted' / error).
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import { type HeaderList, headerValues } from './http1.js';

export interface ClientResponse {
  status: number;
  headers: HeaderList;
  body: Buffer;
  /** 'end': the body ended cleanly; 'aborted': cut short ('aborted' or error event). */
  outcome: 'end' | 'aborted';
  header(name: string): string[];
  json<T = unknown>(): T;
}

export interface ClientRequest {
  port: number;
  method?: string;
  path?: string;
  headers?: http.OutgoingHttpHeaders | string[];
  /** A Buffer is sent with Content-Length; an array of Buffers is sent chunked. */
  body?: Buffer | Buffer[];
  agent?: http.Agent | false;
  timeout?: number;
}

function pairs(raw: string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/**
 * Sends one request to 127.0.0.1:port. Rejects if no response head arrives (connection error)
 * or on the deadline; resolves with outcome 'aborted' if the body is cut after the head.
 */
export function request(r: ClientRequest): Promise<ClientResponse> {
  const timeout = r.timeout ?? 10_000;
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      req.destroy(new Error(`request ${r.method ?? 'GET'} ${r.path ?? '/'} timed out after ${timeout} ms`));
    }, timeout);
    const done = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const headers: http.OutgoingHttpHeaders | string[] = r.headers ?? {};
    const req = http.request({
      host: '127.0.0.1',
      port: r.port,
      method: r.method ?? 'GET',
      path: r.path ?? '/',
      headers,
      agent: r.agent ?? false,
    });
    req.on('error', (e) => done(() => reject(e)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      const headersList = pairs(res.rawHeaders);
      const finish = (outcome: 'end' | 'aborted'): void =>
        done(() => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: headersList,
            body,
            outcome,
            header: (n) => headerValues(headersList, n),
            json: <T>() => JSON.parse(body.toString('utf8')) as T,
          });
        });
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => finish(res.complete ? 'end' : 'aborted'));
      res.on('aborted', () => finish('aborted'));
      res.on('error', () => finish('aborted'));
      res.on('close', () => {
        if (!res.complete) finish('aborted');
      });
    });
    if (Array.isArray(r.body)) {
      const parts = r.body;
      let i = 0;
      const next = (): void => {
        if (i >= parts.length) {
          req.end();
          return;
        }
        req.write(parts[i++], () => setImmediate(next));
      };
      next();
    } else {
      req.end(r.body);
    }
  });
}

/** Sends a request and returns the response with a sha256 of its body, streaming it. */
export async function requestJson<T>(r: ClientRequest): Promise<{ res: ClientResponse; data: T }> {
  const res = await request(r);
  let data: T;
  try {
    data = res.json<T>();
  } catch {
    throw new Error(`status ${res.status}, body not JSON: ${res.body.toString('utf8').slice(0, 300)}`);
  }
  return { res, data };
}

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** How a slow reader reads: nothing for `firstStall` ms, then a `pause` ms stop after every `burst` bytes. */
export interface SlowReader {
  firstStall?: number;
  burst: number;
  pause: number;
}

/** GET `path` as a slow reader, so that the proxy backs up; what arrived, hashed as it came. */
export function slowGet(port: number, path: string, r: SlowReader): Promise<{ length: number; sha: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      if ((r.firstStall ?? 0) > 0) {
        res.pause();
        setTimeout(() => res.resume(), r.firstStall);
      }
      const h = createHash('sha256');
      let length = 0;
      let sinceStall = 0;
      res.on('data', (d: Buffer) => {
        h.update(d);
        length += d.length;
        sinceStall += d.length;
        if (sinceStall >= r.burst) {
          sinceStall = 0;
          res.pause();
          setTimeout(() => res.resume(), r.pause);
        }
      });
      res.on('end', () => resolve({ length, sha: h.digest('hex'), complete: res.complete }));
      res.on('error', reject);
    });
  });
}
