// The balancing policies of an upstream (src/upstream/balance), driven with plain Candidate and
// ClientRequest objects: sequences and distributions, tiers, unusable servers, and the hash
// policy's consistency (same mapping in every build, minimal remapping, exact restoration).
import t from 'tap';
import type { HashKey } from '../src/config/options.js';
import type { ClientRequest } from '../src/exchange/contract.js';
import { createBalancer, type Balancer } from '../src/upstream/balance/index.js';
import { cookieValue } from '../src/upstream/balance/hash-key.js';
import { createHash } from 'node:crypto';
import { HashRing, hash32 } from '../src/upstream/balance/hash-ring.js';
import { SmoothRoundRobin } from '../src/upstream/balance/round-robin.js';

interface TestServer {
  index: number;
  weight: number;
  backup: boolean;
  usable: boolean;
  active: number;
  label: string;
}

function servers(...specs: Array<Partial<TestServer>>): TestServer[] {
  return specs.map((s, i) => ({
    index: i,
    weight: 1,
    backup: false,
    usable: true,
    active: 0,
    label: `10.0.0.${i + 1}:8080`,
    ...s,
  }));
}

function weighted(...weights: number[]): TestServer[] {
  return servers(...weights.map((weight) => ({ weight })));
}

function request(url = '/', headers: string[] = [], remoteAddress = '192.0.2.1'): ClientRequest {
  return {
    method: 'GET',
    url,
    headers,
    host: 'example.test',
    remoteAddress,
    scheme: 'http',
    body: 'none',
    contentLength: 0,
    headerEncoding: 'latin1',
  };
}

const byRemote = (req: ClientRequest): string => req.remoteAddress;
/** hash32('10.1.2.3'), and the servers of /item/0../item/9 on five equal servers. */
const PINNED_HASH = 383157542;
const PINNED_RING = [4, 2, 4, 0, 2, 1, 4, 4, 0, 4];
const uri: { balance: 'hash'; hashKey: HashKey } = { balance: 'hash', hashKey: { kind: 'uri' } };

/** How many of `picks` picks went to each server index. */
function counts(b: Balancer, n: number, picks: number, backup = false, req = request()): number[] {
  const c = new Array<number>(n).fill(0);
  for (let i = 0; i < picks; i++) c[b.pick(req, backup)]!++;
  return c;
}

/** The server of each of `keys` URIs. */
function mapping(b: Balancer, keys: number): number[] {
  const req = request();
  const out: number[] = [];
  for (let k = 0; k < keys; k++) {
    req.url = `/item/${k}`;
    out.push(b.pick(req, false));
  }
  return out;
}

t.test('round_robin: nginx smooth weighted sequence and exact distribution', async (t) => {
  const b = createBalancer({ balance: 'round_robin' }, weighted(5, 1, 1), byRemote);
  const seq = Array.from({ length: 14 }, () => 'abc'[b.pick(request(), false)]).join('');
  t.equal(seq, 'aabacaa' + 'aabacaa', 'a a b a c a a, and again');
  t.same(counts(b, 3, 7000), [5000, 1000, 1000], 'exactly 5:1:1 over 7,000 picks');

  const plain = createBalancer({ balance: 'round_robin' }, weighted(1, 1, 1), byRemote);
  t.same(
    Array.from({ length: 6 }, () => plain.pick(request(), false)),
    [0, 1, 2, 0, 1, 2],
    'equal weights: plain rotation',
  );
});

t.test('round_robin: unusable servers are skipped and do not accumulate weight', async (t) => {
  const s = weighted(5, 1, 1);
  const b = createBalancer({ balance: 'round_robin' }, s, byRemote);
  s[0]!.usable = false;
  t.same(counts(b, 3, 1000), [0, 500, 500], 'b and c alternate while a is out');
  s[0]!.usable = true;
  // Had a accumulated while out, it would now take a long burst; it resumes its share at once.
  const next = Array.from({ length: 7 }, () => b.pick(request(), false));
  t.same(
    next.reduce((c, i) => (c[i]!++, c), [0, 0, 0]),
    [5, 1, 1],
    'the first cycle after a returns is 5:1:1 again',
  );
  for (const x of s) x.usable = false;
  t.equal(b.pick(request(), false), -1, 'none usable: -1');
});

