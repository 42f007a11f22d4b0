/**
 * HTTP/2 connections of this worker's `http2` listeners: open now, opened, and cut for abuse (the
 * premature-reset guard). Plain counters the listener (frontend/h2-listener.ts) bumps, read at
 * scrape time, as the WebSocket ones are. Requests on them are counted with all the others
 * (`portcullis_http_requests_total`).
 */
import type { MetricDef } from './exposition.js';

export const http2Counters = {
  opened: 0,
  closed: 0,
  /** Cut by the premature-reset (rapid reset) guard. */
  prematureResets: 0,
};

export function http2Definitions(): MetricDef[] {
  const c = http2Counters;
  return [
    {
      name: 'portcullis_http2_connections',
      help: 'HTTP/2 client connections open now.',
      type: 'gauge',
      collect: (out) => out.push({ labels: {}, value: c.opened - c.closed }),
    },
    {
      name: 'portcullis_http2_connections_total',
      help: 'HTTP/2 client connections opened (ALPN h2).',
      type: 'counter',
      collect: (out) => out.push({ labels: {}, value: c.opened }),
    },
    {
      name: 'portcullis_http2_abusive_connections_total',
      help: 'HTTP/2 connections closed with GOAWAY(ENHANCE_YOUR_CALM) for abuse, by reason (premature_resets: the rapid-reset guard).',
      type: 'counter',
      collect: (out) => out.push({ labels: { reason: 'premature_resets' }, value: c.prematureResets }),
    },
  ];
}
