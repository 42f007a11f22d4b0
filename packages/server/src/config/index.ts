/** Configuration of the Portcullis server: YAML file + command line → one validated ServerConfig. */
export { parseArgs, usage, commandLineSource, type ParsedArgs } from './args.js';
export { ConfigError, formatIssue, type ConfigIssue } from './errors.js';
export { loadConfigFile, parseConfigText, resolveConfig, withDemoOrigin, type ParseOptions } from './load.js';
export {
  adminDefaults,
  commandLineUpstreamName,
  defaultListener,
  demoUpstreamName,
  http2Defaults,
  logLevels,
  redirectStatuses,
  serverDefaults,
  tlsDefaults,
  tlsVersions,
  type AdminConfig,
  type CertificateFiles,
  type HstsConfig,
  type Http2Config,
  type ListenerConfig,
  type ListenerTlsConfig,
  type LogLevel,
  type RedirectConfig,
  type ServerConfig,
  type TlsVersion,
} from './types.js';
