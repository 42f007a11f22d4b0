import t from 'tap';
import {
  addConnectionTokens,
  connectionListedNames,
  equalsLower,
  HOP_BY_HOP,
  isHopByHop,
} from '../src/headers/hop-by-hop.js';

const FIXED = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

t.test('HOP_BY_HOP is the RFC 9110 7.6.1 set plus proxy-connection and keep-alive', async (t) => {
  t.same([...HOP_BY_HOP].sort(), [...FIXED].sort());
});

t.test('isHopByHop is true for exactly the fixed hop-by-hop names', async (t) => {
  for (const name of FIXED) t.ok(isHopByHop(name), name);
  for (const name of ['host', 'content-length', 'trailers', 'tee', 'upgrade-insecure-requests', 'set-cookie', 'x-forwarded-for', 'user-agent', 'proxy-authorization', '']) {
    t.notOk(isHopByHop(name), name);
  }
});

t.test('isHopByHop matches the fixed names in any case', async (t) => {
  for (const name of ['Connection', 'KEEP-ALIVE', 'Transfer-Encoding', 'TE', 'Upgrade', 'Proxy-Connection', 'Trailer']) {
    t.ok(isHopByHop(name), name);
  }
  t.notOk(isHopByHop('Content-Type'));
  t.notOk(isHopByHop('Set-Cookie'));
});

t.test('equalsLower folds letters only, so CR never passes for a dash', async (t) => {
  t.ok(equalsLower('Keep-Alive', 'keep-alive'));
  t.notOk(equalsLower('keep\ralive', 'keep-alive'));
  t.notOk(equalsLower('keep-aliv', 'keep-alive'));
  t.notOk(equalsLower('keep_alive', 'keep-alive'));
});

t.test('Connection listing only keep-alive, close or upgrade costs nothing: null', async (t) => {
  t.equal(connectionListedNames([]), null);
  t.equal(connectionListedNames(['host', 'a']), null);
  t.equal(connectionListedNames(['connection', 'keep-alive']), null);
  t.equal(connectionListedNames(['connection', 'Keep-Alive, Upgrade']), null);
  t.equal(connectionListedNames(['connection', 'close']), null);
  t.equal(connectionListedNames(['connection', ' , ,']), null);
  t.equal(connectionListedNames(['connection', '']), null);
  t.equal(connectionListedNames(['connection', 'TE, transfer-encoding, proxy-connection, trailer']), null);
});

t.test('Connection-listed names are extracted lower-cased, trimmed, de-duplicated, across headers', async (t) => {
  t.same(
    connectionListedNames([
      'connection', ' keep-alive ,  X-Foo\t,x-bar',
      'host', 'example.com',
      'connection', 'close, X-FOO, Cookie',
    ]),
    ['x-foo', 'x-bar', 'cookie'],
  );
});

t.test('Host is never listed: a client cannot make the upstream see another virtual host', async (t) => {
  t.equal(connectionListedNames(['connection', 'Host, close']), null);
});

t.test('addConnectionTokens appends to an existing list', async (t) => {
  const list = ['a'];
  t.equal(addConnectionTokens('b, a', list), list);
  t.same(list, ['a', 'b']);
  t.equal(addConnectionTokens('keep-alive', null), null);
});

