/**
 * Certificates of TLS listeners: reading a PEM certificate chain and its key, checking them the
 * way a handshake would need them (parseable, key matches, names covered), and the names each one
 * is served for. Used at config load (errors with file, key and fix), by the supervisor at start
 * and on every reload (a bad file is refused with its reason), never on the request path.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { CertificateFiles } from '../config/types.js';

/** A certificate ready to be handed to a worker: the PEM text itself, checked. */
export interface LoadedCertificate {
  certFile: string;
  keyFile: string;
  /** PEM chain, leaf first, exactly as read. */
  cert: string;
  /** PEM private key, exactly as read. */
  key: string;
  /** SNI names it is served for (exact or `*.domain`), lower-cased. */
  names: string[];
  /** SHA-256 of the leaf certificate (colon-separated hex, as openssl prints it). */
  fingerprint: string;
  /** SHA-256 of cert and key text together: equal means nothing to reload. */
  digest: string;
  /** Leaf validity end, ISO 8601. */
  notAfter: string;
  /** Leaf subject, one line. */
  subject: string;
}

export type CertificateCheck = { ok: true; certificate: LoadedCertificate; warnings: string[] } | { ok: false; file: string; reason: string };

const pemBlock = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

const fileReasons: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
};

function readText(file: string): { ok: true; text: string } | { ok: false; reason: string } {
  try {
    return { ok: true, text: readFileSync(file, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, reason: `cannot read it: ${(code && fileReasons[code]) ?? (err as Error).message}` };
  }
}

/** The names a certificate proves: its DNS subjectAltNames, else its CN (lower-cased). */
export function certificateNames(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (san) {
    const names: string[] = [];
    for (const part of san.split(/,\s*/)) {
      if (part.startsWith('DNS:')) names.push(part.slice(4).toLowerCase());
    }
    return names;
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1];
  return cn && /^[*a-z0-9.-]+$/i.test(cn) ? [cn.toLowerCase()] : [];
}

/** Whether a certificate name covers `name`: equal, or `*.rest` covering one label before `.rest`. */
export function nameCovers(certName: string, name: string): boolean {
  if (certName === name) return true;
  if (!certName.startsWith('*.') || name.startsWith('*.')) return false;
  const dot = name.indexOf('.');
  return dot > 0 && name.slice(dot) === certName.slice(1);
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/, '').trim();
}

/**
 * Check a certificate chain and key given as text. `names` (configured) must each be covered by
 * the certificate; null takes the certificate's own DNS names.
 */
export function checkCertificateText(files: CertificateFiles, cert: string, key: string): CertificateCheck {
  const blocks = cert.match(pemBlock);
  if (blocks === null) {
    return { ok: false, file: files.certFile, reason: 'has no PEM certificate (no "-----BEGIN CERTIFICATE-----" block)' };
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0]);
  } catch (err) {
    return { ok: false, file: files.certFile, reason: `its first certificate cannot be parsed: ${firstLine(err)}` };
  }
  for (let i = 1; i < blocks.length; i++) {
    try {
      new X509Certificate(blocks[i]!);
    } catch (err) {
      return { ok: false, file: files.certFile, reason: `certificate ${i + 1} of the chain cannot be parsed: ${firstLine(err)}` };
    }
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    const why = firstLine(err);
    return {
      ok: false,
      file: files.keyFile,
      reason: /passphrase|encrypted/i.test(why) || /ENCRYPTED/.test(key)
        ? 'the private key is encrypted; give an unencrypted PEM key (as certbot writes them)'
        : `is not a PEM private key: ${why}`,
    };
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    return { ok: false, file: files.keyFile, reason: `the key does not belong to the certificate in ${files.certFile} (${leaf.subject.replace(/\n/g, ', ')})` };
  }
  try {
    // What the TLS library itself would refuse (key too small for the security level, …).
    createSecureContext({ cert, key });
  } catch (err) {
    return { ok: false, file: files.certFile, reason: `the TLS library refuses the certificate and key: ${firstLine(err)}` };
  }

  const own = certificateNames(leaf);
  let names = own;
  if (files.names !== null) {
    for (const name of files.names) {
      if (!own.some((c) => nameCovers(c, name))) {
        return {
          ok: false,
          file: files.certFile,
          reason: `its certificate is not valid for "${name}" (it names ${own.length ? own.join(', ') : 'no DNS name'})`,
        };
      }
    }
    names = files.names;
  }
  const warnings: string[] = [];
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() < Date.now()) warnings.push(`the certificate expired on ${notAfter.toISOString()}`);
  else if (new Date(leaf.validFrom).getTime() > Date.now()) warnings.push(`the certificate is not valid before ${new Date(leaf.validFrom).toISOString()}`);
  return {
    ok: true,
    warnings,
    certificate: {
      certFile: files.certFile,
      keyFile: files.keyFile,
      cert,
      key,
      names,
      fingerprint: leaf.fingerprint256,
      digest: createHash('sha256').update(cert).update('\0').update(key).digest('hex'),
      notAfter: notAfter.toISOString(),
      subject: leaf.subject.replace(/\n/g, ', '),
    },
  };
}

/** Read and check one certificate's files. */
export function loadCertificate(files: CertificateFiles): CertificateCheck {
  const cert = readText(files.certFile);
  if (!cert.ok) return { ok: false, file: files.certFile, reason: cert.reason };
  const key = readText(files.keyFile);
  if (!key.ok) return { ok: false, file: files.keyFile, reason: key.reason };
  return checkCertificateText(files, cert.text, key.text);
}
