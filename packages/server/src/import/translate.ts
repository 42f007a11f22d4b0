/**
 * nginx directives → a Portcullis configuration and a report (`portcullis import`).
 *
 * The output behaves as the nginx configuration did wherever Portcullis has the knob, nginx's
 * defaults included where they differ from ours (no upstream certificate check without
 * `proxy_ssl_verify on`, `Host: $proxy_host` unless told otherwise, no keep-alive upstream without
 * `keepalive`, one failure in 10 s taking a server out, 60 s to connect). Everything else is a
 * line of the report (report.ts): left out, or translated with a difference, or kept as nginx had
 * it where that is less safe than Portcullis's default. Which directive maps to which key, and how
 * they differ, is the table in directives.ts, from which docs/migrating-from-nginx.md is made.
 */
import { isIP } from 'node:net';
import type { NginxDirective } from './nginx-parse.js';
import { Output } from './output.js';
import { Report } from './report.js';
import { directiveRows, ignoredDirectives } from './directives.js';

export interface Translation {
  output: Output;
  report: Report;
}

type D = NginxDirective;

/** What a server block's `listen` says. */
interface Listen {
  d: D;
  host: string;
  port: number;
  ssl: boolean;
  http2: boolean;
  defaultServer: boolean;
}

/** Directives inherited down http → server → location, as nginx inherits them. */
interface Inherited {
  /** proxy_set_header: nginx inherits the whole list only when a level defines none. */
  setHeaders: D[];
  addHeaders: D[];
  single: Map<string, D>;
}

const INHERITED_SINGLE = [
  'proxy_http_version',
  'proxy_connect_timeout',
  'proxy_read_timeout',
  'proxy_send_timeout',
  'proxy_ssl_verify',
  'proxy_ssl_server_name',
  'proxy_ssl_name',
  'proxy_ssl_trusted_certificate',
  'proxy_ssl_certificate',
  'proxy_ssl_certificate_key',
  'proxy_ssl_protocols',
  'proxy_next_upstream',
  'proxy_next_upstream_tries',
  'proxy_next_upstream_timeout',
  'ssl_certificate',
  'ssl_certificate_key',
  'ssl_protocols',
  'ssl_ciphers',
  'send_timeout',
  'proxy_buffering',
];

function inherit(parent: Inherited, block: readonly D[]): Inherited {
  const setHeaders = block.filter((d) => d.name === 'proxy_set_header');
  const addHeaders = block.filter((d) => d.name === 'add_header');
  const single = new Map(parent.single);
  for (const d of block) if (INHERITED_SINGLE.includes(d.name)) single.set(d.name, d);
  return { setHeaders: setHeaders.length ? setHeaders : parent.setHeaders, addHeaders: addHeaders.length ? addHeaders : parent.addHeaders, single };
}

