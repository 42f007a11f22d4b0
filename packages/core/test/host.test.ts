// checkHost and checkHead: the Host field (RFC 9110 7.2, RFC 3986 3.2.2) and the request head
// limits every frontend applies before the core sees a request.
import t from 'tap';
import { checkHead, checkHost, limitDefaults, type HeadMeasure } from '../src/index.js';

t.test('valid Host values: reg-names, IPv4, bracketed IPv6, with an optional port', async (t) => {
  for (const v of ['example.com', 'EXAMPLE.com', 'a', 'example.com:8080', 'example.com:', '127.0.0.1', '127.0.0.1:80', '[::1]', '[::1]:8080', '[2001:db8::1]:443', '[::ffff:1.2.3.4]', "a-b_c~d.test", "sub!$&'()*+,;=.test", 'xn--caf-dma.example', 'host:65535', 'host:0']) {
    t.ok(checkHost(v), JSON.stringify(v));
  }
});

t.test('invalid Host values', async (t) => {
  for (const v of ['', 'a b', 'a/evil', 'user@a', '<x>"a', 'ex%61mple.com', 'a\x01b', 'caf\u00e9.com', ':80', 'a:b', 'a:8o', 'a:99999', 'a:123456', 'a:80:80', '[::1', '[::1]x', '[zz::1]', '[]', '[v1.x]', '[fe80::1%25eth0]', 'a\\b', 'a?b', 'a#b', '[::1]:8o']) {
    t.notOk(checkHost(v), JSON.stringify(v));
  }
});

t.test('checkHead: limits first (414, then 431), then the Host rules (400)', async (t) => {
  const ok: HeadMeasure = { urlLength: 10, fields: 3, fieldBytes: 100, longestField: 40, hostCount: 1, host: 'example.com', hostOptional: false };
  const d = limitDefaults;
  t.same(d, { maxUrlLength: 8192, maxHeaderSize: 8192, maxHeadersSize: 32768, maxHeaders: 100 });
  t.equal(checkHead(ok, d), null);
  t.equal(checkHead({ ...ok, urlLength: 8192, longestField: 8192, fieldBytes: 32768, fields: 100 }, d), null, 'at every limit: taken');
  t.equal(checkHead({ ...ok, urlLength: 8193 }, d)?.status, 414);
  t.equal(checkHead({ ...ok, longestField: 8193 }, d)?.status, 431);
  t.equal(checkHead({ ...ok, fieldBytes: 32769 }, d)?.status, 431);
  t.equal(checkHead({ ...ok, fields: 101 }, d)?.status, 431);
  t.equal(checkHead({ ...ok, urlLength: 9000, hostCount: 2 }, d)?.status, 414, 'the request line is judged first');
  t.match(checkHead({ ...ok, hostCount: 0, host: undefined }, d), { status: 400, message: /without a Host/ });
  t.equal(checkHead({ ...ok, hostCount: 0, host: undefined, hostOptional: true }, d), null, 'HTTP/1.0 may omit Host');
  t.match(checkHead({ ...ok, hostCount: 2 }, d), { status: 400, message: /more than one Host/ });
  t.match(checkHead({ ...ok, host: 'a b' }, d), { status: 400, message: /not a valid host/ });
});
