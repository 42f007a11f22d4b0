// Listener TLS, redirect and HSTS keys: what a valid file gives, and every refusal naming file,
// key and fix (missing files, key not matching, names not covered, bad versions, conflicts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { certDir, issue, makeCa } from '../../../test/lib/certs.js';
import { ConfigError, loadConfigFile, tlsDefaults } from '../src/config/index.js';

const dir = certDir(t);
const ca = makeCa(dir);
const sso = issue(ca, 'sso', { dns: ['sso.domain.tld', 'auth.domain.tld'] });
const wild = issue(ca, 'wild', { dns: ['*.domain.tld'] });
const other = issue(ca, 'other', { dns: ['other.test'] });
const app = 'upstreams:\n  app:\n    servers: [127.0.0.1:9000]\n';
let count = 0;

function load(text: string) {
  const path = join(dir, `portcullis-${++count}.yaml`);
  writeFileSync(path, text);
  return loadConfigFile(path);
}

function message(text: string): string {
  try {
    load(text);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

t.test('a TLS listener with one certificate: cert and key (relative to the file), names from the certificate, defaults', async (t) => {
  const config = load(`listen:\n  - address: 0.0.0.0:8443\n    tls: { cert: sso.pem, key: sso.key }\n${app}`);
  t.same(config.listeners, [
    {
      host: '0.0.0.0',
      port: 8443,
      tls: {
        certificates: [{ certFile: sso.chain.path, keyFile: sso.key.path, names: null }],
        defaultCertificate: 0,
        minVersion: 'TLSv1.2',
        ciphers: null,
        hsts: { maxAge: 63_072_000, includeSubDomains: false, preload: false },
        watch: true,
      },
    },
  ]);
  t.equal(tlsDefaults.minVersion, 'TLSv1.2');
});

t.test('several certificates, names, default_certificate, min_version, ciphers, hsts, watch; plain and redirect listeners', async (t) => {
  const config = load(`
listen:
  - 127.0.0.1:8080
  - address: "[::]:80"
    redirect_https: true
  - address: 0.0.0.0:81
    redirect_https: { port: 8443, status: 308 }
  - address: 0.0.0.0:443
    tls:
      certificates:
        - { cert: ${sso.chain.path}, key: ${sso.key.path}, names: [SSO.domain.tld] }
        - { cert: wild.pem, key: wild.key }
      default_certificate: x.domain.tld
      min_version: "1.3"
      hsts: { max_age: 600, include_subdomains: true }
      watch: false
  - address: 0.0.0.0:444
    tls: { cert: other.pem, key: other.key, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256", hsts: false, min_version: TLSv1.2 }
${app}`);
  const [plain, redirect, redirect308, main, second] = config.listeners;
  t.same(plain, { host: '127.0.0.1', port: 8080 });
  t.same(redirect, { host: '::', port: 80, redirectHttps: { port: 443, status: 301 } });
  t.same(redirect308, { host: '0.0.0.0', port: 81, redirectHttps: { port: 8443, status: 308 } });
  t.same(main!.tls, {
    certificates: [
      { certFile: sso.chain.path, keyFile: sso.key.path, names: ['sso.domain.tld'] },
      { certFile: wild.chain.path, keyFile: wild.key.path, names: null },
    ],
    defaultCertificate: 1,
    minVersion: 'TLSv1.3',
    ciphers: null,
    hsts: { maxAge: 600, includeSubDomains: true, preload: false },
    watch: false,
  });
  t.match(second!.tls, { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256', hsts: null, minVersion: 'TLSv1.2' });
});

t.test('certificate problems name the key, the file and the reason', async (t) => {
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls: { cert: missing.pem, key: sso.key }\n${app}`), /listen\[0\]\.tls\.cert: cannot read "[^"]*missing\.pem".*no such file/);
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls: { cert: sso.pem, key: other.key }\n${app}`), /listen\[0\]\.tls\.key: .*other\.key the key does not belong to the certificate in .*sso\.pem.*Fix: give the private key of this certificate/);
  writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls: { cert: garbage.pem, key: sso.key }\n${app}`), /listen\[0\]\.tls\.cert: .*garbage\.pem has no PEM certificate/);
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls: { cert: sso.pem, key: garbage.pem }\n${app}`), /listen\[0\]\.tls\.key: .*garbage\.pem is not a PEM private key/);
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls: { cert: sso.pem, key: sso.key, names: [other.test] }\n${app}`), /listen\[0\]\.tls\.names: .*sso\.pem its certificate is not valid for "other\.test" \(it names sso\.domain\.tld, auth\.domain\.tld\)/);
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls: { cert: sso.pem }\n${app}`), /listen\[0\]\.tls: has no "key"/);
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls: {}\n${app}`), /listen\[0\]\.tls: has no certificate\. Fix: add "cert" and "key" \(nginx ssl_certificate and ssl_certificate_key\)/);
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls: { cert: sso.pem, key: sso.key, names: [127.0.0.1] }\n${app}`), /names\[0\]: "127\.0\.0\.1" is an IP address/);
});