/** nginx's time syntax (`60`, `60s`, `1m30s`, `500ms`) → ms, or null. */
export function nginxTime(v: string): number | null {
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let rest = v;
  while (rest !== '') {
    const m = /^(\d+)(ms|s|m|h|d)/.exec(rest);
    if (!m) return null;
    total += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

function duration(ms: number): string {
  // Seconds up to ten minutes, as nginx configurations usually write them (60s, not 1m).
  if (ms % 1000 === 0 && ms < 600_000) return `${ms / 1000}s`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** `[::]:80` / `127.0.0.1:8080` / `80` / `*:80` / `localhost:80` → host and port (nginx: a bare port is every address). */
function parseListenAddress(a: string): { host: string; port: number } | null {
  let m = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(a);
  if (m) return { host: m[1]!, port: m[2] ? Number(m[2]) : 80 };
  if (/^\d+$/.test(a)) return { host: '0.0.0.0', port: Number(a) };
  m = /^([^:]+):(\d+)$/.exec(a);
  if (m) return { host: m[1] === '*' ? '0.0.0.0' : m[1]!, port: Number(m[2]) };
  if (/^[a-zA-Z0-9.-]+$/.test(a)) return { host: a === '*' ? '0.0.0.0' : a, port: 80 };
  return null;
}

function addressText(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An upstream name Portcullis accepts, from an nginx upstream name or a host. */
function upstreamName(s: string): string {
  const n = s.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '');
  return n === '' ? 'upstream' : n;
}

interface ProxyTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number | null;
  /** The URI part after host[:port], or null when there is none. */
  uri: string | null;
}

function parseProxyPass(v: string): ProxyTarget | null {
  const m = /^(https?):\/\/(\[[^\]]+\]|[^/:]+)(?::(\d+))?(\/.*)?$/.exec(v);
  if (!m) return null;
  return { scheme: m[1] as 'http' | 'https', host: m[2]!.replace(/^\[|\]$/g, ''), port: m[3] ? Number(m[3]) : null, uri: m[4] ?? null };
}

interface UpstreamState {
  name: string;
  /** The nginx `upstream` block, when there is one. */
  block: D | null;
  scheme: 'http' | 'https' | null;
  /** The directive that first chose the scheme. */
  schemeFrom: D | null;
  /** Host header decided by the first location using it (null: the client's Host). */
  hostHeader: string | null | undefined;
  hostFrom: D | null;
  /** Per-location settings that Portcullis keeps per upstream: first one wins, the rest are compared. */
  settings: Map<string, { value: unknown; from: D }>;
}

/**
 * @param fileName how a file is named in comments and the report.
 * @param filePath a certificate or key path as it must be written in the output: nginx reads a
 *   relative one from its prefix, Portcullis from the output file's directory (default: as is).
 */
export function translate(directives: readonly D[], fileName: (file: string) => string, filePath: (p: string) => string = (p) => p): Translation {
  const out = new Output(fileName);
  const report = new Report();
  const known = new Set(directiveRows.map((r) => r.directive));
  const handled = new Set<D>();
  const mark = (d: D): void => void handled.add(d);
  /** The inherited directive `name` in force at `level`, marked as carried over. */
  const use = (level: Inherited, name: string): D | undefined => {
    const d = level.single.get(name);
    if (d !== undefined) mark(d);
    return d;
  };
  let sendTimeout: D | null = null;

  // ---- the shape: main context, or an http-context fragment (conf.d/, sites-enabled/)
  let main: readonly D[] = directives;
  let http: readonly D[] = directives;
  const httpBlock = directives.find((d) => d.name === 'http' && d.block !== null);
  if (httpBlock) {
    mark(httpBlock);
    http = httpBlock.block!;
  } else {
    main = [];
  }
  for (const d of main) {
    if (d === httpBlock) continue;
    if (d.name === 'worker_processes') {
      mark(d);
      const v = d.args[0] ?? '';
      if (v === 'auto') out.set(['workers'], 'auto', d);
      else if (/^\d+$/.test(v)) out.set(['workers'], Number(v), d);
      else report.add(d, 'not translated', `expected a number or auto, got "${v}"`);
    }
  }

  // ---- http-level settings
  const maps = new Map<string, D>();
  for (const d of http) {
    if (d.name === 'map' && d.block !== null) {
      mark(d);
      const [source, variable] = d.args;
      if (source === '$http_upgrade' && variable !== undefined && isUpgradeMap(d)) {
        maps.set(variable, d);
        report.add(d, 'differs', `recognised as the WebSocket idiom: Portcullis upgrades a request that carries a WebSocket handshake and keeps every other request on a keep-alive upstream connection by itself, with no map (${variable} is understood wherever proxy_set_header Connection uses it)`);
      } else {
        report.add(d, 'not translated', `map of ${source ?? '?'} into ${variable ?? '?'}: Portcullis has no variables; the directives that use ${variable ?? 'it'} are reported where they stand`);
      }
    } else if (d.name === 'set_real_ip_from') {
      mark(d);
      const list = (out.get(['trusted_proxies']) as string[] | undefined) ?? [];
      list.push(d.args[0] ?? '');
      out.set(['trusted_proxies'], list, d);
      if (!http.some((x) => x.name === 'real_ip_recursive' && x.args[0] === 'on') && d === http.find((x) => x.name === 'set_real_ip_from')) {
        report.add(d, 'differs', 'Portcullis walks X-Forwarded-For back through trusted_proxies (nginx\'s real_ip_recursive on); nginx\'s default (off) takes the last address');
      }
      if (!http.some((x) => x.name === 'real_ip_header')) {
        report.add(d, 'differs', "nginx's default real_ip_header is X-Real-IP; Portcullis believes X-Forwarded-For from trusted_proxies (have the proxy in front send X-Forwarded-For)");
      }
    } else if (d.name === 'real_ip_recursive') {
      mark(d);
      if (d.args[0] !== 'on') report.add(d, 'differs', 'Portcullis walks X-Forwarded-For back through trusted_proxies (nginx\'s real_ip_recursive on); with off nginx takes the last address');
    } else if (d.name === 'real_ip_header') {
      mark(d);
      if ((d.args[0] ?? '').toLowerCase() !== 'x-forwarded-for') report.add(d, 'not translated', `Portcullis takes the client address from X-Forwarded-For of trusted_proxies only, not from ${d.args[0]}`);
    } else if (d.name === 'access_log') {
      mark(d);
      if (d.args[0] === 'off') out.set(['log', 'access'], false, d);
      else {
        out.set(['log', 'access'], true, d);
        report.add(d, 'differs', 'Portcullis writes one JSON line per request to standard output (docs: the access log); the file and format are not carried over');
      }
    }
  }

  // ---- upstream blocks
  const upstreams = new Map<string, UpstreamState>();
  for (const d of http) {
    if (d.name !== 'upstream' || d.block === null) continue;
    mark(d);
    const name = upstreamName(d.args[0] ?? '');
    // nginx matches upstream names without regard to case (ngx_http_upstream_add).
    upstreams.set((d.args[0] ?? '').toLowerCase(), { name, block: d, scheme: null, schemeFrom: null, hostHeader: undefined, hostFrom: null, settings: new Map() });
    // Servers first in the output, whatever the locations add later.
    out.set(['upstreams', name, 'servers'], []);
  }

  const base: Inherited = inherit({ setHeaders: [], addHeaders: [], single: new Map() }, http);

  // ---- servers → listeners and routes
  const servers = http.filter((d) => d.name === 'server' && d.block !== null);
  const listeners = new Map<string, { index: number; ssl: boolean; http2: boolean; servers: D[] }>();
  /** Routes written so far (their keys are set on the output in place). */
  let routeCount = 0;
  const seenRoute = new Map<string, string>();
  /** Servers that gave routes, and the addresses they listen on (routes apply to every listener). */
  const routeServers: Array<{ server: D; addresses: string[] }> = [];
  // The default server of each address: the one whose listen says default_server, else the first.
  const firstFor = new Map<string, D>();
  const explicitFor = new Map<string, D>();
  for (const s of servers) {
    const listens = s.block!.filter((x) => x.name === 'listen');
    if (listens.length === 0 && !firstFor.has('0.0.0.0:80')) firstFor.set('0.0.0.0:80', s);
    for (const d of listens) {
      const a = parseListenAddress(d.args[0] ?? '');
      if (!a) continue;
      const key = addressText(a.host, a.port);
      if (!firstFor.has(key)) firstFor.set(key, s);
      if ((d.args.includes('default_server') || d.args.includes('default')) && !explicitFor.has(key)) explicitFor.set(key, s);
    }
  }
  const defaultFor = new Map([...firstFor].map(([k, v]) => [k, explicitFor.get(k) ?? v]));
  for (const s of servers) {
    mark(s);
    const block = s.block!;
    const level = inherit(base, block);

    // listen
    const listens: Listen[] = [];
    let http2On = false;
    for (const d of block) {
      if (d.name === 'http2') {
        mark(d);
        http2On = d.args[0] === 'on';
      }
    }
    for (const d of block.filter((x) => x.name === 'listen')) {
      mark(d);
      const a = parseListenAddress(d.args[0] ?? '');
      if (!a) {
        report.add(d, 'not translated', `"${d.args[0]}" is not an address Portcullis listens on (unix sockets are not supported)`);
        continue;
      }
      const flags = d.args.slice(1);
      for (const f of flags) {
        if (!['ssl', 'http2', 'default_server', 'default', 'reuseport', 'ipv6only=on', 'ipv6only=off'].includes(f)) report.add(d, 'not translated', `listen parameter "${f}" has no Portcullis equivalent`);
      }
      if (flags.includes('ipv6only=off')) report.add(d, 'differs', 'ipv6only=off: Portcullis listens on the IPv6 address only; add an IPv4 listener for IPv4 clients');
      listens.push({ d, ...a, ssl: flags.includes('ssl'), http2: flags.includes('http2') || http2On, defaultServer: flags.includes('default_server') || flags.includes('default') });
    }
    if (listens.length === 0) {
      report.add(s, 'differs', 'no listen: nginx listens on *:80 (as root); translated as 0.0.0.0:80');
      listens.push({ d: s, host: '0.0.0.0', port: 80, ssl: false, http2: false, defaultServer: false });
    }

    // server_name → route hosts; the default server of its address also answers every other Host
    // Every server_name line adds names (nginx takes them all); the first one is cited.
    const nameDirectives = block.filter((d) => d.name === 'server_name');
    const nameDirective = nameDirectives[0];
    const hosts: string[] = [];
    for (const nd of nameDirectives) mark(nd);
    if (nameDirective) {
      for (const n of nameDirectives.flatMap((nd) => nd.args)) {
        if (n === '_' || n === '') continue;
        if (n.startsWith('~')) report.add(nameDirective, 'not translated', `regular-expression name "${n}": Portcullis matches exact names and *.wildcards only`);
        else if (n.startsWith('.')) hosts.push(n.slice(1).toLowerCase(), `*${n}`.toLowerCase());
        else if (n.endsWith('.*')) report.add(nameDirective, 'not translated', `"${n}": a wildcard at the end; Portcullis takes *.domain only`);
        else hosts.push(n.toLowerCase());
      }
    }
    const isDefault = listens.some((l) => defaultFor.get(addressText(l.host, l.port)) === s);
    const routeHosts = isDefault ? [] : hosts;
    // A server only reachable as the default (`server_name _;`), and not the default: nginx never picks it.
    const unreachable = !isDefault && hosts.length === 0;
    if (unreachable && nameDirective) report.add(nameDirective, 'not translated', `nginx never chooses this server by its name "${nameDirective.args.join(' ')}", and it is not the default of its address: its locations are left out`);
    if (isDefault && hosts.length > 0 && nameDirective) {
      report.add(nameDirective, 'differs', `this server is the default of ${listens.map((l) => addressText(l.host, l.port)).join(', ')}, so nginx serves requests for any Host with it; its routes are written without "host" to do the same (add host: ${hosts[0]} to answer other names with 404)`);
    }

    // listeners
    for (const l of listens) {
      const key = addressText(l.host, l.port);
      let entry = listeners.get(key);
      if (entry === undefined) {
        const index = listeners.size;
        entry = { index, ssl: l.ssl, http2: false, servers: [] };
        listeners.set(key, entry);
        out.set(['listen', index, 'address'], key, l.d);
      } else if (entry.ssl !== l.ssl) {
        report.add(l.d, 'not translated', `${key} is plain in one server block and ssl in another; Portcullis has one kind per address`);
        continue;
      } else {
        out.note(['listen', entry.index, 'address'], l.d);
      }
      entry.servers.push(s);
      if (l.ssl) tlsFor(out, report, ['listen', entry.index], level, hosts, l, mark, nameDirective, s);
      if (l.ssl && entry.servers.length > 1 && l.http2 !== entry.http2) {
        report.add(l.d, 'differs', `HTTP/2 is per listener in Portcullis: ${addressText(l.host, l.port)} offers it to every server name${l.http2 ? ' from here on' : ''}, where nginx (1.25.1 and later) chooses per server by SNI`);
      }
      if (l.ssl && l.http2 && !entry.http2) {
        entry.http2 = true;
        out.set(['listen', entry.index, 'http2'], true, l.d.args.includes('http2') ? l.d : block.find((d) => d.name === 'http2')!);
      } else if (!l.ssl && l.http2) {
        report.add(l.d, 'not translated', 'HTTP/2 without TLS (h2c): Portcullis offers HTTP/2 on TLS listeners only');
      }
    }

    // return: the https redirect idiom, anything else reported
    // The https redirect, in the forms nginx configurations write it: `return 301 https://$host$request_uri;`
    // alone in the server; `location / { return 301 ...; }` (beside an ACME challenge location);
    // certbot's `if ($host = name) { return 301 ...; }` blocks with a final `return 404;`.
    const ret = block.find((d) => d.name === 'return');
    let locations = block.filter((d) => d.name === 'location');
    const idiom = (d: D | undefined): RegExpExecArray | null => (d && [301, 302, 307, 308].includes(Number(d.args[0])) ? /^https:\/\/\$(host|server_name|http_host)(?::(\d+))?\$request_uri$/.exec(d.args[1] ?? '') : null);
    const onlyReturn = (b: readonly D[] | null): D | undefined => (b && b.length === 1 && b[0]!.name === 'return' ? b[0] : undefined);
    let redirect: D | undefined;
    let form = 'server';
    if (ret && idiom(ret) && locations.length === 0) redirect = ret;
    const rootLocation = locations.find((l) => l.args.length === 1 && l.args[0] === '/' && idiom(onlyReturn(l.block)));
    if (!redirect && rootLocation) {
      redirect = onlyReturn(rootLocation.block);
      form = 'location';
      mark(rootLocation);
      locations = locations.filter((l) => l !== rootLocation);
    }
    const certbotIfs = block.filter((d) => d.name === 'if' && /^\(\$host$/.test(d.args[0] ?? '') && idiom(onlyReturn(d.block)));
    if (!redirect && certbotIfs.length > 0 && ret && ret.args[0] === '404') {
      redirect = onlyReturn(certbotIfs[0]!.block);
      form = 'certbot';
      for (const d of certbotIfs) mark(d);
      mark(ret);
      report.add(certbotIfs[0]!, 'differs', 'certbot\'s per-name redirects with "return 404" for other names become one redirect of every request on the address (Portcullis redirects per listener)');
    }
    if (redirect) {
      mark(redirect);
      const m = idiom(redirect)!;
      const status = Number(redirect.args[0]);
      // As nginx: the port written in the URL, else https's 443 (whatever port the TLS server listens on).
      const port = m[2] ? Number(m[2]) : 443;
      for (const l of listens) {
        const entry = listeners.get(addressText(l.host, l.port))!;
        if (entry.ssl) {
          report.add(redirect, 'not translated', 'a redirect on a TLS listener');
          continue;
        }
        out.set(['listen', entry.index, 'redirect_https'], port === 443 && status === 301 ? true : { port, status }, redirect);
        if (form === 'server' && (!isDefault || entry.servers.length > 1)) report.add(redirect, 'differs', `the redirect answers every request on ${addressText(l.host, l.port)}, whatever its Host (Portcullis redirects per listener)`);
      }
      if (m[1] === 'server_name') report.add(redirect, 'differs', 'Portcullis redirects to the Host the client asked for ($host), not the server_name');
      if (m[1] === 'http_host') report.add(redirect, 'differs', "$http_host keeps the port the client sent; Portcullis redirects to the host alone, on port " + port);
      // The rest of a redirecting server (an ACME challenge location) is not served: the listener redirects everything.
      for (const l of locations) {
        mark(l);
        report.add(l, 'not translated', 'this server redirects to https; Portcullis redirects every request on the address, so this location is not served (ACME http-01 challenges: use certbot --standalone or the DNS challenge)');
      }
      locations = [];
    } else if (ret) {
      mark(ret);
      report.add(ret, 'not translated', idiom(ret) && locations.length > 0
        ? 'an https redirect in a server with locations (not only location /): Portcullis redirects a whole listener, so only a server without locations is carried over'
        : `only "return 301|302|307|308 https://$host$request_uri" (alone in the server, in location /, or certbot's if ($host = ...) form) is carried over: the https redirect`);
    }

    // locations → routes
    const before = routeCount;
    for (const loc of locations) {
      mark(loc);
      if (unreachable) continue;
      locationRoute(loc, level, routeHosts, listens, s);
    }
    if (routeCount > before) routeServers.push({ server: s, addresses: listens.map((l) => addressText(l.host, l.port)) });
    for (const d of block) {
      if (!handled.has(d)) leftOut(d);
    }
  }

  function locationRoute(loc: D, parent: Inherited, routeHosts: string[], listens: Listen[], server: D): void {
    const args = loc.args;
    let modifier = '';
    let path = args[0] ?? '';
    if (args.length === 2) {
      modifier = args[0]!;
      path = args[1]!;
    }
    if (modifier === '=' || modifier === '~' || modifier === '~*' || path.startsWith('@')) {
      report.add(loc, 'not translated', modifier === '=' ? 'an exact-match location: Portcullis routes by path prefix only; these requests go to the longest matching prefix route instead' : path.startsWith('@') ? 'a named location' : 'a regular-expression location: Portcullis routes by path prefix only; requests it matched (and any it blocked) go to the longest matching prefix route instead');
      return;
    }
    const block = loc.block ?? [];
    const level = inherit(parent, block);
    const pass = block.find((d) => d.name === 'proxy_pass');
    for (const d of block.filter((x) => x.name === 'location')) {
      mark(d);
      report.add(d, 'not translated', 'a nested location: translate it as a route of its own');
    }
    if (!pass) {
      report.add(loc, 'not translated', 'a location without proxy_pass (static files, return, deny ...): Portcullis only proxies; its requests go to the longest matching prefix route instead');
      for (const d of block) if (!handled.has(d)) leftOut(d);
      return;
    }
    mark(pass);
    const target = parseProxyPass(pass.args[0] ?? '');
    if (!target || /\$/.test(pass.args[0] ?? '')) {
      report.add(pass, 'not translated', /\$/.test(pass.args[0] ?? '') ? 'a proxy_pass with variables is resolved per request; Portcullis needs the upstream written out' : `"${pass.args[0]}" is not an http(s) URL`);
      return;
    }
    // The URI part: nginx replaces the matched prefix with it.
    let strip = false;
    if (target.uri !== null) {
      if (target.uri === '/' && (path.endsWith('/') || path === '/')) strip = path !== '/';
      else if (target.uri === path) strip = false;
      else {
        report.add(pass, 'not translated', `nginx replaces the location's "${path}" with "${target.uri}"; Portcullis can only strip the prefix (proxy_pass without a path, or with "/")`);
        return;
      }
    }
    if (modifier === '^~') report.add(loc, 'differs', 'the ^~ modifier: Portcullis has no regular-expression locations, so every prefix behaves so');
    if (!path.endsWith('/') && path !== '/') report.add(loc, 'differs', `nginx's prefix "${path}" also matches "${path}x..."; a Portcullis prefix ends at a "/" or "?"`);
    else if (path !== '/' ) report.add(loc, 'differs', `nginx answers "${path.slice(0, -1)}" with a 301 to "${path}"; Portcullis proxies it like "${path}"`);

    // the upstream
    let up = upstreams.get(target.host.toLowerCase());
    if (up === undefined || target.port !== null) {
      const address = addressText(target.host, target.port ?? (target.scheme === 'https' ? 443 : 80));
      const key = `${target.scheme}://${address}`;
      up = upstreams.get(key);
      if (up === undefined) {
        up = { name: uniqueName(upstreamName(target.port !== null ? `${target.host}_${target.port}` : target.host)), block: null, scheme: null, schemeFrom: null, hostHeader: undefined, hostFrom: null, settings: new Map() };
        upstreams.set(key, up);
        out.set(['upstreams', up.name, 'servers'], [target.scheme === 'https' ? `https://${address}` : address], pass);
      }
    }
    if (up.scheme === null) {
      up.scheme = target.scheme;
      up.schemeFrom = pass;
    } else if (up.scheme !== target.scheme) {
      report.add(pass, 'not translated', `upstream ${up.name} is also used with ${up.scheme}:// (${fileName(up.schemeFrom!.file)}:${up.schemeFrom!.line}); Portcullis speaks one protocol per upstream`);
      return;
    }

    // the Host header: nginx sends $proxy_host unless told otherwise
    // $proxy_host: host, with the port only when it is not the scheme's own (ngx_http_proxy_set_vars).
    const defaultPort = target.scheme === 'https' ? 443 : 80;
    const proxyHost = target.port !== null && target.port !== defaultPort ? addressText(target.host, target.port) : target.host;
    let host: string | null = proxyHost;
    let hostFrom: D = pass;
    for (const h of level.setHeaders) {
      mark(h);
      const name = (h.args[0] ?? '').toLowerCase();
      const value = h.args[1] ?? '';
      if (name === 'host') {
        hostFrom = h;
        if (value === '$http_host' || value === '$host') {
          host = null;
          if (value === '$host') report.add(h, 'differs', 'Portcullis passes the Host the client sent, port included; nginx\'s $host drops the port and lower-cases it');
        } else if (value === '$proxy_host') host = proxyHost;
        else if (!value.includes('$')) host = value;
        else report.add(h, 'not translated', `Host from ${value}: Portcullis sends the client's Host or a fixed one`);
      } else if (name === 'x-forwarded-for') {
        if (value === '$proxy_add_x_forwarded_for') report.add(h, 'differs', 'Portcullis appends the client to an incoming X-Forwarded-For only from trusted_proxies (set_real_ip_from); from anyone else it replaces it, where nginx appends to whatever the client sent');
        else if (value !== '$remote_addr') report.add(h, 'not translated', `X-Forwarded-For from ${value}: Portcullis sends the client's address`);
      } else if (name === 'x-forwarded-proto') {
        if (value !== '$scheme') report.add(h, 'not translated', `X-Forwarded-Proto from ${value}: Portcullis sends the client connection's scheme`);
      } else if (name === 'x-forwarded-host') {
        if (value !== '$host' && value !== '$http_host') report.add(h, 'not translated', `X-Forwarded-Host from ${value}: Portcullis sends the client's Host`);
      } else if (name === 'upgrade' && value === '$http_upgrade') {
        // The WebSocket idiom, built in.
      } else if (name === 'connection' && (value === '' || maps.has(value) || value.toLowerCase() === 'upgrade')) {
        // Keep-alive upstream ("") or the WebSocket map: built in.
      } else if (name === 'forwarded') {
        out.set(['forwarded'], true, h);
        report.add(h, 'differs', `"forwarded: true" sends Portcullis's own RFC 7239 Forwarded (for, proto, host) on every route, not "${value}" on this location only`);
      } else {
        report.add(h, 'not translated', `Portcullis sets no other request header (${h.args[0]}); it sends X-Forwarded-For, -Proto and -Host, and Forwarded with "forwarded: true"`);
      }
    }
    const sent = new Set(level.setHeaders.map((h) => (h.args[0] ?? '').toLowerCase()));
    if (!sent.has('x-forwarded-for') || !sent.has('x-forwarded-proto')) {
      report.add(pass, 'differs', 'Portcullis sends X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host, which this location did not (no proxy_set_header for them); no key turns them off');
    }
    if (up.hostHeader === undefined) {
      up.hostHeader = host;
      up.hostFrom = hostFrom;
      if (host !== null) out.set(['upstreams', up.name, 'host_header'], host, hostFrom === pass ? `proxy_pass ${pass.args[0]}: nginx sends Host: $proxy_host unless proxy_set_header Host says otherwise  (${fileName(pass.file)}:${pass.line})` : hostFrom);
    } else if (up.hostHeader !== host) {
      report.add(hostFrom, 'not translated', `upstream ${up.name} gets a different Host at ${fileName(up.hostFrom!.file)}:${up.hostFrom!.line}; Portcullis sets Host per upstream`);
    }

    // per-upstream settings from the location (first one wins; differences reported)
    /** A per-upstream key from this location: `from` is the directive, or a note on nginx's default (reported at proxy_pass). */
    const setting = (key: string, value: unknown, from: D | string): void => {
      const at = typeof from === 'string' ? pass : from;
      const had = up!.settings.get(key);
      if (had === undefined) {
        up!.settings.set(key, { value, from: at });
        out.set(['upstreams', up!.name, ...key.split('.')], value, typeof from === 'string' ? `${from}  (${fileName(pass.file)}:${pass.line})` : from);
      } else if (JSON.stringify(had.value) !== JSON.stringify(value)) {
        report.add(at, 'not translated', `upstream ${up!.name} has ${key}: ${JSON.stringify(had.value)} from ${fileName(had.from.file)}:${had.from.line}; Portcullis keeps it per upstream, so this location gets that too`);
      }
    };
    const timeout = (directive: string, key: string): void => {
      const d = use(level, directive);
      const ms = d ? nginxTime(d.args[0] ?? '') : 60_000;
      if (ms === null) return void report.add(d!, 'not translated', `"${d!.args[0]}" is not a time`);
      setting(key, duration(ms), d ?? `${directive}: nginx's default, 60s`);
    };
    timeout('proxy_connect_timeout', 'connect_timeout');
    timeout('proxy_read_timeout', 'read_timeout');
    timeout('proxy_send_timeout', 'send_timeout');
    // send_timeout: one value for the whole server in Portcullis (nginx's default 60s is ours too).
    const st = use(level, 'send_timeout');
    if (st) {
      if (sendTimeout === null) {
        sendTimeout = st;
        out.set(['send_timeout'], duration(nginxTime(st.args[0] ?? '') ?? 60_000), st);
      } else if (sendTimeout.args[0] !== st.args[0]) {
        report.add(st, 'not translated', `send_timeout is one value for all of Portcullis: ${sendTimeout.args[0]} from ${fileName(sendTimeout.file)}:${sendTimeout.line} applies here too`);
      }
    }
    const version = use(level, 'proxy_http_version');
    if (version && version.args[0] !== '1.1') report.add(version, 'differs', 'Portcullis always speaks HTTP/1.1 to upstreams');
    if (target.scheme === 'https') {
      const verify = use(level, 'proxy_ssl_verify');
      if (verify?.args[0] === 'on') setting('tls.verify', true, verify);
      else {
        setting('tls.verify', false, verify ?? `proxy_ssl_verify: nginx's default, off`);
        report.add(verify ?? pass, 'less safe', `upstream ${up.name}'s certificate is not checked, as nginx did not (proxy_ssl_verify off); Portcullis checks it by default: set tls.verify: true, with tls.ca for a private CA`);
      }
      const sni = use(level, 'proxy_ssl_server_name');
      if (sni?.args[0] !== 'on') report.add(sni ?? pass, 'differs', 'Portcullis always sends the server name (SNI) to https upstreams; nginx does not without proxy_ssl_server_name on');
      const name = use(level, 'proxy_ssl_name');
      if (name) setting('tls.server_name', name.args[0], name);
      const ca = use(level, 'proxy_ssl_trusted_certificate');
      if (ca) setting('tls.ca', filePath(ca.args[0] ?? ''), ca);
      const cert = use(level, 'proxy_ssl_certificate');
      const key = use(level, 'proxy_ssl_certificate_key');
      if (cert) setting('tls.cert', filePath(cert.args[0] ?? ''), cert);
      if (key) setting('tls.key', filePath(key.args[0] ?? ''), key);
    }
    for (const directive of ['proxy_ssl_verify', 'proxy_ssl_server_name', 'proxy_ssl_name', 'proxy_ssl_trusted_certificate', 'proxy_ssl_certificate', 'proxy_ssl_certificate_key']) {
      // On a plain upstream nginx ignores them: reported only where this location itself says so.
      const d = target.scheme === 'https' ? level.single.get(directive) : use(level, directive);
      if (d && target.scheme !== 'https' && block.includes(d)) report.add(d, 'not translated', 'the upstream is plain http');
    }
    // Retries: nginx's proxy_next_upstream defaults to "error timeout".
    const next = use(level, 'proxy_next_upstream');
    const on = next ? next.args.filter((a) => a !== 'off') : ['error', 'timeout'];
    const carried = on.filter((a) => ['error', 'timeout', 'http_502', 'http_503', 'http_504'].includes(a));
    for (const a of on) if (!carried.includes(a) && a !== 'non_idempotent') report.add(next!, 'not translated', `retrying on ${a}: Portcullis retries on error, timeout, http_502, http_503 and http_504`);
    if (on.includes('non_idempotent')) report.add(next!, 'not translated', 'non_idempotent: Portcullis never retries a request that may have changed something');
    if (next?.args[0] === 'off') setting('retry.on', [], next);
    else setting('retry.on', carried, next ?? `proxy_next_upstream: nginx's default, error timeout`);
    const tries = use(level, 'proxy_next_upstream_tries');
    if (tries) setting('retry.tries', Number(tries.args[0]), tries);
    const rtime = use(level, 'proxy_next_upstream_timeout');
    if (rtime && rtime.args[0] !== '0') setting('retry.timeout', duration(nginxTime(rtime.args[0] ?? '') ?? 0), rtime);

    // add_header: HSTS on the listener (done in tlsFor for the server level); others reported
    for (const h of level.addHeaders) {
      mark(h);
      if ((h.args[0] ?? '').toLowerCase() !== 'strict-transport-security') report.add(h, 'not translated', `Portcullis adds no response header but Strict-Transport-Security (${h.args[0]})`);
      else if (!parent.addHeaders.includes(h) && listens.some((l) => l.ssl)) report.add(h, 'not translated', 'HSTS set in a location: Portcullis sets it per TLS listener (write it in the server block)');
    }
    for (const d of block) if (!handled.has(d)) leftOut(d);

    const prefix = path.replace(/\/+$/, '');
    const keys = (routeHosts.length ? routeHosts : ['*']).map((h) => `${h} ${prefix}`);
    const taken = keys.find((k) => seenRoute.has(k));
    if (taken !== undefined) {
      const other = seenRoute.get(taken)!;
      if (other !== up.name || routeHosts.length > 1) {
        const who = taken.split(' ')[0] === '*' ? 'any Host' : taken.split(' ')[0];
        report.add(loc, 'not translated', `another server block already routes ${who} ${path}: Portcullis's routes are shared by every listener, so two server blocks cannot route one Host and path differently, even on different addresses (nginx serves a name with the first server that has it on an address)`);
      }
      return;
    }
    for (const k of keys) seenRoute.set(k, up.name);
    const index = routeCount++;
    if (routeHosts.length === 1) out.set(['routes', index, 'host'], routeHosts[0], server.block!.find((d) => d.name === 'server_name'));
    else if (routeHosts.length > 1) out.set(['routes', index, 'hosts'], routeHosts, server.block!.find((d) => d.name === 'server_name'));
    out.set(['routes', index, 'path'], path, loc);
    if (strip) out.set(['routes', index, 'strip_prefix'], true, pass);
    out.set(['routes', index, 'upstream'], up.name, pass);
  }

  function uniqueName(n: string): string {
    const taken = new Set([...upstreams.values()].map((u) => u.name));
    if (!taken.has(n)) return n;
    for (let i = 2; ; i++) if (!taken.has(`${n}_${i}`)) return `${n}_${i}`;
  }

  function tlsFor(o: Output, r: Report, at: Array<string | number>, level: Inherited, hosts: string[], l: Listen, markIt: (d: D) => void, names: D | undefined, server: D): void {
    const cert = use(level, 'ssl_certificate');
    const key = use(level, 'ssl_certificate_key');
    if (!cert || !key) {
      r.add(l.d, 'not translated', 'ssl without ssl_certificate and ssl_certificate_key');
      return;
    }
    markIt(cert);
    markIt(key);
    const existing = o.get([...at, 'tls']) as Record<string, unknown> | undefined;
    if (existing === undefined) {
      o.set([...at, 'tls', 'cert'], filePath(cert.args[0] ?? ''), cert);
      o.set([...at, 'tls', 'key'], filePath(key.args[0] ?? ''), key);
      const protocols = use(level, 'ssl_protocols');
      if (protocols) {
        markIt(protocols);
        const old = protocols.args.filter((p) => p === 'SSLv3' || p === 'TLSv1' || p === 'TLSv1.1');
        if (old.length) r.add(protocols, 'differs', `${old.join(', ')}: not offered by Portcullis (TLS 1.2 is the oldest)`);
        if (!protocols.args.includes('TLSv1.2') && protocols.args.includes('TLSv1.3')) o.set([...at, 'tls', 'min_version'], 'TLSv1.3', protocols);
        else if (!protocols.args.includes('TLSv1.3')) r.add(protocols, 'differs', 'Portcullis offers TLS 1.3 too');
      }
      const ciphers = use(level, 'ssl_ciphers');
      if (ciphers) {
        markIt(ciphers);
        if (o.get([...at, 'tls', 'min_version']) === 'TLSv1.3') r.add(ciphers, 'not translated', 'ssl_ciphers applies to TLS 1.2, which this server does not offer');
        else o.set([...at, 'tls', 'ciphers'], ciphers.args[0], ciphers);
      }
      const hsts = level.addHeaders.find((h) => (h.args[0] ?? '').toLowerCase() === 'strict-transport-security');
      if (hsts) {
        markIt(hsts);
        const v = hsts.args[1] ?? '';
        const age = /max-age=(\d+)/i.exec(v);
        const value: Record<string, unknown> = { max_age: age ? Number(age[1]) : 0 };
        if (/includesubdomains/i.test(v)) value['include_subdomains'] = true;
        if (/preload/i.test(v)) value['preload'] = true;
        o.set([...at, 'tls', 'hsts'], value, hsts);
        if (!hsts.args.includes('always')) r.add(hsts, 'differs', 'without "always" nginx adds the header to 2xx and 3xx responses only; Portcullis adds it to every response');
      } else {
        o.set([...at, 'tls', 'hsts'], false, `no add_header Strict-Transport-Security in this server: nginx sent none  (${fileName(l.d.file)}:${l.d.line})`);
        r.add(l.d, 'less safe', 'no Strict-Transport-Security, as nginx sent none; Portcullis sends it by default (remove "hsts: false")');
      }
      if (hosts.length) o.set([...at, 'tls', 'names'], [...hosts], names ?? l.d);
      return;
    }
    // A second server block on the same TLS address: HSTS is the listener's, its certificate is added for its names.
    const own = level.addHeaders.find((h) => (h.args[0] ?? '').toLowerCase() === 'strict-transport-security');
    if (own) markIt(own);
    const ownAge = own ? (/max-age=(\d+)/i.exec(own.args[1] ?? '')?.[1] ?? '0') : null;
    const listenerHsts = existing['hsts'] as { max_age?: number } | false | undefined;
    const listenerAge = listenerHsts ? String(listenerHsts.max_age) : null;
    if (ownAge !== listenerAge) {
      r.add(server, 'differs', `Strict-Transport-Security is per listener in Portcullis: this server's ${ownAge === null ? 'absence of HSTS' : `max-age=${ownAge}`} gives way to the listener's ${listenerAge === null ? 'none' : `max-age=${listenerAge}`}, set by the first server block on ${addressText(l.host, l.port)}`);
    }
    if (existing['cert'] === filePath(cert.args[0] ?? '')) return;
    const list = (existing['certificates'] as Array<Record<string, unknown>> | undefined) ?? [{ cert: existing['cert'], key: existing['key'], ...(existing['names'] ? { names: existing['names'] } : {}) }];
    delete existing['cert'];
    delete existing['key'];
    delete existing['names'];
    list.push({ cert: filePath(cert.args[0] ?? ''), key: filePath(key.args[0] ?? ''), ...(hosts.length ? { names: [...hosts] } : {}) });
    o.set([...at, 'tls', 'certificates'], list, cert);
    // The default server's certificate is the one clients without SNI (or with an unknown name) get.
    if (defaultFor.get(addressText(l.host, l.port)) === server) {
      if (hosts.length) o.set([...at, 'tls', 'default_certificate'], hosts[0], l.d);
      else r.add(l.d, 'differs', 'the default server has no name to select its certificate by: Portcullis sends the first certificate to clients without SNI');
    }
  }

  // ---- upstream block contents
  for (const up of upstreams.values()) {
    const d = up.block;
    if (d === null) continue;
    const servers: unknown[] = [];
    let maxFails: number | null = null;
    let failTimeout: number | null = null;
    const perServer: Array<{ d: D; fails: number; timeout: number }> = [];
    for (const x of d.block!) {
      switch (x.name) {
        case 'server': {
          mark(x);
          const [address, ...params] = x.args;
          let fails = 1;
          let timeout = 10_000;
          if ((address ?? '').startsWith('unix:')) {
            report.add(x, 'not translated', 'a unix socket: Portcullis connects over TCP');
            continue;
          }
          const hasPort = /:\d+$/.test(address ?? '') && !/^\[[^\]]*\]$/.test(address ?? '');
          // nginx's upstream servers default to port 80 whatever the proxy_pass scheme.
          const addr = hasPort ? address! : `${address}:80`;
          if (!hasPort && up.scheme === 'https') report.add(x, 'differs', 'no port: nginx connects to port 80 even for https://, and so does the output (write the port, e.g. :443)');
          const entry: Record<string, unknown> = { address: up.scheme === 'https' ? `https://${addr}` : addr };
          for (const p of params) {
            const [k, v = ''] = p.split('=');
            if (k === 'weight') entry['weight'] = Number(v);
            else if (k === 'backup') entry['backup'] = true;
            else if (k === 'down') entry['down'] = true;
            else if (k === 'max_fails') maxFails = fails = Number(v);
            else if (k === 'fail_timeout') failTimeout = timeout = nginxTime(v) ?? 10_000;
            else report.add(x, 'not translated', `server parameter "${p}" has no Portcullis equivalent`);
          }
          servers.push(Object.keys(entry).length === 1 ? entry['address'] : entry);
          perServer.push({ d: x, fails, timeout });
          break;
        }
        case 'keepalive':
          mark(x);
          out.set(['upstreams', up.name, 'keepalive'], Number(x.args[0]), x);
          break;
        case 'keepalive_timeout':
          mark(x);
          out.set(['upstreams', up.name, 'idle_timeout'], duration(nginxTime(x.args[0] ?? '') ?? 60_000), x);
          break;
        case 'keepalive_requests':
          mark(x);
          out.set(['upstreams', up.name, 'max_requests_per_socket'], Number(x.args[0]), x);
          break;
        case 'least_conn':
          mark(x);
          out.set(['upstreams', up.name, 'balance'], 'least_request', x);
          report.add(x, 'differs', 'Portcullis\'s least_request picks the less busy of two random servers (P2C), where nginx scans all for the fewest connections');
          break;
        case 'ip_hash':
          mark(x);
          out.set(['upstreams', up.name, 'balance'], 'hash', x);
          out.set(['upstreams', up.name, 'hash_key'], 'client_ip', x);
          report.add(x, 'differs', 'Portcullis hashes the whole client address on a consistent ring; nginx hashes the first three octets of an IPv4 address');
          break;
        case 'hash': {
          mark(x);
          const key = hashKey(x.args[0] ?? '');
          if (x.args[0] === '$uri') report.add(x, 'differs', "$uri is the decoded path without the query string; Portcullis's uri key hashes the request target as sent, query included");
          if (key === null) {
            report.add(x, 'not translated', `hash on "${x.args[0]}": Portcullis hashes $remote_addr, $request_uri, $http_<name> or $cookie_<name>`);
            break;
          }
          out.set(['upstreams', up.name, 'balance'], 'hash', x);
          out.set(['upstreams', up.name, 'hash_key'], key, x);
          if (x.args[1] !== 'consistent') report.add(x, 'differs', 'without "consistent" nginx maps keys by modulo (all keys move when a server is added); Portcullis always uses a consistent ring');
          break;
        }
        case 'random':
          mark(x);
          if (x.args[0] === 'two') {
            out.set(['upstreams', up.name, 'balance'], 'least_request', x);
            if (x.args[1] !== undefined && x.args[1] !== 'least_conn') report.add(x, 'differs', `random two ${x.args[1]}: Portcullis picks the less busy of the two by requests in flight`);
          } else out.set(['upstreams', up.name, 'balance'], 'random', x);
          break;
        default:
          leftOut(x);
      }
    }
    out.set(['upstreams', up.name, 'servers'], servers, d);
    // Portcullis counts failures per upstream (passive_health); nginx per server.
    const first = perServer[0];
    for (const p of perServer.slice(1)) {
      if (first && (p.fails !== first.fails || p.timeout !== first.timeout)) {
        report.add(p.d, 'differs', `max_fails/fail_timeout are one passive_health per upstream in Portcullis; this server's (${p.fails} in ${duration(p.timeout)}) differ from ${first.d.args[0]}'s, and the upstream takes the last given`);
      }
    }
    if (!d.block!.some((x) => x.name === 'keepalive')) {
      out.set(['upstreams', up.name, 'keepalive'], 0, `no keepalive in upstream ${d.args[0]}: nginx closes every upstream connection after its response  (${fileName(d.file)}:${d.line})`);
      report.add(d, 'differs', 'nginx before 1.29.7 keeps no idle upstream connection without "keepalive"; written as keepalive: 0 (Portcullis would keep 10, nginx 1.29.7 and later 32: remove the key or set it)');
    }
    // Passive health: nginx takes a server out after max_fails (1) failures within fail_timeout (10s), for fail_timeout.
    const fails = maxFails ?? 1;
    const window = failTimeout ?? 10_000;
    if (servers.length > 1) {
      if (fails === 0) out.set(['upstreams', up.name, 'passive_health'], 'off', d);
      else {
        out.set(['upstreams', up.name, 'passive_health'], { consecutive_failures: fails, window: duration(window), count_5xx: false, base_ejection_time: duration(window), max_ejection_time: duration(window) }, maxFails === null ? `max_fails=1 fail_timeout=10s (nginx's defaults)  (${fileName(d.file)}:${d.line})` : d);
        report.add(d, 'differs', 'Portcullis never takes out more than max_ejected_percent (50%) of the servers, nor the last one; nginx may mark them all failed');
      }
    }
  }
  for (const up of upstreams.values()) {
    if (up.block !== null && up.scheme === null) {
      report.add(up.block, 'not translated', `upstream ${up.block.args[0]} is used by no proxy_pass`);
      delete (out.root['upstreams'] as Record<string, unknown>)[up.name];
    }
  }

  // Routes apply to every listener in Portcullis; in nginx a server's locations answer only on its addresses.
  const proxied = [...listeners].filter(([, e]) => !(out.get(['listen', e.index, 'redirect_https']) ?? false)).map(([k]) => k);
  for (const { server, addresses } of routeServers) {
    const elsewhere = proxied.filter((a) => !addresses.includes(a));
    if (elsewhere.length) report.add(server, 'differs', `Portcullis's routes apply to every listener: this server's locations also answer on ${elsewhere.join(', ')}, where nginx did not serve them`);
  }
  // Keep the routes' order as written (their entries were filled in place).
  for (const d of http) if (!handled.has(d)) leftOut(d);
  for (const d of main) if (!handled.has(d) && d !== httpBlock) leftOut(d);
  if (!out.get(['listen'])) report.add({ file: directives[0]?.file ?? '', line: 1, name: 'server' }, 'not translated', 'no server block: nothing to listen on');

  function leftOut(d: D): void {
    if (handled.has(d)) return;
    handled.add(d);
    const why = ignoredDirectives[d.name];
    if (why !== undefined) report.add(d, 'not translated', why);
    else if (known.has(d.name)) report.add(d, 'not translated', 'not in a context Portcullis carries over here');
    else report.add(d, 'not translated', 'no Portcullis equivalent');
    if (d.block) for (const c of d.block) handled.add(c);
  }

  return { output: out, report };
}

/** The `map $http_upgrade $x { default upgrade; '' close|''; }` idiom. */
function isUpgradeMap(d: D): boolean {
  const entries = new Map(d.block!.map((e) => [e.name, e.args[0] ?? '']));
  return entries.get('default')?.toLowerCase() === 'upgrade' && entries.has('') && ['', 'close', 'keep-alive'].includes(entries.get('')!.toLowerCase());
}

function hashKey(v: string): string | null {
  if (v === '$remote_addr' || v === '$binary_remote_addr') return 'client_ip';
  if (v === '$request_uri' || v === '$uri') return 'uri';
  let m = /^\$http_([a-z0-9_]+)$/.exec(v);
  if (m) return `header:${m[1]!.replace(/_/g, '-')}`;
  m = /^\$cookie_([A-Za-z0-9_-]+)$/.exec(v);
  if (m) return `cookie:${m[1]}`;
  return null;
}
