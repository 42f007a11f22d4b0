/**
 * `limits:`: how large a request head the proxy accepts (core RequestLimits). Sizes are written as
 * everywhere else in the file (`8k`, `32KiB`, a number of bytes); the count is a whole number.
 */
import { limitDefaults, type RequestLimits } from '@portcullis/core';
import { bad, describe, type Checked } from './errors.js';
import { field, mapping, type KeyPath, type Raw, type SchemaContext } from './fields.js';
import { checkInteger, checkSize } from './values.js';

export const limitKeys = ['max_url_length', 'max_header_size', 'max_headers_size', 'max_headers'] as const;

/**
 * Smallest sizes taken: below them ordinary browser requests (a cookie, a long query) would be
 * refused, which is never what a limit is for. Largest: 1 MiB, past what uWS reads of a head at all.
 */
const MIN_SIZE = 256;
const MAX_SIZE = 1024 * 1024;

function size(example: string): (v: unknown) => Checked<number> {
  return (v) => {
    const checked = checkSize(v, example);
    if (!checked.ok) return checked;
    if (checked.value < MIN_SIZE) return bad(`${describe(v)} is less than ${MIN_SIZE} bytes, which ordinary requests exceed`, `write at least "${MIN_SIZE}", e.g. "${example}"`);
    if (checked.value > MAX_SIZE) return bad(`${describe(v)} is more than 1MiB`, `write at most "1MiB"; the default is "${example}"`);
    return checked;
  };
}

/** The `limits` section of the top-level mapping `root`; defaults for what is absent. */
export function buildLimits(ctx: SchemaContext, root: Raw): RequestLimits {
  const d = limitDefaults;
  const value = root['limits'];
  if (value === undefined || value === null) return { ...d };
  const path: KeyPath = ['limits'];
  const raw = mapping(ctx, path, value, limitKeys, '"limits: { max_url_length: 8k, max_headers_size: 32k }"');
  if (!raw) return { ...d };
  const limits: RequestLimits = {
    maxUrlLength: field(ctx, raw, path, 'max_url_length', size('8k'), d.maxUrlLength, '8k'),
    maxHeaderSize: field(ctx, raw, path, 'max_header_size', size('8k'), d.maxHeaderSize, '8k'),
    maxHeadersSize: field(ctx, raw, path, 'max_headers_size', size('32k'), d.maxHeadersSize, '32k'),
    maxHeaders: field(ctx, raw, path, 'max_headers', (v) => checkInteger(v, 1, 10_000, 'set it to the most header lines a request may have, e.g. 100'), d.maxHeaders, String(d.maxHeaders)),
  };
  // One field line larger than all of them together may be: the line limit could never apply.
  if (limits.maxHeaderSize > limits.maxHeadersSize) {
    ctx.report(
      [...path, 'max_header_size'],
      `is larger than max_headers_size (${limits.maxHeadersSize} bytes), the limit on all header fields together`,
      'lower max_header_size, or raise max_headers_size',
    );
  }
  return limits;
}
