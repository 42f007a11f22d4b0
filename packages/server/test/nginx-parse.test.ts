// The nginx configuration reader: nginx's tokenizer (quotes, escapes, comments, ${var}), directive
// lines, includes (prefix, globs, cycles) and every error with its file:line.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import { NginxParseError, parseNginxFile, parseNginxText, type NginxDirective } from '../src/import/nginx-parse.js';

/** [name, args, line, block]: compact enough to write whole trees as expectations. */
type Shape = [string, string[], number, Shape[] | null];

function shape(directives: NginxDirective[]): Shape[] {
  return directives.map((d) => [d.name, d.args, d.line, d.block && shape(d.block)]);
}

function files(directives: NginxDirective[]): string[] {
  return directives.flatMap((d) => [d.file, ...(d.block ? files(d.block) : [])]);
}

const virtual = '/virtual/nginx.conf';
const text = (conf: string) => shape(parseNginxText(conf, virtual));

/** The error must be an NginxParseError at file:line whose message names both and matches `what`. */
function failsAt(t: Test, fn: () => unknown, file: string, line: number, what: RegExp) {
  try {
    fn();
    t.fail(`expected an NginxParseError at ${file}:${line}`);
  } catch (err) {
    t.ok(err instanceof NginxParseError, 'an NginxParseError');
    const e = err as NginxParseError;
    t.equal(e.file, file, 'file');
    t.equal(e.line, line, 'line');
    t.ok(e.message.startsWith(`${file}:${line}: `), `message starts with file:line: ${e.message}`);
    t.match(e.message, what);
  }
}

// The nginx part of /work/shared/seed/authentik-reverse-proxy-guide.txt, from `# Upstream where` to
// the final `}`, as written there.
const authentik = `# Upstream where your authentik server is hosted.
upstream authentik {
server <hostname of your authentik server>:9443;
# Improve performance by keeping some connections alive.
keepalive 10;
}

# Upgrade WebSocket if requested, otherwise use keepalive
map $http_upgrade $connection_upgrade_keepalive {
default upgrade;
'' '';
}

server {
# HTTP server config
listen 80;
listen [::]:80;
server_name sso.domain.tld;
# 301 redirect to HTTPS
return 301 https://$host$request_uri;
}
server {
# HTTPS server config
listen 443 ssl http2;
listen [::]:443 ssl http2;
server_name sso.domain.tld;

# TLS certificates
ssl_certificate /etc/letsencrypt/live/domain.tld/fullchain.pem;
ssl_certificate_key /etc/letsencrypt/live/domain.tld/privkey.pem;
add_header Strict-Transport-Security "max-age=63072000" always;

# Proxy site
# Location can be set to a subpath if desired, see documentation linked below:
# https://goauthentik.io/docs/installation/configuration#authentik_web__path
location / {
proxy_pass https://authentik;
proxy_http_version 1.1;
proxy_set_header X-Forwarded-Proto $scheme;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header Host $http_host;
proxy_set_header Upgrade $http_upgrade;
proxy_set_header Connection $connection_upgrade_keepalive;
}
}
`;

