/**
 * The supervisor's view of the TLS listeners' certificates: loaded once at start, read again on
 * SIGHUP or when their files change. The supervisor checks each file once and hands the PEM text
 * to every worker, so all workers switch to the same, already checked, certificates.
 *
 * A certificate whose new files are broken (unreadable, not PEM, key not matching, names not
 * covered) is refused with a log line naming the file and the reason; the one in use is kept.
 */
import { watch, realpathSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { formatHostPort } from '@portcullis/core';
import type { ListenerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { loadCertificate, type LoadedCertificate } from './certificates.js';

/** Certificates of each listener, by index in the config's listeners (null for plain ones). */
export type TlsMaterial = (LoadedCertificate[] | null)[];

function label(listener: ListenerConfig, index: number): string {
  return `listen[${index}] ${formatHostPort(listener.host, listener.port)}`;
}

export class CertificateStore {
  material: TlsMaterial;

  constructor(
    private readonly listeners: readonly ListenerConfig[],
    private readonly log: Logger,
  ) {
    this.material = listeners.map(() => null);
  }

  get empty(): boolean {
    return this.listeners.every((l) => !l.tls);
  }

  /**
   * Load every certificate (at start).
   * @throws Error naming the file and the reason.
   */
  loadAll(): void {
    this.listeners.forEach((l, i) => {
      if (!l.tls) return;
      this.material[i] = l.tls.certificates.map((files) => {
        const r = loadCertificate(files);
        if (!r.ok) throw new Error(`${label(l, i)}: ${r.file} ${r.reason}`);
        for (const w of r.warnings) this.log.warn({ listener: label(l, i), cert: files.certFile }, w);
        return r.certificate;
      });
    });
  }

  /**
   * Read every certificate again; keep the ones in use where the new files are refused.
   * @returns whether any certificate changed.
   */
  reload(): boolean {
    let changed = false;
    this.listeners.forEach((l, i) => {
      const current = this.material[i];
      if (!l.tls || !current) return;
      const next = current.slice();
      l.tls.certificates.forEach((files, j) => {
        const r = loadCertificate(files);
        const where = { listener: label(l, i), cert: files.certFile, key: files.keyFile };
        if (!r.ok) {
          this.log.error({ ...where, file: r.file, reason: r.reason, kept: current[j]!.fingerprint }, `certificate reload refused: ${r.file} ${r.reason}; keeping the certificate in use`);
          return;
        }
        if (r.certificate.digest === current[j]!.digest) return;
        const clash = next.find((other, k) => k !== j && other.names.some((n) => r.certificate.names.includes(n)));
        if (clash) {
          const name = clash.names.find((n) => r.certificate.names.includes(n));
          this.log.error({ ...where, reason: `it now names "${name}", which ${clash.certFile} serves` }, 'certificate reload refused: two certificates would serve one name; keeping the certificate in use');
          return;
        }
        for (const w of r.warnings) this.log.warn(where, w);
        next[j] = r.certificate;
        changed = true;
        this.log.info({ ...where, names: r.certificate.names, notAfter: r.certificate.notAfter, fingerprint: r.certificate.fingerprint }, 'certificate loaded');
      });
      this.material[i] = next;
    });
    return changed;
  }

  /** The files to watch: of listeners with `watch` on. */
  watchedFiles(): string[] {
    const files = new Set<string>();
    for (const l of this.listeners) {
      if (!l.tls?.watch) continue;
      for (const c of l.tls.certificates) {
        files.add(c.certFile);
        files.add(c.keyFile);
      }
    }
    return [...files];
  }
}

/**
 * Call `onChange` (debounced) when any of `files` changes. Directories are watched, not the files,
 * so that replacing a file (an editor's rename, certbot's symlink switch in live/) is seen; a
 * symlinked file's target directory is watched too. `refresh()` re-resolves symlinks after a change.
 */
export class FileWatcher {
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly files: readonly string[],
    private readonly onChange: () => void,
    private readonly log: Logger,
    private readonly debounceMs = 300,
  ) {
    this.refresh();
  }

  refresh(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.closed) return;
    const byDir = new Map<string, Set<string>>();
    const add = (path: string): void => {
      const dir = dirname(path);
      let names = byDir.get(dir);
      if (!names) byDir.set(dir, (names = new Set()));
      names.add(basename(path));
    };
    for (const file of this.files) {
      add(file);
      try {
        const real = realpathSync(file);
        if (real !== file) add(real);
      } catch {
        // Missing right now (being replaced): the directory watch sees it come back.
      }
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (name === null || names.has(name.toString())) this.changed();
        });
        w.on('error', (err) => this.log.warn({ dir, err: err.message }, 'certificate directory watch failed; SIGHUP still reloads'));
        this.watchers.push(w);
      } catch (err) {
        this.log.warn({ dir, err: (err as Error).message }, 'cannot watch the certificate directory; SIGHUP still reloads');
      }
    }
  }

  private changed(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onChange();
      this.refresh();
    }, this.debounceMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}
