/**
 * The authentik guide's scene for the suites that run it (the example YAML, and the guide's nginx
 * config imported): test certificates for domain.tld, and an authentik stand-in, https with a
 * self-signed certificate and WebSockets (echo) on one port, recording each upgrade it accepts.
 */
import net from 'node:net';
import type { Test } from 'tap';
import { WebSocketServer } from 'ws';
import { certDir, issue, makeCa, type Leaf, type TestCa } from './certs.js';
import { startHttpsOrigin, type HttpsOrigin } from './tls.js';

export interface AuthentikScene {
  /** The CA clients trust ("Let's Encrypt"), and its certificate for domain.tld and sso.domain.tld. */
  letsEncrypt: TestCa;
  domain: Leaf;
  /** authentik's 9443: https with a certificate no CA the proxy knows vouches for. */
  origin: HttpsOrigin;
  upgrades: Array<{ url: string; headers: Record<string, string | string[] | undefined> }>;
}

export async function authentikScene(t: Test): Promise<AuthentikScene> {
  const dir = certDir(t);
  const letsEncrypt = makeCa(dir, 'Test Lets Encrypt');
  const domain = issue(letsEncrypt, 'domain.tld', { dns: ['domain.tld', 'sso.domain.tld'] });
  const authentikCa = makeCa(dir, 'authentik self-signed');
  const authentikCert = issue(authentikCa, 'authentik', { dns: ['authentik-server'] });
  const upgrades: AuthentikScene['upgrades'] = [];
  const origin = await startHttpsOrigin(t, { cert: authentikCert.chain.pem, key: authentikCert.key.pem });
  const wss = new WebSocketServer({ server: origin.server });
  t.teardown(() => new Promise<void>((r) => wss.close(() => r())));
  wss.on('connection', (ws, req) => {
    upgrades.push({ url: req.url ?? '', headers: req.headers });
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  return { letsEncrypt, domain, origin, upgrades };
}

/** Whether this machine has IPv6 loopback (the guide also listens on [::]). */
export async function hasIpv6(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}