t.test("the authentik guide's configuration", async (t) => {
  const tree = parseNginxText(authentik, virtual);
  t.same(shape(tree), [
    ['upstream', ['authentik'], 2, [
      ['server', ['<hostname', 'of', 'your', 'authentik', 'server>:9443'], 3, null],
      ['keepalive', ['10'], 5, null],
    ]],
    ['map', ['$http_upgrade', '$connection_upgrade_keepalive'], 9, [
      ['default', ['upgrade'], 10, null],
      ['', [''], 11, null],
    ]],
    ['server', [], 14, [
      ['listen', ['80'], 16, null],
      ['listen', ['[::]:80'], 17, null],
      ['server_name', ['sso.domain.tld'], 18, null],
      ['return', ['301', 'https://$host$request_uri'], 20, null],
    ]],
    ['server', [], 22, [
      ['listen', ['443', 'ssl', 'http2'], 24, null],
      ['listen', ['[::]:443', 'ssl', 'http2'], 25, null],
      ['server_name', ['sso.domain.tld'], 26, null],
      ['ssl_certificate', ['/etc/letsencrypt/live/domain.tld/fullchain.pem'], 29, null],
      ['ssl_certificate_key', ['/etc/letsencrypt/live/domain.tld/privkey.pem'], 30, null],
      ['add_header', ['Strict-Transport-Security', 'max-age=63072000', 'always'], 31, null],
      ['location', ['/'], 36, [
        ['proxy_pass', ['https://authentik'], 37, null],
        ['proxy_http_version', ['1.1'], 38, null],
        ['proxy_set_header', ['X-Forwarded-Proto', '$scheme'], 39, null],
        ['proxy_set_header', ['X-Forwarded-For', '$proxy_add_x_forwarded_for'], 40, null],
        ['proxy_set_header', ['Host', '$http_host'], 41, null],
        ['proxy_set_header', ['Upgrade', '$http_upgrade'], 42, null],
        ['proxy_set_header', ['Connection', '$connection_upgrade_keepalive'], 43, null],
      ]],
    ]],
  ]);
  t.same(new Set(files(tree)), new Set([virtual]), 'every directive names the file');
  t.same(shape(parseNginxText(authentik.replace(/\n$/, ''), virtual)), shape(tree), 'the same without a final newline');
});

t.test('quotes and escapes', async (t) => {
  t.same(text(`a "b c" 'd e' "x\\"y" 'it\\'s' "back\\\\slash" "q'inside" 'd"inside';`), [
    ['a', ['b c', 'd e', 'x"y', "it's", 'back\\slash', "q'inside", 'd"inside'], 1, null],
  ]);
  t.same(text(`t "tab\\tnl\\ncr\\r" 'single\\tquoted';`), [['t', ['tab\tnl\ncr\r', 'single\tquoted'], 1, null]], '\\t \\n \\r in quotes');
  t.same(text(`t un\\"quoted \\\\ x\\ty;`), [['t', ['un"quoted', '\\', 'x\ty'], 1, null]], 'and outside quotes, as nginx copies every word the same way');
  t.same(text(`location ~ ^/(\\d+)\\.php$ { rewrite "\\.x" \\$y; }`), [
    ['location', ['~', '^/(\\d+)\\.php$'], 1, [['rewrite', ['\\.x', '\\$y'], 1, null]]],
  ], 'any other escape keeps its backslash (regexes survive)');
  t.same(text(`a b\\ c \\;d e\\{f;`), [['a', ['b\\ c', '\\;d', 'e\\{f'], 1, null]], 'an escaped space, ";" or "{" does not end the word');
  t.same(text(`"" x;\n'' '';\n"quoted name" 'y';`), [
    ['', ['x'], 1, null],
    ['', [''], 2, null],
    ['quoted name', ['y'], 3, null],
  ], 'empty quoted strings are names and arguments');
  t.same(text(`a"b c"d;`), [['a"b', ['c"d'], 1, null]], 'a quote inside a word is an ordinary character');
  t.same(text(`a "b";c "d"{e 'f';}`), [
    ['a', ['b'], 1, null],
    ['c', ['d'], 1, [['e', ['f'], 1, null]]],
  ], '";" and "{" may follow a closing quote directly');
  t.same(text(`a 'x\ny' "z\r\nw";`), [['a', ['x\ny', 'z\r\nw'], 1, null]], 'quoted strings keep their line ends');
});

t.test('comments', async (t) => {
  t.same(text(`# a whole line } { ; "
a 1; # after a directive ; {
b#c d#e;
e "#not a comment" '# nor this';
f 1 # between arguments ; }
  2;
#last line without newline`), [
    ['a', ['1'], 2, null],
    ['b#c', ['d#e'], 3, null],
    ['e', ['#not a comment', '# nor this'], 4, null],
    ['f', ['1', '2'], 5, null],
  ]);
  t.same(text(`server { # opens
  listen 80;#no space before it
}#closes`), [['server', [], 1, [['listen', ['80'], 2, null]]]]);
});

