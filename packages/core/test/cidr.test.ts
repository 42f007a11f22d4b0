import t from 'tap';
import { compileCidrs, normalizeAddress } from '../src/headers/cidr.js';

t.test('an empty list contains nothing', async (t) => {
  const m = compileCidrs([]);
  t.equal(m.size, 0);
  t.notOk(m.contains('127.0.0.1'));
  t.notOk(m.contains('::1'));
});

t.test('IPv4 CIDRs and bare addresses', async (t) => {
  const m = compileCidrs(['10.0.0.0/8', '192.168.1.10', '172.16.0.0/12']);
  t.equal(m.size, 3);
  t.ok(m.contains('10.0.0.0'));
  t.ok(m.contains('10.255.255.255'));
  t.ok(m.contains('192.168.1.10'));
  t.notOk(m.contains('192.168.1.11'));
  t.ok(m.contains('172.31.255.1'));
  t.notOk(m.contains('172.32.0.1'));
  t.notOk(m.contains('11.0.0.1'));
});

t.test('edge prefixes: /0 matches every IPv4 address, /32 only one', async (t) => {
  const all = compileCidrs(['0.0.0.0/0']);
  t.ok(all.contains('0.0.0.0'));
  t.ok(all.contains('255.255.255.255'));
  t.notOk(all.contains('::1'), 'an IPv4 range never matches a plain IPv6 address');
  const one = compileCidrs(['255.255.255.255/32']);
  t.ok(one.contains('255.255.255.255'));
  t.notOk(one.contains('255.255.255.254'));
});

t.test('host bits below the prefix are ignored, as nginx does', async (t) => {
  const m = compileCidrs(['10.1.2.3/8']);
  t.ok(m.contains('10.200.0.1'));
});

t.test('IPv6 CIDRs and bare addresses, any case, compressed or not', async (t) => {
  const m = compileCidrs(['fd00::/8', '::1', '2001:DB8:0:0:0:0:0:0/32', 'fe80::1:2:3:4/128']);
  t.ok(m.contains('::1'));
  t.ok(m.contains('0:0:0:0:0:0:0:1'));
  t.notOk(m.contains('::2'));
  t.ok(m.contains('fd12:3456::1'));
  t.ok(m.contains('FD00::ABCD'));
  t.notOk(m.contains('fe00::1'));
  t.ok(m.contains('2001:db8:ffff::1'));
  t.notOk(m.contains('2001:db9::1'));
  t.ok(m.contains('fe80::1:2:3:4'));
  t.ok(m.contains('fe80::1:2:3:4%eth0'), 'a zone index is ignored');
  t.notOk(m.contains('fe80::1:2:3:5'));
});

t.test('IPv6 prefixes that do not fall on a word boundary', async (t) => {
  const m = compileCidrs(['2001:db8:abcd:12::/63']);
  t.ok(m.contains('2001:db8:abcd:12::1'));
  t.ok(m.contains('2001:db8:abcd:13:ffff::'));
  t.notOk(m.contains('2001:db8:abcd:14::'));
  const all = compileCidrs(['::/0']);
  t.ok(all.contains('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'));
});

t.test('IPv4-mapped IPv6 addresses match IPv4 ranges', async (t) => {
  const m = compileCidrs(['10.0.0.0/8']);
  t.ok(m.contains('::ffff:10.1.2.3'));
  t.ok(m.contains('::FFFF:10.1.2.3'));
  t.ok(m.contains('::ffff:a01:203'), 'hex form of the mapped address');
  t.notOk(m.contains('::ffff:11.1.2.3'));
  t.notOk(m.contains('::10.1.2.3'), 'IPv4-compatible is not IPv4-mapped');
});

t.test('an IPv4-mapped range in the list matches plain IPv4 addresses', async (t) => {
  const m = compileCidrs(['::ffff:10.0.0.0/104']);
  t.ok(m.contains('10.9.9.9'));
  t.ok(m.contains('::ffff:10.9.9.9'));
  t.notOk(m.contains('11.0.0.1'));
});

t.test('embedded IPv4 in other IPv6 addresses parses (NAT64)', async (t) => {
  const m = compileCidrs(['64:ff9b::/96']);
  t.ok(m.contains('64:ff9b::192.0.2.33'));
  t.notOk(m.contains('64:ff9c::192.0.2.33'));
});

t.test('things that are not addresses are never contained', async (t) => {
  const m = compileCidrs(['0.0.0.0/0', '::/0']);
  for (const bad of ['', 'unknown', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4:80', '[::1]', ':::', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '1:', ':1', '::ffff:1.2.3']) {
    t.notOk(m.contains(bad), JSON.stringify(bad));
  }
});

t.test('invalid entries throw an Error naming the entry and the expected form', async (t) => {
  const cases: [string, RegExp][] = [
    ['10.0.0/8', /not a valid IPv4/],
    ['10.0.0.0/33', /prefix length 33 is out of range 0-32 for IPv4/],
    ['fd00::/129', /out of range 0-128 for IPv6/],
    ['10.0.0.0/', /decimal number/],
    ['10.0.0.0/08', /decimal number/],
    ['010.0.0.1', /leading zeros/],
    ['fd00:::1', /not a valid IPv6/],
    ['fe80::1%eth0', /zone/],
    ['/8', /empty/],
    ['localhost', /not a valid IPv4/],
  ];
  for (const [entry, why] of cases) {
    t.throws(() => compileCidrs(['127.0.0.1', entry]), why, entry);
    t.throws(() => compileCidrs(['127.0.0.1', entry]), { message: new RegExp(`^\\[1\\]: "${entry.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}" is not an IP address`) });
    t.throws(() => compileCidrs([entry]), /Fix: write an address range such as "10\.0\.0\.0\/8"/);
  }
  t.throws(() => compileCidrs([42 as unknown as string]), /^\[0\]: expected an address or CIDR string, got 42/);
});

t.test('surrounding whitespace in an entry is tolerated', async (t) => {
  t.ok(compileCidrs([' 10.0.0.0/8 ']).contains('10.0.0.1'));
});

t.test('normalizeAddress strips the IPv4 mapping and lower-cases IPv6', async (t) => {
  t.equal(normalizeAddress('1.2.3.4'), '1.2.3.4');
  t.equal(normalizeAddress('::ffff:1.2.3.4'), '1.2.3.4');
  t.equal(normalizeAddress('::FFFF:1.2.3.4'), '1.2.3.4');
  t.equal(normalizeAddress('2001:DB8::A'), '2001:db8::a');
  t.equal(normalizeAddress('::1'), '::1');
  t.equal(normalizeAddress('::ffff:abcd'), '::ffff:abcd', 'not a mapped IPv4');
});
