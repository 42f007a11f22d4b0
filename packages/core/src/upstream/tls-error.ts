/**
 * What went wrong on a TLS socket to an upstream, in words an operator can act on: certificate
 * verification failures say why the certificate was refused and what to configure; other TLS
 * failures (alerts, protocol) keep OpenSSL's reason. Plain socket errors are left to the caller.
 */

/** Codes of certificate verification failures (OpenSSL X509_V_ERR_* names and Node's own). */
const verification = /^(ERR_TLS_CERT_ALTNAME_INVALID|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_EXCEEDED|ERROR_IN_CERT_)/;

/** OpenSSL's reason from a message such as "…:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:…". */
function opensslReason(message: string): string {
  const m = /SSL routines:[^:]*:([^:]+)/.exec(message);
  return (m ? m[1]! : message.split('\n')[0]!).trim();
}

/** A message for `e` raised by a TLS socket to an upstream, or null when it is not about TLS. */
export function describeTlsError(e: NodeJS.ErrnoException): string | null {
  const code = e.code ?? '';
  if (verification.test(code)) {
    const hint = code === 'ERR_TLS_CERT_ALTNAME_INVALID'
      ? 'set tls.server_name to a name the certificate has'
      : 'give the CA that signed it in tls.ca, or tls.verify: false for a self-signed upstream';
    return `upstream TLS certificate refused: ${e.message.split('\n')[0]} (${code}); ${hint}`;
  }
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code.startsWith('ERR_OSSL_') || /SSL routines/.test(e.message)) {
    return `upstream TLS handshake failed: ${opensslReason(e.message)}${code ? ` (${code})` : ''}`;
  }
  return null;
}
