/**
 * Proxied WebSockets of this worker: opened, open now, and closes by the class of the close code
 * the client hop ended with. The frontend (frontend/websocket.ts) bumps these plain counters when
 * a client WebSocket opens and closes; they are read at scrape time. They count whether or not
 * metrics are on: two additions per WebSocket's life cost nothing worth a switch.
 */
import type { MetricDef } from './exposition.js';

/** Close codes are 1000-4999: index = first digit (0 for anything else). */
const CLOSE_CLASSES = 5;

export const websocketCounters = {
  opened: 0,
  closed: 0,
  closesByClass: new Float64Array(CLOSE_CLASSES),
};

export function websocketOpened(): void {
  websocketCounters.opened++;
}

export function websocketClosed(code: number): void {
  websocketCounters.closed++;
  const cls = (code / 1000) | 0;
  websocketCounters.closesByClass[cls >= 1 && cls < CLOSE_CLASSES ? cls : 0]!++;
}

export function websocketDefinitions(): MetricDef[] {
  const c = websocketCounters;
  return [
    {
      name: 'portcullis_websocket_connections',
      help: 'Proxied WebSockets open now (client hop).',
      type: 'gauge',
      collect: (out) => out.push({ labels: {}, value: c.opened - c.closed }),
    },
    {
      name: 'portcullis_websocket_connections_total',
      help: 'Proxied WebSockets opened (the client got 101).',
      type: 'counter',
      collect: (out) => out.push({ labels: {}, value: c.opened }),
    },
    {
      name: 'portcullis_websocket_closes_total',
      help: 'Proxied WebSockets closed, by the class of the client hop\'s close code (1xxx … 4xxx; "other" for codes outside 1000-4999).',
      type: 'counter',
      collect: (out) => {
        for (let i = 0; i < CLOSE_CLASSES; i++) {
          if (i === 0 && c.closesByClass[0] === 0) continue;
          out.push({ labels: { code_class: i === 0 ? 'other' : `${i}xxx` }, value: c.closesByClass[i]! });
        }
      },
    },
  ];
}