t.test('conflicts and bad values', async (t) => {
  const tlsWith = (extra: string) => `listen:\n  - address: 0.0.0.0:443\n    tls: { cert: sso.pem, key: sso.key, ${extra} }\n${app}`;
  t.match(message(tlsWith('min_version: TLSv1.1')), /min_version: TLSv1\.1 is insecure and refused by the TLS library of uWS in any case\. Fix: write TLSv1\.2 \(the default\) or TLSv1\.3/);
  t.match(message(tlsWith('min_version: SSLv3')), /min_version: .*not supported/);
  t.match(message(tlsWith('min_version: TLSv1.3, ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256"')), /ciphers: applies to TLS 1\.2 only, and min_version is TLSv1\.3/);
  t.match(message(tlsWith('ciphers: "NOT-A-CIPHER"')), /ciphers: "NOT-A-CIPHER" names no cipher the TLS library knows/);
  t.match(message(tlsWith('hsts: { preload: true }')), /hsts\.preload: needs include_subdomains: true and max_age of at least 31536000/);
  t.match(message(tlsWith('hsts: { max_age: -1 }')), /hsts\.max_age: expected a whole number from 0/);
  t.match(message(tlsWith('hsts: { maxage: 1 }')), /hsts\.maxage: unknown key \(did you mean "max_age"\?\)/);
  t.match(message(tlsWith('default_certificate: nope.test')), /default_certificate: no certificate serves "nope\.test"\. Fix: write one of "sso\.domain\.tld" or "auth\.domain\.tld"/);
  t.match(message(tlsWith('certificates: []')), /tls\.cert: is given together with "certificates"/);
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls:\n      certificates:\n        - { cert: sso.pem, key: sso.key }\n        - { cert: sso.pem, key: sso.key }\n${app}`), /certificates\[1\]: serves "sso\.domain\.tld", which certificates\[0\] serves already/);
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls: { cert: sso.pem, key: sso.key }\n    redirect_https: true\n${app}`), /redirect_https: is set on a TLS listener/);
  t.match(message(`listen:\n  - address: 0.0.0.0:80\n    redirect_https: { status: 303 }\n${app}`), /redirect_https\.status: expected a redirect status, got 303/);
  t.match(message(`listen:\n  - address: 0.0.0.0:80\n    redirect_https: { port: 70000 }\n${app}`), /redirect_https\.port: expected a whole number from 1 to 65535/);
  t.match(message(`listen:\n  - tls: { cert: sso.pem, key: sso.key }\n${app}`), /listen\[0\]: has no "address"/);
  t.match(message(`listen:\n  - { address: 0.0.0.0:443, tsl: {} }\n${app}`), /listen\[0\]\.tsl: unknown key \(did you mean "tls"\?\)/);
  t.match(message(`listen:\n  - 0.0.0.0:443\n  - { address: 0.0.0.0:443, redirect_https: true }\n${app}`), /listen\[1\]: repeats the address of listen\[0\]/);
});

t.test('nginx directive names suggest ours', async (t) => {
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    ssl: {}\n${app}`), /listen\[0\]\.ssl: unknown key \(did you mean "tls"\?\)/);
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls: { ssl_certificate: sso.pem }\n${app}`), /tls\.ssl_certificate: unknown key \(did you mean "cert"\?\)/);
  t.match(message(`listen:\n  - address: 0.0.0.0:443\n    tls: { cert: sso.pem, key: sso.key, ssl_protocols: TLSv1.3 }\n${app}`), /tls\.ssl_protocols: unknown key \(did you mean "min_version"\?\)/);
  t.match(message(`listen:\n  - address: 0.0.0.0:80\n    return: 301\n${app}`), /listen\[0\]\.return: unknown key \(did you mean "redirect_https"\?\)/);
});
