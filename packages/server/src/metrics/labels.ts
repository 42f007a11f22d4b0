/**
 * Label values, kept bounded: methods outside the standard set are `OTHER`, a request the client
 * abandoned (status 0) is counted as code 499 (as nginx logs it), error kinds are named from the
 * core's FailureKind. Nothing here sees a path or a client address.
 */
import type { RouteOptions } from '@portcullis/core';

/** Label of each method index; the last one takes every other method. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'OTHER'] as const;
export const METHOD_COUNT = METHODS.length;

/** Index into METHODS; case-sensitive (HTTP methods are), anything unknown is OTHER. */
export function methodIndex(method: string): number {
  switch (method) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'DELETE':
      return 4;
    case 'PATCH':
      return 5;
    case 'OPTIONS':
      return 6;
    case 'CONNECT':
      return 7;
    case 'TRACE':
      return 8;
    default:
      return 9;
  }
}

/** The status code the client did not wait for (status 0): 499, nginx's "client closed request". */
export const CLIENT_CLOSED = 499;

/** The `code` label of a status: 0 (the client went away) is "499". */
export function codeLabel(status: number): string {
  return String(status === 0 ? CLIENT_CLOSED : status);
}

/** `code_class` index of a status: 1 for 1xx … 5xx; 0 (client went away) counts as 4xx. */
export function classIndex(status: number): number {
  if (status === 0) return 4;
  const c = (status / 100) | 0;
  return c >= 1 && c <= 9 ? c : 0;
}

export function classLabel(index: number): string {
  return index === 0 ? 'other' : `${index}xx`;
}

/**
 * `kind` label of each FailureKind value (core/src/upstream/errors.ts), indexed by the enum's
 * value, which is how ServerStats.errors is indexed.
 */
export const FAILURE_KIND_LABELS = [
  'refused', // Connect: refused, unreachable, DNS
  'connect_timeout', // ConnectTimeout
  'reset', // Reset
  'read_timeout', // ReadTimeout
  'invalid_response', // Protocol
  'queue_timeout', // QueueTimeout
  'send_timeout', // SendTimeout
  'tls', // Tls: the TLS handshake with the server failed
  'no_server', // NoServer: no usable server in the upstream
] as const;

/** The `route` label: the route's name, else its first host (or `*`) and its path prefix. */
export function routeLabel(route: RouteOptions): string {
  return route.name ?? `${route.hosts[0] ?? '*'}${route.pathPrefix}`;
}