t.test('every policy: backups only when asked, unusable skipped, -1 when none is usable', async (t) => {
  for (const balance of ['round_robin', 'least_request', 'random', 'hash'] as const) {
    const s = servers({}, { backup: true }, {}, { backup: true, weight: 3 });
    const b = createBalancer({ balance, hashKey: { kind: 'uri' } }, s, byRemote);
    const req = request('/some/path');
    const primaries = new Set<number>();
    const backups = new Set<number>();
    for (let i = 0; i < 200; i++) {
      req.url = `/p/${i}`;
      primaries.add(b.pick(req, false));
      backups.add(b.pick(req, true));
    }
    // least_request at zero load always prefers the weight-3 backup: (0 + 1) / 3 < (0 + 1) / 1.
    t.same([...primaries].sort(), [0, 2], `${balance}: primaries among primaries`);
    t.same([...backups].sort(), balance === 'least_request' ? [3] : [1, 3], `${balance}: backups among backups`);

    s[0]!.usable = false;
    for (let i = 0; i < 50; i++) {
      req.url = `/p/${i}`;
      t.equal(b.pick(req, false), 2, `${balance}: the one usable primary`);
      if (t.passing() === false) break;
    }
    s[2]!.usable = false;
    t.equal(b.pick(req, false), -1, `${balance}: no usable primary: -1`);
    t.not(b.pick(req, true), -1, `${balance}: backups unaffected`);
    s[1]!.usable = false;
    s[3]!.usable = false;
    t.equal(b.pick(req, true), -1, `${balance}: no usable backup: -1`);

    const none = createBalancer({ balance, hashKey: { kind: 'uri' } }, servers({}, {}), byRemote);
    t.equal(none.pick(req, true), -1, `${balance}: no backups configured: -1`);

    const single = servers({});
    const one = createBalancer({ balance, hashKey: { kind: 'uri' } }, single, byRemote);
    t.equal(one.pick(req, false), 0, `${balance}: single server`);
    single[0]!.usable = false;
    t.equal(one.pick(req, false), -1, `${balance}: single server unusable: -1`);
  }
});

t.test('random: weighted distribution', async (t) => {
  const s = weighted(1, 2, 7);
  const b = createBalancer({ balance: 'random' }, s, byRemote);
  const n = 100_000;
  const c = counts(b, 3, n);
  // Binomial standard deviations are under 160 picks here; 1,500 is over 9 of them.
  for (const [i, share] of [0.1, 0.2, 0.7].entries()) {
    t.ok(Math.abs(c[i]! - share * n) < 1500, `server ${i}: ${c[i]} of ${n}, expected about ${share * n}`);
  }
  s[2]!.usable = false;
  const d = counts(b, 3, 30_000);
  t.equal(d[2], 0, 'the unusable server is never chosen');
  t.ok(Math.abs(d[0]! - 10_000) < 1000, `the rest keep their 1:2 ratio (${d[0]}:${d[1]})`);
  // Mostly unusable: the linear fallback must keep the weights too.
  const many = servers(...Array.from({ length: 20 }, (_, i) => ({ usable: i >= 18, weight: i === 19 ? 3 : 1 })));
  const m = counts(createBalancer({ balance: 'random' }, many, byRemote), 20, 40_000);
  t.equal(m[18]! + m[19]!, 40_000, 'only the two usable servers');
  t.ok(Math.abs(m[19]! - 30_000) < 1000, `3:1 through the fallback (${m[18]}:${m[19]})`);
});

t.test('least_request: even spread under equal load, favours the less loaded', async (t) => {
  const s = servers({}, {}, {});
  const b = createBalancer({ balance: 'least_request' }, s, byRemote);
  const even = counts(b, 3, 60_000);
  for (const [i, c] of even.entries()) t.ok(Math.abs(c - 20_000) < 1000, `equal load: server ${i} got ${c} of 60,000`);

  const two = servers({ active: 0 }, { active: 10 });
  const c2 = counts(createBalancer({ balance: 'least_request' }, two, byRemote), 2, 10_000);
  t.ok(c2[0]! > 7000, `idle server vs active 10: ${c2[0]} vs ${c2[1]}`);

  const four = servers({ active: 0 }, { active: 10 }, { active: 0 }, { active: 10 });
  const c4 = counts(createBalancer({ balance: 'least_request' }, four, byRemote), 4, 40_000);
  t.ok(c4[0]! + c4[2]! > 0.7 * 40_000, `idle pair vs busy pair: ${c4[0]! + c4[2]!} vs ${c4[1]! + c4[3]!}`);
  // Two distinct draws: a busy server wins only against the other busy one, 1 time in 6.
  t.ok(Math.abs(c4[1]! + c4[3]! - 40_000 / 6) < 800, 'the busy pair gets about 1/6');

  const live = servers({}, {});
  const lb = createBalancer({ balance: 'least_request' }, live, byRemote);
  live[1]!.active = 5;
  t.equal(lb.pick(request(), false), 0, 'reads active counts at each pick');
  live[1]!.active = 0;
  live[0]!.active = 5;
  t.equal(lb.pick(request(), false), 1, 'and again after they change');
});

