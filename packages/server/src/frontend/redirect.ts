/**
 * A plain listener that sends every request to https: nginx's
 * `return 301 https://$host$request_uri;`. The host is the client's Host without its port, the
 * path and query are kept byte for byte, and a https port other than 443 is written out.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { RedirectConfig } from '../config/index.js';
import { statusLine } from './status.js';

const reasons: Record<RedirectConfig['status'], string> = {
  301: 'Moved Permanently',
  302: 'Found',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
};

/** A host name, IPv4 or [IPv6] literal, with an optional port: nothing that could bend a URL. */
const hostPattern = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::\d{1,5})?$/;

/** `https://host[:port]` for a Host header value, or null when it is not a plain host. */
export function httpsOrigin(host: string, port: number): string | null {
  const m = hostPattern.exec(host);
  if (m === null) return null;
  return `https://${m[1]!.toLowerCase()}${port === 443 ? '' : `:${port}`}`;
}

export function mountRedirect(app: TemplatedApp, config: RedirectConfig, onError: (err: unknown) => void): void {
  const status = statusLine(config.status, reasons[config.status]);
  const page = `${config.status} ${reasons[config.status]}\n`;
  app.any('/*', (res: HttpResponse, req: HttpRequest) => {
    try {
      const method = req.getCaseSensitiveMethod();
      const host = req.getHeader('host');
      const query = req.getQuery();
      const url = query ? `${req.getUrl()}?${query}` : req.getUrl();
      // A body would have to be read (or mis-framed, see http.ts): close after answering instead.
      const close = req.getHeader('content-length') !== '' || req.getHeader('transfer-encoding') !== '';
      const origin = host === '' ? null : httpsOrigin(host, config.port);
      res.cork(() => {
        if (origin === null) {
          res.writeStatus('400 Bad Request').writeHeader('content-type', 'text/plain; charset=utf-8');
          res.end('400 Bad Request: no usable Host header to redirect to\n', true);
          return;
        }
        res.writeStatus(status).writeHeader('location', origin + url).writeHeader('content-type', 'text/plain; charset=utf-8');
        if (method === 'HEAD') {
          res.writeHeader('content-length', String(page.length));
          res.endWithoutBody();
        } else {
          res.end(page, close);
        }
      });
    } catch (err) {
      onError(err);
      try {
        res.close();
      } catch {
        // Already closed: nothing more to do for this client.
      }
    }
  });
}