t.test('${var} braces are part of the word, not a block', async (t) => {
  t.same(text(`return 301 https://\${host}$request_uri;
set $a "\${host}x";
add_header X-Host \${host};
set $b a\${;
location ~ ^/a\${x}b {
  x \${a}\${b}c;
}`), [
    ['return', ['301', 'https://${host}$request_uri'], 1, null],
    ['set', ['$a', '${host}x'], 2, null],
    ['add_header', ['X-Host', '${host}'], 3, null],
    ['set', ['$b', 'a${'], 4, null],
    ['location', ['~', '^/a${x}b'], 5, [['x', ['${a}${b}c'], 6, null]]],
  ]);
  t.same(text(`location /a{ x 1; }`), [['location', ['/a'], 1, [['x', ['1'], 1, null]]]], 'a "{" not right after "$" ends the word');
});

t.test('map blocks with empty keys', async (t) => {
  t.same(text(`map $http_upgrade $connection_upgrade {
    default   upgrade;
    ''        close;
    ""        '';
    "~^/a"    2;
    hostnames;
}`), [
    ['map', ['$http_upgrade', '$connection_upgrade'], 1, [
      ['default', ['upgrade'], 2, null],
      ['', ['close'], 3, null],
      ['', [''], 4, null],
      ['~^/a', ['2'], 5, null],
      ['hostnames', [], 6, null],
    ]],
  ]);
});

t.test('if blocks keep their parentheses as nginx tokenizes them', async (t) => {
  t.same(text(`location / {
  if ($request_method = POST) { return 405; }
  if ($http_x = "a b") {
    return 403;
  }
  if (-f $request_filename){ break; }
  if ($host ~* "^www\\.(.*)"){ return 301 $1; }
  if ( $x ) { }
}`), [
    ['location', ['/'], 1, [
      ['if', ['($request_method', '=', 'POST)'], 2, [['return', ['405'], 2, null]]],
      ['if', ['($http_x', '=', 'a b', ')'], 3, [['return', ['403'], 4, null]]],
      ['if', ['(-f', '$request_filename)'], 6, [['break', [], 6, null]]],
      ['if', ['($host', '~*', '^www\\.(.*)', ')'], 7, [['return', ['301', '$1'], 7, null]]],
      ['if', ['(', '$x', ')'], 8, []],
    ]],
  ]);
});

t.test('a "{" or ";" right after a word ends it', async (t) => {
  t.same(text(`location /{ root /srv;}
location /a{}
events{}
worker_processes 1;user nobody;`), [
    ['location', ['/'], 1, [['root', ['/srv'], 1, null]]],
    ['location', ['/a'], 2, []],
    ['events', [], 3, []],
    ['worker_processes', ['1'], 4, null],
    ['user', ['nobody'], 4, null],
  ]);
  t.same(text(`a}b c;`), [['a}b', ['c'], 1, null]], 'a "}" inside a word is an ordinary character');
});

t.test('lines: multi-line strings and directives, blank lines, CRLF', async (t) => {
  t.same(text(`log_format main '$remote_addr - $remote_user '
                '"$request" $status';
add_header X "line1
line2
line3";


proxy_set_header
    Host
    $host;
after 1;`), [
    ['log_format', ['main', '$remote_addr - $remote_user ', '"$request" $status'], 1, null],
    ['add_header', ['X', 'line1\nline2\nline3'], 3, null],
    ['proxy_set_header', ['Host', '$host'], 8, null],
    ['after', ['1'], 11, null],
  ]);
  t.same(text('a 1;\r\nb {\r\n  c "x\r\ny";\r\n  d 2;\r\n}\r\n# c\r\ne;\r\n'), [
    ['a', ['1'], 1, null],
    ['b', [], 2, [
      ['c', ['x\r\ny'], 3, null],
      ['d', ['2'], 5, null],
    ]],
    ['e', [], 8, null],
  ], 'CRLF line ends are spaces, and a CR stays inside quotes');
  t.same(text('\ufeffuser nobody;'), [['user', ['nobody'], 1, null]], 'a leading byte order mark is dropped');
  t.same(text(''), [], 'an empty file');
  t.same(text('  # only a comment\n\n'), [], 'a file of comments');
});

