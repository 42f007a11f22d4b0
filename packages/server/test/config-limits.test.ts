// The `limits:` settings: defaults, every key with sizes in units, and errors that name file,
// line, key and fix.
import { limitDefaults } from '@portcullis/core';
import t from 'tap';
import { configFiles } from './fixtures/config-files.js';

const { load, message } = configFiles('config-limits');
const app = 'upstreams:\n  app:\n    servers: [127.0.0.1:9000]\n';

t.test('defaults when there is no limits section: nginx-like', async (t) => {
  t.same(load(app).proxy.limits, limitDefaults);
  t.same(limitDefaults, { maxUrlLength: 8192, maxHeaderSize: 8192, maxHeadersSize: 32768, maxHeaders: 100 });
});

t.test('every key, sizes with units or in bytes', async (t) => {
  const config = load(`limits:\n  max_url_length: 4k\n  max_header_size: 2KiB\n  max_headers_size: 65536\n  max_headers: 50\n${app}`);
  t.same(config.proxy.limits, { maxUrlLength: 4096, maxHeaderSize: 2048, maxHeadersSize: 65536, maxHeaders: 50 });
  t.same(load(`limits: { max_headers: 20 }\n${app}`).proxy.limits, { ...limitDefaults, maxHeaders: 20 }, 'the others keep their defaults');
});

t.test('bad values name file, line, key and fix', async (t) => {
  t.equal(
    message(`limits:\n  max_url_length: long\n${app}`),
    'portcullis.yaml:2:19: limits.max_url_length: expected a size, got "long". Fix: write a size such as "8k" (units B, KiB, MiB, GiB, or k, m, g; powers of 1024) or a number of bytes.',
  );
  t.match(message(`limits: { max_header_size: 100 }\n${app}`), /limits\.max_header_size: 100 is less than 256 bytes.*Fix: write at least "256"/);
  t.match(message(`limits: { max_headers_size: 2MiB }\n${app}`), /limits\.max_headers_size: "2MiB" is more than 1MiB/);
  t.match(message(`limits: { max_headers_size: 8MB }\n${app}`), /limits\.max_headers_size: "8MB" is ambiguous/);
  t.match(message(`limits: { max_headers: 0 }\n${app}`), /limits\.max_headers: expected a whole number from 1 to 10000, got 0/);
  t.match(message(`limits: { max_headers: many }\n${app}`), /limits\.max_headers: expected a whole number/);
  t.match(message(`limits: { max_header_size: 16k, max_headers_size: 8k }\n${app}`), /limits\.max_header_size: is larger than max_headers_size \(8192 bytes\).*Fix: lower max_header_size, or raise max_headers_size/);
  t.match(message(`limits: { max_url_lenght: 4k }\n${app}`), /limits\.max_url_lenght: unknown key \(did you mean "max_url_length"\?\)/);
  t.match(message(`limits: 8k\n${app}`), /limits: expected a mapping of keys/);
  t.match(message(`limits:\n  max_headers:\n${app}`), /limits\.max_headers: has no value/);
});
