/**
 * Loading uWebSockets.js. When its native binary fails to load, the package warns and quietly
 * returns a slow, incomplete pure-JS fallback; a proxy must refuse to start on that instead.
 */
import { createRequire } from 'node:module';
import type * as UWS from 'uWebSockets.js';

export type Uws = typeof UWS;

export function loadUws(): Uws {
  const require = createRequire(import.meta.url);
  const uws = require('uWebSockets.js') as Uws & { getParts?: unknown };
  if (typeof uws.SSLApp !== 'function' || typeof uws.getParts !== 'function') {
    throw new Error(
      'uWebSockets.js loaded its pure-JS fallback, not the native binary: this platform is not supported by the ' +
        'installed build (Node 20 on glibc >= 2.36, x64, is). Refusing to start a slow, incomplete frontend.',
    );
  }
  return uws;
}