t.test('errors in the text name file:line', async (t) => {
  failsAt(t, () => parseNginxText('a 1;\n}\n', virtual), virtual, 2, /unexpected "}" \(no block is open/);
  failsAt(t, () => parseNginxText('server {\n  return 200\n}\n', virtual), virtual, 3, /unexpected "}" \(the directive "return" at line 2 is missing its ";"\)/);
  failsAt(t, () => parseNginxText('a 1;\nb 2', virtual), virtual, 2, /unexpected end of file, expecting ";" \(the directive "b" at line 2 is not terminated\)/);
  failsAt(t, () => parseNginxText('a 1;\nb\n  2\n', virtual), virtual, 4, /unexpected end of file, expecting ";" \(the directive "b" at line 2/);
  failsAt(t, () => parseNginxText('a 1;\nlonely', virtual), virtual, 2, /expecting ";" \(the directive "lonely" at line 2/);
  failsAt(t, () => parseNginxText('http {\n  server {\n    listen 80;\n  }\n', virtual), virtual, 5, /unexpected end of file, expecting "}" \(the block "http" at line 1 is not closed\)/);
  failsAt(t, () => parseNginxText('http {\n  server {\n', virtual), virtual, 3, /expecting "}" \(the block "server" at line 2/);
  failsAt(t, () => parseNginxText('a "b;\nc;\n', virtual), virtual, 3, /unexpected end of file, expecting '"' \(the quoted string at line 1 is not closed\)/);
  failsAt(t, () => parseNginxText("a\n 'b;", virtual), virtual, 2, /expecting "'" \(the quoted string at line 2/);
  failsAt(t, () => parseNginxText('a 1;\n;\n', virtual), virtual, 2, /unexpected ";" \(a directive without a name\)/);
  failsAt(t, () => parseNginxText('a 1;;', virtual), virtual, 1, /unexpected ";"/);
  failsAt(t, () => parseNginxText('\n\n{ a 1; }', virtual), virtual, 3, /unexpected "{" \(a block without a directive name/);
  failsAt(t, () => parseNginxText('server {\n  { }\n}', virtual), virtual, 2, /unexpected "{"/);
  failsAt(t, () => parseNginxText('a "b"c;', virtual), virtual, 1, /unexpected "c" after a closing quote/);
  failsAt(t, () => parseNginxText("a\n'b'# no;", virtual), virtual, 2, /unexpected "#" after a closing quote/);
  failsAt(t, () => parseNginxText("location / {\n  e 'f'}", virtual), virtual, 2, /unexpected "}" after a closing quote/);
  failsAt(t, () => parseNginxText('a 1;\r\n}\r\n', virtual), virtual, 2, /unexpected "}"/);
});

t.test('deep nesting and large files', async (t) => {
  const depth = 5000;
  const deep = parseNginxText(`${'b {\n'.repeat(depth)}x;\n${'}\n'.repeat(depth)}`, virtual);
  let node = deep[0]!;
  for (let i = 1; i < depth; i++) node = node.block![0]!;
  t.same(node.block, [{ name: 'x', args: [], file: virtual, line: depth + 1, block: null }], 'no recursion limit on blocks');
  const lines = 50_000;
  const big = parseNginxText(Array.from({ length: lines }, (_, i) => `d${i} "v ${i}" w;`).join('\n'), virtual);
  t.equal(big.length, lines);
  t.same(big.at(-1), { name: `d${lines - 1}`, args: [`v ${lines - 1}`, 'w'], file: virtual, line: lines, block: null });
});

// ---- includes, on real files

const root = realpathSync(mkdtempSync(join(tmpdir(), 'portcullis-nginx-parse-')));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let count = 0;
/** A fresh directory holding `tree` (relative path -> text). */
function tree(files: Record<string, string>): string {
  const dir = join(root, `t${++count}`);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

t.test('include: in place, inside blocks, relative to the main file, globs sorted', async (t) => {
  const dir = tree({
    'nginx.conf': `user nobody;
http {
  include mime.types;
  include conf.d/*.conf;
  server {
    include snippets/common.conf;
    listen 80;
  }
}
include empty/*.conf;
events {}
`,
    'mime.types': 'types {\n  text/html html;\n}\n',
    'conf.d/b.conf': 'b 1;\n',
    'conf.d/a.conf': '# first\n\na 1;\ninclude snippets/nested.conf;\n',
    'conf.d/10-z.conf': 'z 1;\n',
    'conf.d/B.conf': 'upper 1;\n',
    'conf.d/c.txt': 'not included;\n',
    'conf.d/.hidden.conf': 'hidden;\n',
    'snippets/common.conf': 'proxy_set_header Host $host;\nproxy_http_version 1.1;\n',
    'snippets/nested.conf': 'nested 1;\n',
    'conf.d/snippets/nested.conf': 'wrong: relative includes resolve against the prefix, not the including file;\n',
  });
  mkdirSync(join(dir, 'empty'));
  const parsed = parseNginxFile(join(dir, 'nginx.conf'));
  t.same(shape(parsed), [
    ['user', ['nobody'], 1, null],
    ['http', [], 2, [
      ['types', [], 1, [['text/html', ['html'], 2, null]]],
      ['z', ['1'], 1, null],
      ['upper', ['1'], 1, null],
      ['a', ['1'], 3, null],
      ['nested', ['1'], 1, null],
      ['b', ['1'], 1, null],
      ['server', [], 5, [
        ['proxy_set_header', ['Host', '$host'], 1, null],
        ['proxy_http_version', ['1.1'], 2, null],
        ['listen', ['80'], 7, null],
      ]],
    ]],
    ['events', [], 11, []],
  ]);
  const http = parsed[1]!.block!;
  t.same(http.map((d) => d.file), [
    join(dir, 'mime.types'),
    join(dir, 'conf.d/10-z.conf'),
    join(dir, 'conf.d/B.conf'),
    join(dir, 'conf.d/a.conf'),
    join(dir, 'snippets/nested.conf'),
    join(dir, 'conf.d/b.conf'),
    join(dir, 'nginx.conf'),
  ], 'each directive keeps its own file; glob matches in byte order (10-z, B, a, b)');
  t.equal(http[0]!.block![0]!.file, join(dir, 'mime.types'));
  t.same(http[6]!.block!.map((d) => d.file), [join(dir, 'snippets/common.conf'), join(dir, 'snippets/common.conf'), join(dir, 'nginx.conf')]);

  t.same(shape(parseNginxFile(join(dir, 'nginx.conf').replace(root, `${root}/./x/..`))), shape(parsed), 'a path with . and .. is resolved');
});

t.test('include: relative to prefix, absolute, quoted, globs in directories and sets', async (t) => {
  const dir = tree({
    'etc/nginx.conf': 'include inc.conf;\ninclude "sites/*/site.conf";\ninclude sites/[ab]?.conf;\ninclude sites/[!ab]*.conf;\n',
    'prefix/inc.conf': `from_prefix 1;\n`,
    'etc/inc.conf': 'wrong: not the prefix;\n',
    'prefix/sites/one/site.conf': 'one;\n',
    'prefix/sites/two/site.conf': 'two;\n',
    'prefix/sites/three/other.conf': 'never;\n',
    'prefix/sites/a1.conf': 'a1;\n',
    'prefix/sites/b2.conf': 'b2;\n',
    'prefix/sites/c3.conf': 'c3;\n',
    'prefix/sites/ab3.conf': 'ab3 is too long for [ab]?;\n',
    'abs/abs.conf': 'absolute 1;\n',
  });
  t.same(shape(parseNginxFile(join(dir, 'etc/nginx.conf'), { prefix: join(dir, 'prefix') })), [
    ['from_prefix', ['1'], 1, null],
    ['one', [], 1, null],
    ['two', [], 1, null],
    ['a1', [], 1, null],
    ['b2', [], 1, null],
    ['c3', [], 1, null],
  ]);
  const absolute = parseNginxText(`include ${join(dir, 'abs/abs.conf')};\ninclude '${join(dir, 'abs')}/*.conf';`, join(dir, 'etc/virtual.conf'));
  t.same(shape(absolute), [['absolute', ['1'], 1, null], ['absolute', ['1'], 1, null]], 'absolute paths and masks; one file included twice is no cycle');
  t.equal(absolute[0]!.file, join(dir, 'abs/abs.conf'));
  t.same(parseNginxText('include nothing/*.conf;\ninclude none-?.conf;\ninclude [x].conf;', join(dir, 'etc/virtual.conf')), [], 'masks that match nothing are fine');

  const odd = tree({
    'star*.conf': 'literal_star;\n',
    'star-x.conf': 'star_x;\n',
    'x[1.conf': 'open_bracket;\n',
    'd[1]/a.conf': 'bracket_dir;\n',
    'nginx.conf': 'include star\\*.conf;\ninclude x[1.conf;\ninclude "d\\[1\\]/*.conf";\n',
  });
  t.same(shape(parseNginxFile(join(odd, 'nginx.conf'))), [
    ['literal_star', [], 1, null],
    ['open_bracket', [], 1, null],
    ['bracket_dir', [], 1, null],
  ], 'a backslash quotes a mask character, an unclosed "[" is itself');
});

t.test('include errors name the include directive', async (t) => {
  const dir = tree({
    'nginx.conf': 'http {\n  include conf.d/*.conf;\n}\n',
    'conf.d/a.conf': '\n\ninclude missing.conf;\n',
  });
  failsAt(t, () => parseNginxFile(join(dir, 'nginx.conf')), join(dir, 'conf.d/a.conf'), 3,
    new RegExp(`include "missing.conf": no such file ${join(dir, 'missing.conf')}; relative includes resolve against ${dir}`));

  const abs = join(dir, 'nowhere/x.conf');
  failsAt(t, () => parseNginxText(`a;\ninclude ${abs};`, join(dir, 'main.conf')), join(dir, 'main.conf'), 2, new RegExp(`no such file ${abs}$`));

  const dirs = tree({ 'nginx.conf': 'x;\ninclude d/*;\n', 'd/a.conf': 'a;\n', 'd/sub/b.conf': 'b;\n' });
  failsAt(t, () => parseNginxFile(join(dirs, 'nginx.conf')), join(dirs, 'nginx.conf'), 2, new RegExp(`include "d/\\*": cannot read ${join(dirs, 'd/sub')} \\(EISDIR`));

  const missing = join(dir, 'no-such.conf');
  try {
    parseNginxFile(missing);
    t.fail('a missing main file');
  } catch (err) {
    t.ok(err instanceof NginxParseError);
    t.match(err, { file: missing, line: 0, message: new RegExp(`^${missing}: cannot read the file \\(ENOENT`) }, 'the main file: no line');
  }

  const bad = tree({
    'close.conf': 'include extra-close.conf;\n',
    'extra-close.conf': 'a;\n}\n',
    'open.conf': 'server {\n  include unclosed.conf;\n}\n',
    'unclosed.conf': 'location / {\n  a;\n',
    'args.conf': 'a;\ninclude a.conf b.conf;\n',
    'none.conf': 'include;\n',
    'block.conf': '\ninclude x.conf { }\n',
  });
  failsAt(t, () => parseNginxFile(join(bad, 'close.conf')), join(bad, 'extra-close.conf'), 2, /unexpected "}"/);
  failsAt(t, () => parseNginxFile(join(bad, 'open.conf')), join(bad, 'unclosed.conf'), 3, /expecting "}" \(the block "location" at line 1/);
  failsAt(t, () => parseNginxFile(join(bad, 'args.conf')), join(bad, 'args.conf'), 2, /invalid number of arguments in "include".*got 2/);
  failsAt(t, () => parseNginxFile(join(bad, 'none.conf')), join(bad, 'none.conf'), 1, /invalid number of arguments in "include".*got 0/);
  failsAt(t, () => parseNginxFile(join(bad, 'block.conf')), join(bad, 'block.conf'), 2, /"include" is not terminated by ";"/);
});

t.test('include cycles', async (t) => {
  const dir = tree({
    'self.conf': 'a;\ninclude self.conf;\n',
    'a.conf': 'http {\n  include b.conf;\n}\n',
    'b.conf': '\n\ninclude c.conf;\n',
    'c.conf': 'include a.conf;\n',
    'glob.conf': 'x;\n\ninclude *.conf;\n',
  });
  failsAt(t, () => parseNginxFile(join(dir, 'self.conf')), join(dir, 'self.conf'), 2,
    new RegExp(`include "self.conf" makes an include cycle: ${join(dir, 'self.conf')} -> ${join(dir, 'self.conf')}$`));
  const chain = (...names: string[]) => names.map((f) => join(dir, `${f}.conf`)).join(' -> ');
  failsAt(t, () => parseNginxFile(join(dir, 'a.conf')), join(dir, 'c.conf'), 1, new RegExp(`include "a.conf" makes an include cycle: ${chain('a', 'b', 'c', 'a')}$`));
  failsAt(t, () => parseNginxFile(join(dir, 'b.conf')), join(dir, 'a.conf'), 2, new RegExp(`include "b.conf" makes an include cycle: ${chain('b', 'c', 'a', 'b')}$`));
  // *.conf matches a.conf first, which leads back to itself through b and c
  failsAt(t, () => parseNginxFile(join(dir, 'glob.conf')), join(dir, 'c.conf'), 1, /include cycle/);
  failsAt(t, () => parseNginxText('include self.conf;', join(dir, 'self.conf')), join(dir, 'self.conf'), 1, /include cycle/);
});

t.test('injected readFile and glob', async (t) => {
  const texts: Record<string, string> = {
    '/etc/nginx/nginx.conf': 'http {\n  include conf.d/*.conf;\n  include /etc/nginx/plain.conf;\n}\n',
    '/etc/nginx/plain.conf': 'plain 1;\n',
    '/etc/nginx/conf.d/z.conf': 'z;\n',
    '/etc/nginx/conf.d/y.conf': 'y;\n',
  };
  const patterns: string[] = [];
  const opts = {
    readFile: (path: string) => {
      const found = texts[path];
      if (found === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
      return found;
    },
    glob: (pattern: string) => {
      patterns.push(pattern);
      return ['/etc/nginx/conf.d/z.conf', '/etc/nginx/conf.d/y.conf'];
    },
  };
  const parsed = parseNginxFile('/etc/nginx/nginx.conf', opts);
  t.same(shape(parsed), [['http', [], 1, [['z', [], 1, null], ['y', [], 1, null], ['plain', ['1'], 1, null]]]], "the glob's order is kept");
  t.same(patterns, ['/etc/nginx/conf.d/*.conf'], 'the glob gets the absolute mask');
  t.same(files(parsed), ['/etc/nginx/nginx.conf', '/etc/nginx/conf.d/z.conf', '/etc/nginx/conf.d/y.conf', '/etc/nginx/plain.conf']);

  failsAt(t, () => parseNginxText('\ninclude other.conf;', '/etc/nginx/nginx.conf', opts), '/etc/nginx/nginx.conf', 2, /no such file \/etc\/nginx\/other.conf/);
  const denied = { readFile: () => { throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }); } };
  failsAt(t, () => parseNginxText('include x.conf;', '/srv/n.conf', denied), '/srv/n.conf', 1, /include "x.conf": cannot read \/srv\/x.conf \(EACCES: permission denied\)/);
  const broken = { glob: () => { throw new Error('EIO'); } };
  failsAt(t, () => parseNginxText('include *.conf;', '/srv/n.conf', broken), '/srv/n.conf', 1, /cannot list \/srv\/\*.conf \(EIO\)/);
  failsAt(t, () => parseNginxText('include x.conf;', '/srv/n.conf', { prefix: '/opt/p', readFile: opts.readFile }), '/srv/n.conf', 1, /no such file \/opt\/p\/x.conf; relative includes resolve against \/opt\/p/);
});