t.test('least_request: with weights compares (active + 1) / weight', async (t) => {
  // (2 + 1) / 4 = 0.75 beats (0 + 1) / 1 = 1: the heavy server wins despite more in flight.
  const s = servers({ weight: 4, active: 2 }, { weight: 1, active: 0 });
  const b = createBalancer({ balance: 'least_request' }, s, byRemote);
  t.same(counts(b, 2, 1000), [1000, 0]);
  s[0]!.active = 4; // 5 / 4 > 1
  t.same(counts(b, 2, 1000), [0, 1000]);
});

t.test('least_request: many unusable servers still yield the usable ones', async (t) => {
  const s = servers(...Array.from({ length: 50 }, (_, i) => ({ usable: i === 7 || i === 31, active: i === 7 ? 3 : 0 })));
  const c = counts(createBalancer({ balance: 'least_request' }, s, byRemote), 50, 2000);
  t.equal(c[31], 2000, 'always the less loaded of the two usable servers');
});

t.test('hash: the same key maps to the same server in separately built balancers', async (t) => {
  const a = mapping(createBalancer(uri, weighted(1, 1, 1, 1, 1), byRemote), 2000);
  const b = mapping(createBalancer(uri, weighted(1, 1, 1, 1, 1), byRemote), 2000);
  t.same(a, b);
  t.same(new Set(a).size, 5, 'and every server gets keys');
  // Pinned: changing the ring's points would remap every key in a deployed fleet.
  t.same(a.slice(0, 10), PINNED_RING, 'the ring never changes');
});

