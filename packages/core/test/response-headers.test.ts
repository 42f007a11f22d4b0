import t from 'tap';
import { filterResponseHeaders } from '../src/headers/response-headers.js';

t.test('drops hop-by-hop, framing and Date headers in any case, keeps the rest in order', async (t) => {
  const input = [
    'Content-Type', 'text/html',
    'Connection', 'keep-alive',
    'Keep-Alive', 'timeout=5',
    'Transfer-Encoding', 'chunked',
    'Content-Length', '12',
    'Date', 'Mon, 01 Jan 2024 00:00:00 GMT',
    'TE', 'trailers',
    'Trailer', 'Expires',
    'Upgrade', 'h2c',
    'Proxy-Connection', 'close',
    'ETag', '"abc"',
    'Vary', 'Accept-Encoding',
  ];
  t.same(filterResponseHeaders(input), ['Content-Type', 'text/html', 'ETag', '"abc"', 'Vary', 'Accept-Encoding']);
});

t.test('two Set-Cookie headers stay two, in order, with other repeats', async (t) => {
  const input = [
    'Set-Cookie', 'a=1; Path=/',
    'Cache-Control', 'no-store',
    'set-cookie', 'b=2; HttpOnly',
    'Link', '</a.css>; rel=preload',
    'Link', '</b.js>; rel=preload',
  ];
  t.same(filterResponseHeaders(input), input);
});

t.test('names listed by Connection are dropped, even when listed after them', async (t) => {
  const input = [
    'X-Internal', 'secret',
    'Content-Type', 'text/plain',
    'Connection', 'X-Internal, keep-alive',
    'x-internal', 'again',
    'connection', 'X-Other',
    'X-OTHER', '1',
    'Server', 'origin',
  ];
  t.same(filterResponseHeaders(input), ['Content-Type', 'text/plain', 'Server', 'origin']);
});

t.test('the input is left alone by default', async (t) => {
  const input = ['Date', 'x', 'A', '1'];
  const out = filterResponseHeaders(input);
  t.not(out, input);
  t.same(input, ['Date', 'x', 'A', '1']);
});

t.test('passing the input as out compacts it in place', async (t) => {
  const input = ['Date', 'x', 'A', '1', 'Connection', 'B', 'B', '2', 'C', '3'];
  const out = filterResponseHeaders(input, input);
  t.equal(out, input);
  t.same(input, ['A', '1', 'C', '3']);
});

t.test('a reused out array is truncated before it is filled', async (t) => {
  const out = ['stale', 'x', 'stale', 'y', 'stale', 'z'];
  t.equal(filterResponseHeaders(['A', '1'], out), out);
  t.same(out, ['A', '1']);
});

t.test('an empty list stays empty', async (t) => {
  t.same(filterResponseHeaders([]), []);
});
