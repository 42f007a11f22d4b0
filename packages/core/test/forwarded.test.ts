import t from 'tap';
import { clientAddress, compileForwarding, forwardedElement, isTrusted } from '../src/headers/forwarded.js';
import { forwardingDefaults } from '../src/config/options.js';

const untrusting = compileForwarding(forwardingDefaults);
const trusting = compileForwarding({ ...forwardingDefaults, trustedProxies: ['10.0.0.0/8', 'fd00::/8'] });

t.test('by default no peer is trusted', async (t) => {
  t.notOk(isTrusted('127.0.0.1', untrusting));
  t.notOk(isTrusted('10.0.0.1', untrusting));
});

t.test('peers in the trusted CIDRs are trusted, IPv4, mapped IPv4 and IPv6', async (t) => {
  t.ok(isTrusted('10.1.1.1', trusting));
  t.ok(isTrusted('::ffff:10.1.1.1', trusting));
  t.ok(isTrusted('fd00::5', trusting));
  t.notOk(isTrusted('192.0.2.1', trusting));
  t.notOk(isTrusted('2001:db8::1', trusting));
});

t.test('compileForwarding: Via pseudonym becomes "1.1 <pseudonym>"; false means none', async (t) => {
  t.equal(compileForwarding({ ...forwardingDefaults, via: 'portcullis' }).via, '1.1 portcullis');
  t.equal(compileForwarding({ ...forwardingDefaults, via: ' edge-1 ' }).via, '1.1 edge-1');
  t.equal(compileForwarding(forwardingDefaults).via, null);
});

t.test('compileForwarding rejects a Via pseudonym that is not a token', async (t) => {
  t.throws(() => compileForwarding({ ...forwardingDefaults, via: 'my proxy' }), /^forwarding\.via: expected a pseudonym that is one HTTP token .*got "my proxy"/);
  t.throws(() => compileForwarding({ ...forwardingDefaults, via: '' }), /^forwarding\.via: /);
  t.throws(() => compileForwarding({ ...forwardingDefaults, via: 'a\r\nx-evil: 1' }), /^forwarding\.via: /);
});

t.test('compileForwarding names trustedProxies in a CIDR error', async (t) => {
  t.throws(() => compileForwarding({ ...forwardingDefaults, trustedProxies: ['10.0.0.0/99'] }), /^forwarding\.trustedProxies\[0\]: "10\.0\.0\.0\/99" is not an IP address or CIDR range/);
});

t.test('client address: an untrusted peer is the client, whatever XFF says', async (t) => {
  t.equal(clientAddress('192.0.2.7', ['x-forwarded-for', '1.1.1.1'], trusting), '192.0.2.7');
  t.equal(clientAddress('10.0.0.1', ['x-forwarded-for', '1.1.1.1'], untrusting), '10.0.0.1');
});

t.test('client address: trusted peer without XFF is the client', async (t) => {
  t.equal(clientAddress('10.0.0.1', ['host', 'a'], trusting), '10.0.0.1');
  t.equal(clientAddress('10.0.0.1', ['x-forwarded-for', ' , '], trusting), '10.0.0.1');
});

t.test('client address = rightmost XFF entry that is not a trusted proxy', async (t) => {
  // The client forged 6.6.6.6; 203.0.113.9 is who connected to our first trusted proxy.
  t.equal(clientAddress('10.0.0.1', ['x-forwarded-for', '6.6.6.6, 203.0.113.9, 10.0.0.2'], trusting), '203.0.113.9');
  t.equal(clientAddress('10.0.0.1', ['x-forwarded-for', '203.0.113.9'], trusting), '203.0.113.9');
});

t.test('client address walks several XFF headers right to left, as one list', async (t) => {
  const headers = ['x-forwarded-for', '6.6.6.6, 203.0.113.9', 'accept', '*/*', 'x-forwarded-for', '10.0.0.3,10.0.0.2'];
  t.equal(clientAddress('10.0.0.1', headers, trusting), '203.0.113.9');
});

t.test('client address: when every entry is trusted, the leftmost', async (t) => {
  t.equal(clientAddress('10.0.0.1', ['x-forwarded-for', '10.0.0.5, 10.0.0.4'], trusting), '10.0.0.5');
});

t.test('client address: IPv6 and mapped IPv4 entries are normalised and checked', async (t) => {
  t.equal(clientAddress('fd00::1', ['x-forwarded-for', '2001:DB8::1, ::ffff:10.0.0.9'], trusting), '2001:db8::1');
  t.equal(clientAddress('10.0.0.1', ['x-forwarded-for', '::ffff:198.51.100.1'], trusting), '198.51.100.1');
});

t.test('Forwarded element: IPv4 bare, IPv6 bracketed and quoted, host quoted when not a token', async (t) => {
  t.equal(forwardedElement('192.0.2.1', 'https', 'example.com'), 'for=192.0.2.1;proto=https;host=example.com');
  t.equal(forwardedElement('::1', 'http', 'example.com'), 'for="[::1]";proto=http;host=example.com');
  t.equal(forwardedElement('192.0.2.1', 'http', 'example.com:8080'), 'for=192.0.2.1;proto=http;host="example.com:8080"');
  t.equal(forwardedElement('192.0.2.1', 'http', '[::1]:8080'), 'for=192.0.2.1;proto=http;host="[::1]:8080"');
  t.equal(forwardedElement('192.0.2.1', 'http', 'a"b\\c'), 'for=192.0.2.1;proto=http;host="a\\"b\\\\c"');
  t.equal(forwardedElement('192.0.2.1', 'http', undefined), 'for=192.0.2.1;proto=http');
  t.equal(forwardedElement('192.0.2.1', 'http', ''), 'for=192.0.2.1;proto=http');
});