/** MurmurHash3 x86_32 over bytes, written from the reference (smhasher), checked against its vectors. */
function murmur3Bytes(bytes: Uint8Array, seed: number): number {
  const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
  let h = seed | 0;
  const blocks = bytes.length >> 2;
  for (let b = 0; b < blocks; b++) {
    const o = b * 4;
    let k = bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16) | (bytes[o + 3]! << 24);
    k = Math.imul(rotl(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
    h = (Math.imul(rotl(h ^ k, 13), 5) + 0xe6546b64) | 0;
  }
  // The reference's tail switch falls through 3, 2, 1: the same as shifting in what is left.
  const tail = blocks * 4;
  if (bytes.length > tail) {
    let k = 0;
    for (let i = bytes.length - 1; i >= tail; i--) k = (k << 8) | bytes[i]!;
    h ^= Math.imul(rotl(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
  }
  h ^= bytes.length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

t.test('hash: the key hash is MurmurHash3 x86_32 of the UTF-16LE key, seed 0', async (t) => {
  const ascii = (s: string): Uint8Array => Buffer.from(s, 'latin1');
  t.equal(murmur3Bytes(ascii(''), 0), 0, 'reference vector: empty');
  t.equal(murmur3Bytes(ascii(''), 1), 0x514e28b7, 'reference vector: empty, seed 1');
  t.equal(murmur3Bytes(ascii('hello'), 0), 0x248bfa47, 'reference vector: hello');
  t.equal(murmur3Bytes(ascii('Hello, world!'), 1234), 0xfaf6cdb3, 'reference vector: Hello, world!');
  t.equal(murmur3Bytes(ascii('The quick brown fox jumps over the lazy dog'), 0), 0x2e4ff723, 'reference vector: fox');
  for (const key of ['', 'a', 'ab', 'abc', '10.1.2.3', '2001:db8::1', '/item/1?x=y', 'é€😀', 'x'.repeat(301)]) {
    t.equal(hash32(key), murmur3Bytes(Buffer.from(key, 'utf16le'), 0), `hash32(${JSON.stringify(key.slice(0, 20))})`);
  }
  // Pinned: a different hash would remap every key in a deployed fleet.
  t.equal(hash32('10.1.2.3'), PINNED_HASH);
});

t.test('hash: the ring is ketama\'s, looked up by brute force', async (t) => {
  // Every point of every server, computed here as ketama does, without sorting or bisecting.
  const s = weighted(1, 2, 1, 3);
  const points: Array<[number, number]> = [];
  for (const c of s) {
    for (let i = 0; i < (160 * c.weight) / 4; i++) {
      const d = createHash('md5').update(`${c.label}-${i}`).digest();
      for (let j = 0; j < 4; j++) points.push([d.readUInt32LE(4 * j), c.index]);
    }
  }
  t.equal(points.length, 160 * 7);
  const owner = (h: number): number => {
    let best: [number, number] | undefined;
    let lowest: [number, number] = points[0]!;
    for (const p of points) {
      if (p[0] >= h && (!best || p[0] < best[0])) best = p;
      if (p[0] < lowest[0]) lowest = p;
    }
    return (best ?? lowest)[1]; // past the last point: wrap to the first
  };
  const tier = Int32Array.from([0, 1, 2, 3]);
  const ring = new HashRing(s, tier, () => undefined, new SmoothRoundRobin(s, tier));
  const top = Math.max(...points.map((p) => p[0]));
  for (const h of [0, 1, top, top + 1, 0xffffffff]) t.equal(ring.lookup(h), owner(h), `hash ${h}`);
  const b = createBalancer(uri, s, byRemote);
  const req = request();
  let agree = 0;
  for (let k = 0; k < 3000; k++) {
    req.url = `/brute/${k}`;
    if (b.pick(req, false) === owner(hash32(req.url))) agree++;
  }
  t.equal(agree, 3000, 'every key on the first point at or after its hash');
});

t.test('hash: removing 1 of 10 servers moves only its own keys', async (t) => {
  const all = weighted(1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
  const before = mapping(createBalancer(uri, all, byRemote), 10_000);
  // Server 3 removed from the config: the others keep their labels but shift index.
  const rest = all.filter((s) => s.index !== 3).map((s, i) => ({ ...s, index: i }));
  const after = mapping(createBalancer(uri, rest, byRemote), 10_000).map((i) => rest[i]!.label);
  let moved = 0;
  let movedElsewhere = 0;
  for (let k = 0; k < before.length; k++) {
    if (all[before[k]!]!.label === after[k]) continue;
    moved++;
    if (before[k] !== 3) movedElsewhere++;
  }
  t.ok(moved >= 500 && moved <= 1500, `${moved} of 10,000 keys moved`);
  t.equal(movedElsewhere, 0, 'only keys that were on the removed server');
});

t.test('hash: an unusable server hands its keys on, and gets exactly them back', async (t) => {
  const s = weighted(1, 1, 1, 1, 1, 1);
  const b = createBalancer(uri, s, byRemote);
  const before = mapping(b, 5000);
  s[2]!.usable = false;
  const during = mapping(b, 5000);
  let moved = 0;
  for (let k = 0; k < before.length; k++) {
    if (before[k] === 2) {
      moved++;
      t.not(during[k], 2);
    } else if (during[k] !== before[k]) t.fail(`key ${k} moved though its server is usable`);
  }
  t.ok(moved > 400, `${moved} keys moved off the unusable server`);
  t.ok(new Set(during.filter((_, k) => before[k] === 2)).size > 1, 'to several servers, not all onto one');
  s[2]!.usable = true;
  t.same(mapping(b, 5000), before, 'usable again: the previous mapping exactly');
});

t.test('hash: weights on the ring', async (t) => {
  const b = createBalancer(uri, weighted(1, 2, 3, 4), byRemote);
  const m = mapping(b, 40_000);
  const c = [0, 0, 0, 0];
  for (const i of m) c[i]!++;
  for (const [i, w] of [1, 2, 3, 4].entries()) {
    const expected = (w / 10) * 40_000;
    t.ok(Math.abs(c[i]! - expected) < 0.2 * expected, `weight ${w}: ${c[i]} keys, expected about ${expected}`);
  }
});

t.test('hash keys: client_ip, header, cookie, uri; absent keys fall back to round robin', async (t) => {
  const s = weighted(1, 1, 1, 1, 1, 1, 1, 1);
  const n = s.length;

  // client_ip is what the trust rules make of the request, not the socket's peer.
  const viaForwarded = (req: ClientRequest): string => req.headers[1] ?? req.remoteAddress;
  const ip = createBalancer({ balance: 'hash', hashKey: { kind: 'client_ip' } }, s, viaForwarded);
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const a = ip.pick(request('/a', ['x-forwarded-for', `198.51.100.${i}`], '10.9.9.9'), false);
    t.equal(ip.pick(request('/b', ['x-forwarded-for', `198.51.100.${i}`], '10.9.9.10'), false), a);
    seen.add(a);
  }
  t.equal(seen.size, n, 'different clients spread over every server');

  // Each kind: the same key from otherwise different requests, one server; another key, another.
  const kinds: Array<[HashKey, (key: string, noise: number) => ClientRequest]> = [
    [{ kind: 'header', name: 'X-Tenant' }, (k, z) => request(`/${z}`, ['accept', '*/*', 'x-tenant', k, 'x-tenant', `${z}`], `192.0.2.${z}`)],
    [
      { kind: 'cookie', name: 'sid' },
      (k, z) => request(`/${z}`, ['cookie', `theme=dark; sidx=${z}; lang=en`, 'cookie', ` a=1 ;  sid = ${k} ; sid=${z}`], `192.0.2.${z}`),
    ],
    [{ kind: 'uri' }, (k, z) => request(k, ['x-noise', `${z}`], `192.0.2.${z}`)],
  ];
  for (const [hashKey, req] of kinds) {
    const b = createBalancer({ balance: 'hash', hashKey }, s, byRemote);
    const servers = new Set<number>();
    for (let k = 0; k < 200; k++) {
      const first = b.pick(req(`key-${k}`, 1), false);
      for (let z = 2; z < 6; z++) t.equal(b.pick(req(`key-${k}`, z), false), first);
      servers.add(first);
    }
    t.equal(servers.size, n, `${hashKey.kind}: keys spread over every server`);
  }

  // No key: smooth weighted round robin of the tier, not one fixed server.
  for (const hashKey of [
    { kind: 'header', name: 'x-tenant' },
    { kind: 'cookie', name: 'sid' },
  ] as HashKey[]) {
    const w = weighted(5, 1, 1);
    const b = createBalancer({ balance: 'hash', hashKey }, w, byRemote);
    const keyless = request('/', ['cookie', 'sidx=1; other=2', 'x-tenantx', 'a']);
    t.same(
      Array.from({ length: 7 }, () => b.pick(keyless, false)),
      [0, 0, 1, 0, 2, 0, 0],
      `${hashKey.kind} absent: nginx's round robin`,
    );
    w[0]!.usable = false;
    t.same(counts(b, 3, 10, false, keyless), [0, 5, 5], `${hashKey.kind} absent: unusable still skipped`);
  }
});

t.test('cookie parsing', async (t) => {
  const h = (...values: string[]): string[] => values.flatMap((v) => ['cookie', v]);
  t.equal(cookieValue(h('sid=abc'), 'sid'), 'abc');
  t.equal(cookieValue(h('a=1; sid=abc; b=2'), 'sid'), 'abc');
  t.equal(cookieValue(h('a=1;sid=abc;b=2'), 'sid'), 'abc', 'no blank after ;');
  t.equal(cookieValue(h('a=1', 'b=2; sid=x'), 'sid'), 'x', 'in a later Cookie header');
  t.equal(cookieValue(h('sidx=1; xsid=2; sid=3'), 'sid'), '3', 'names that contain the name do not match');
  t.equal(cookieValue(h('sid=1; sid=2'), 'sid'), '1', 'the first wins');
  t.equal(cookieValue(h('a="q;'), 'sid'), undefined);
  t.equal(cookieValue(h('sid'), 'sid'), undefined, 'a name without = is no value');
  t.equal(cookieValue(h('sid='), 'sid'), undefined, 'empty is absent');
  t.equal(cookieValue(h('SID=1'), 'sid'), undefined, 'names are case-sensitive');
  t.equal(cookieValue(['set-cookie', 'sid=1', 'x-cookie', 'sid=2'], 'sid'), undefined, 'only Cookie headers');
  t.equal(cookieValue(h('a=1; sid=\t"v w" ; b'), 'sid'), '"v w"', 'trimmed of blanks, quotes kept');
});

t.test('createBalancer refuses what it cannot use', async (t) => {
  t.throws(() => createBalancer({ balance: 'hash' }, servers({}), byRemote), /hash key/);
  const bad = servers({}, {});
  bad[1]!.index = 0;
  t.throws(() => createBalancer({ balance: 'round_robin' }, bad, byRemote), /index/);
});
