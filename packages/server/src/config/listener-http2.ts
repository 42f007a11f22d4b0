/**
 * A listener's `http2` key: `true` for the defaults, or a mapping of the HTTP/2 settings the
 * proxy announces and the rapid-reset guard. Only on TLS listeners: browsers speak HTTP/2 only
 * over TLS (h2 by ALPN), and a plain listener stays on uWS.
 */
import { describe } from './errors.js';
import { field, mapping, type KeyPath, type Raw, type SchemaContext } from './fields.js';
import { http2Defaults, type Http2Config } from './types.js';
import { checkDuration, checkInteger, checkSize, formatDuration } from './values.js';

const http2Keys = ['max_concurrent_streams', 'initial_window_size', 'max_header_list_size', 'idle_timeout', 'premature_resets'] as const;
const resetKeys = ['total_streams', 'min_stream_lifetime'] as const;

/** RFC 9113 6.5.2: windows are at most 2^31-1. */
const maxWindow = 2 ** 31 - 1;

function buildResets(ctx: SchemaContext, path: KeyPath, value: unknown): Http2Config['prematureResets'] {
  if (value === false) return null;
  const d = http2Defaults.prematureResets!;
  if (value === true) return { ...d };
  const raw = mapping(ctx, path, value, resetKeys, '"premature_resets: { total_streams: 500, min_stream_lifetime: 1s }", or false to turn the guard off');
  if (!raw) return { ...d };
  return {
    totalStreams: field(ctx, raw, path, 'total_streams', (v) => checkInteger(v, 2, 1_000_000, 'the closed streams after which a connection is judged, e.g. 500 (Envoy\'s default)'), d.totalStreams, String(d.totalStreams)),
    minStreamLifetime: field(ctx, raw, path, 'min_stream_lifetime', (v) => checkDuration(v, '1s'), d.minStreamLifetime, formatDuration(d.minStreamLifetime)),
  };
}

/** The `http2` key of listener `listenerPath`; `tls`: whether the listener has TLS. */
export function buildHttp2(ctx: SchemaContext, path: KeyPath, value: unknown, tls: boolean): Http2Config | undefined {
  if (value === false) return undefined;
  if (!tls) {
    ctx.report(path, 'is set on a listener without TLS; HTTP/2 is offered to clients by ALPN during the TLS handshake', 'add "tls" to this listener, or remove "http2"');
    return undefined;
  }
  if (value === true) return structuredClone(http2Defaults);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    ctx.report(path, `expected true, false or a mapping, got ${describe(value)}`, 'write "http2: true", or "http2: { max_concurrent_streams: 128 }"');
    return undefined;
  }
  const raw = mapping(ctx, path, value, http2Keys, '"http2: { max_concurrent_streams: 128, initial_window_size: 64KiB }"') as Raw | undefined;
  if (!raw) return undefined;
  const d = http2Defaults;
  return {
    maxConcurrentStreams: field(ctx, raw, path, 'max_concurrent_streams', (v) => checkInteger(v, 1, 2 ** 31 - 1, 'the streams one connection may have open at once, e.g. 128 (nginx\'s default)'), d.maxConcurrentStreams, String(d.maxConcurrentStreams)),
    initialWindowSize: field(
      ctx,
      raw,
      path,
      'initial_window_size',
      (v) => {
        const c = checkSize(v, '64KiB');
        return c.ok && c.value > maxWindow ? { ok: false, problem: `${describe(v)} is more than 2^31-1 bytes, the largest HTTP/2 window`, fix: 'use at most "1GiB"' } : c;
      },
      d.initialWindowSize,
      '65535',
    ),
    maxHeaderListSize: field(ctx, raw, path, 'max_header_list_size', (v) => checkSize(v, '64KiB', 1024), d.maxHeaderListSize, '64KiB'),
    idleTimeout: field(ctx, raw, path, 'idle_timeout', (v) => checkDuration(v, '75s'), d.idleTimeout, formatDuration(d.idleTimeout)),
    prematureResets: 'premature_resets' in raw && raw['premature_resets'] !== null ? buildResets(ctx, [...path, 'premature_resets'], raw['premature_resets']) : structuredClone(d.prematureResets),
  };
}
