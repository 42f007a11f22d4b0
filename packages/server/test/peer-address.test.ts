// The client's IPv6 address in RFC 5952 text, checked against the WHATWG URL parser's own
// serialisation of IPv6 hosts (the same compression rules) on edge cases and random addresses.
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { formatIPv6 } from '../src/frontend/request.js';

function reference(raw: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((raw[i]! << 8) | raw[i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

t.test('formatIPv6 writes what the URL parser writes', async (t) => {
  const cases: number[][] = [
    [0, 0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 0, 0],
    [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1],
    [1, 0, 0, 2, 0, 0, 0, 3],
    [1, 2, 3, 4, 5, 6, 7, 8],
    [0, 1, 0, 0, 0, 0, 0, 0],
    [0xfe80, 0, 0, 0, 1, 2, 3, 4],
    [1, 0, 2, 0, 3, 0, 4, 0],
  ];
  for (const g of cases) {
    const raw = new Uint8Array(16);
    g.forEach((v, i) => {
      raw[2 * i] = v >> 8;
      raw[2 * i + 1] = v & 0xff;
    });
    t.equal(formatIPv6(raw), reference(raw), g.join(':'));
  }
  for (let n = 0; n < 2000; n++) {
    const raw = new Uint8Array(randomBytes(16));
    // Zero some groups so that runs of zeros of every length turn up.
    for (let i = 0; i < 8; i++) if ((raw[i]! & 3) !== 0) raw[2 * i] = raw[2 * i + 1] = 0;
    if (formatIPv6(raw) !== reference(raw)) t.fail(`${[...raw]}: ${formatIPv6(raw)} against ${reference(raw)}`);
  }
  t.pass('2000 random addresses agree');
});
