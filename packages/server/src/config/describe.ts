/**
 * `portcullis check`: a validated configuration in words, as it would be served (nginx -t, with
 * the result shown): the listeners, the route table in the order it matches, the upstreams.
 */
import { formatHostPort } from '@portcullis/core';
import type { ServerConfig } from './types.js';
import { formatDuration } from './values.js';

export function describeConfig(c: ServerConfig): string {
  const out: string[] = [`portcullis: ${c.source} is valid`, 'listen:'];
  for (const l of c.listeners) {
    const where = formatHostPort(l.host, l.port);
    if (l.redirectHttps) out.push(`  ${where}  redirect to https (port ${l.redirectHttps.port}, ${l.redirectHttps.status})`);
    else if (l.tls) {
      const t = l.tls;
      const hsts = t.hsts ? `, HSTS max-age=${t.hsts.maxAge}` : '';
      const h2 = l.http2 ? `, HTTP/2 and HTTP/1.1 by ALPN (node:http2, ${l.http2.maxConcurrentStreams} streams)` : '';
      out.push(`  ${where}  tls (${t.certificates.length} certificate${t.certificates.length === 1 ? '' : 's'}, ${t.minVersion} and above${hsts}${h2})`);
    } else out.push(`  ${where}  http`);
  }
  out.push(`workers: ${c.workers}`);
  out.push(`admin: ${c.admin ? `${formatHostPort(c.admin.host, c.admin.port)}${c.admin.token ? ' (bearer token)' : ''}` : 'off'}`);
  out.push('routes (exact host, then wildcard, then any host; the longest path prefix wins):');
  for (const r of c.proxy.routes) {
    const hosts = r.hosts.length === 0 ? '*' : r.hosts.join(',');
    const name = r.name !== undefined ? `  [${r.name}]` : '';
    out.push(`  ${hosts} ${r.pathPrefix} -> ${r.upstream}${r.stripPrefix ? ' (prefix stripped)' : ''}${name}`);
  }
  out.push('upstreams:');
  for (const u of c.proxy.upstreams) {
    const key = u.hashKey === undefined ? '' : ` on ${u.hashKey.kind}${'name' in u.hashKey ? `:${u.hashKey.name}` : ''}`;
    out.push(`  ${u.name}: ${u.protocol}, ${u.balance}${key}, ${u.servers.length} server${u.servers.length === 1 ? '' : 's'}`);
    for (const s of u.servers) {
      const flags = [`weight ${s.weight ?? 1}`, ...(s.backup ? ['backup'] : []), ...(s.down ? ['down'] : [])];
      out.push(`    ${formatHostPort(s.host, s.port)}  ${flags.join(', ')}`);
    }
    const p = u.passiveHealth;
    out.push(
      p.consecutiveFailures === 0
        ? '    passive health: off'
        : `    passive health: eject after ${p.consecutiveFailures} failures${p.window > 0 ? ` within ${formatDuration(p.window)}` : ' in a row'}${p.count5xx ? ' (5xx count)' : ''}, for ${formatDuration(p.baseEjectionTime)} and more`,
    );
    const h = u.healthCheck;
    if (h) out.push(`    health check: GET ${h.path} every ${formatDuration(h.interval)}, rise ${h.rise}, fall ${h.fall}`);
    out.push(`    retry on: ${u.retry.on.length === 0 ? 'nothing' : u.retry.on.join(', ')}`);
  }
  return out.join('\n') + '\n';
}
