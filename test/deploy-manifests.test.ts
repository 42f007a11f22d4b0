/**
 * deploy/ without a cluster or a Docker daemon: every Kubernetes manifest parsed and validated
 * against the Kubernetes 1.34 schemas that kubernetes-models bundles (and the ServiceMonitor
 * against the prometheus-operator CRD's, @kubernetes-models/prometheus-operator), with unknown
 * keys rejected by type-checking each document against the same package's interfaces (its
 * validators, like the API's OpenAPI schemas, allow extra keys; TypeScript's excess-property check
 * does not; TypeScript reports the first wrong key of each document, so fixing one may show the
 * next); the configuration in the ConfigMap and the systemd one through `portcullis check`;
 * the grace periods above drain_delay + shutdown_timeout; the Dockerfile's COPY sources, user,
 * STOPSIGNAL, HEALTHCHECK and start command; the systemd unit's reload, stop and hardening; and
 * the admin client the probes run, against a token-guarded endpoint. Each checker is also shown a
 * broken manifest and must refuse it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import ts from 'typescript';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import * as k8sCore from 'kubernetes-models/v1';
import * as k8sApps from 'kubernetes-models/apps/v1';
import * as k8sPolicy from 'kubernetes-models/policy/v1';
import * as k8sAutoscaling from 'kubernetes-models/autoscaling/v2';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const run = promisify(execFile);
const TEST_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = join(TEST_DIR, '..');
const DEPLOY = join(ROOT, 'deploy');
const CLI = join(ROOT, 'packages/server/dist/cli.js');

type Obj = Record<string, any>;

interface Manifest {
  file: string; // relative to the repository
  index: number; // document in the file
  doc: Obj;
}

/** What validates a kind: the model class (runtime, JSON schema) and its TypeScript interface. */
interface Kind {
  model: { new (data: any): { validate(): void } };
  module: string;
  type: string;
}

const KINDS: Record<string, Kind> = {
  'v1/ConfigMap': { model: k8sCore.ConfigMap, module: 'kubernetes-models/v1', type: 'IConfigMap' },
  'v1/Service': { model: k8sCore.Service, module: 'kubernetes-models/v1', type: 'IService' },
  'v1/Secret': { model: k8sCore.Secret, module: 'kubernetes-models/v1', type: 'ISecret' },
  'apps/v1/Deployment': { model: k8sApps.Deployment, module: 'kubernetes-models/apps/v1', type: 'IDeployment' },
  'policy/v1/PodDisruptionBudget': { model: k8sPolicy.PodDisruptionBudget, module: 'kubernetes-models/policy/v1', type: 'IPodDisruptionBudget' },
  'autoscaling/v2/HorizontalPodAutoscaler': { model: k8sAutoscaling.HorizontalPodAutoscaler, module: 'kubernetes-models/autoscaling/v2', type: 'IHorizontalPodAutoscaler' },
  'monitoring.coreos.com/v1/ServiceMonitor': { model: monitoring.ServiceMonitor, module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1', type: 'IServiceMonitor' },
};

const kindOf = (doc: Obj): string => `${doc.apiVersion}/${doc.kind}`;

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(name)) out.push(path);
  }
  return out;
}

function loadManifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const path of yamlFiles(join(DEPLOY, 'kubernetes'))) {
    const file = relative(ROOT, path);
    parseAllDocuments(readFileSync(path, 'utf8')).forEach((d, index) => {
      if (d.errors.length > 0) throw new Error(`${file} document ${index}: ${d.errors.map((e) => e.message).join('; ')}`);
      const doc = d.toJS({ maxAliasCount: 0 }) as Obj | null;
      if (doc !== null) out.push({ file, index, doc });
    });
  }
  return out;
}

/** Problems of the JSON-schema validation (types, enums, required fields, formats). */
function schemaProblems(m: Manifest): string[] {
  const kind = KINDS[kindOf(m.doc)];
  if (kind === undefined) return [`${kindOf(m.doc)}: no schema known to this test (add it to KINDS)`];
  try {
    new kind.model(m.doc).validate();
    return [];
  } catch (err) {
    return [err instanceof Error ? err.message : String(err)];
  }
}

/**
 * Unknown keys (and wrong types) anywhere in each document: the document as an object literal
 * typed with the package's interface, type-checked in memory. One program for all documents.
 */
function strictProblems(manifests: Manifest[]): Map<Manifest, string[]> {
  const sources = new Map<string, { text: string; manifest: Manifest }>();
  manifests.forEach((m, i) => {
    const kind = KINDS[kindOf(m.doc)];
    if (kind === undefined) return;
    const text = `import type { ${kind.type} } from '${kind.module}';\nexport const doc: ${kind.type} = ${JSON.stringify(m.doc, null, 2)};\n`;
    sources.set(join(TEST_DIR, `__deploy_manifest_${i}.ts`), { text, manifest: m });
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, lang, onError, create) => {
    const own = sources.get(name);
    return own !== undefined ? ts.createSourceFile(name, own.text, lang, true) : getSourceFile.call(host, name, lang, onError, create);
  };
  host.fileExists = (name) => sources.has(name) || fileExists.call(host, name);
  host.readFile = (name) => sources.get(name)?.text ?? readFile.call(host, name);
  const program = ts.createProgram([...sources.keys()], options, host);
  const out = new Map<Manifest, string[]>(manifests.map((m) => [m, []]));
  for (const [name, { manifest }] of sources) {
    const source = program.getSourceFile(name)!;
    for (const d of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
      const where = d.start === undefined ? '' : (() => {
        // The key the error points at, as a path from the document's root.
        const { line } = source.getLineAndCharacterOfPosition(d.start);
        return ` (line ${line - 1} of the document as JSON: ${source.text.split('\n')[line]?.trim()})`;
      })();
      out.get(manifest)!.push(ts.flattenDiagnosticMessageText(d.messageText, '\n') + where);
    }
  }
  return out;
}

/** A Portcullis duration ("500ms", "4s", "1m30s", or a number of ms) in milliseconds. */
function ms(value: unknown, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'number') return value;
  const text = String(value).trim();
  let total = 0;
  let rest = text;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!m) throw new Error(`not a duration: ${text}`);
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** drain_delay + shutdown_timeout of a configuration, with the README's defaults (0 s, 10 s). */
const stopBudget = (config: Obj): number => ms(config.drain_delay, 0) + ms(config.shutdown_timeout, 10_000);

const portOf = (address: string): number => Number(/:(\d+)$/.exec(address)![1]);

/** `portcullis check --config FILE`: exit code and output. */
async function check(file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'check', '--config', file], { timeout: 20_000 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const manifests = loadManifests();
const byKind = (kind: string): Manifest[] => manifests.filter((m) => m.doc.kind === kind);
const one = (kind: string): Obj => {
  const found = byKind(kind);
  if (found.length !== 1) throw new Error(`expected one ${kind} in deploy/kubernetes, found ${found.length}`);
  return found[0]!.doc;
};

t.test('every manifest parses and is one of the kinds a deployment needs', async (t) => {
  t.ok(manifests.length >= 6, `${manifests.length} documents`);
  for (const kind of ['Deployment', 'Service', 'ConfigMap', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'ServiceMonitor']) {
    t.ok(byKind(kind).length >= 1, `a ${kind}`);
  }
  for (const m of manifests) t.ok(KINDS[kindOf(m.doc)], `${m.file}#${m.index}: ${kindOf(m.doc)} has a schema`);
});

t.test('every manifest is valid against the Kubernetes schemas (kubernetes-models)', async (t) => {
  for (const m of manifests) t.same(schemaProblems(m), [], `${m.file}#${m.index} ${m.doc.kind} ${m.doc.metadata?.name}`);
});

t.test('no manifest has a key its schema does not know', async (t) => {
  const problems = strictProblems(manifests);
  for (const m of manifests) t.same(problems.get(m), [], `${m.file}#${m.index} ${m.doc.kind} ${m.doc.metadata?.name}`);
});

t.test('the checkers refuse broken manifests', async (t) => {
  const deployment = byKind('Deployment')[0]!;
  const clone = (): Obj => structuredClone(deployment.doc);
  // An unknown key deep inside (a typo of readinessProbe's field) passes the JSON schema but not
  // the strict check; a wrong type fails both.
  const typo = clone();
  typo.spec.template.spec.containers[0].readinessProbe.periodSecond = 5;
  const unknownTop = clone();
  unknownTop.spec.replica = 3;
  const wrongType = clone();
  wrongType.spec.template.spec.terminationGracePeriodSeconds = 'forty-five';
  const missing = clone();
  delete missing.spec.template.spec.containers[0].name;
  const broken = [typo, unknownTop, wrongType, missing].map((doc, index) => ({ file: 'mutated', index, doc }));
  const strict = strictProblems(broken);
  t.match(strict.get(broken[0]!)!.join('\n'), /periodSecond/, 'strict check names the unknown key in a probe');
  t.match(strict.get(broken[1]!)!.join('\n'), /replica\b/, 'strict check names an unknown key of the spec');
  t.ok(strict.get(broken[2]!)!.length > 0, 'strict check refuses a wrong type');
  t.not(schemaProblems(broken[2]!).length, 0, 'the schema refuses a wrong type');
  t.not(schemaProblems(broken[3]!).length, 0, 'the schema refuses a container without its required name');
  const badMonitor = structuredClone(one('ServiceMonitor'));
  badMonitor.spec.endpoints[0].bearerTokenFiel = '/x';
  const monitorDoc = { file: 'mutated', index: 9, doc: badMonitor };
  t.match(strictProblems([monitorDoc]).get(monitorDoc)!.join('\n'), /bearerTokenFiel/, 'and an unknown key of a ServiceMonitor endpoint');
});

// The configuration inside the ConfigMap, and the files it names, in a temporary directory.
const configMap = one('ConfigMap');
const configText: string = configMap.data['portcullis.yaml'];
const config = parseYaml(configText) as Obj;

t.test('the ConfigMap\'s configuration passes `portcullis check`', async (t) => {
  t.ok(existsSync(CLI), 'packages/server is built');
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-deploy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'portcullis.yaml');
  writeFileSync(file, configText);
  if (config.admin?.token_file) writeFileSync(join(dir, config.admin.token_file), 'test-token-0123456789abcdef\n');
  const result = await check(file);
  t.equal(result.code, 0, `exit 0:\n${result.output}`);
  t.match(result.output, /is valid/);
  // The same file with a key misspelt must fail: the check really reads what the ConfigMap holds.
  writeFileSync(file, `${configText}\ndrain_dealy: 1s\n`);
  const bad = await check(file);
  t.not(bad.code, 0, 'a misspelt key fails the check');
});

t.test('the Deployment fits the configuration it mounts', async (t) => {
  const deployment = one('Deployment');
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c: Obj) => c.name === 'portcullis') ?? pod.containers[0];

  const budget = stopBudget(config);
  t.ok(pod.terminationGracePeriodSeconds * 1000 > budget, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} s > drain_delay + shutdown_timeout ${budget / 1000} s`);
  if (ms(config.drain_delay, 0) === 0) t.ok(container.lifecycle?.preStop, 'without drain_delay a preStop sleep must wait out endpoint propagation');
  else t.ok(ms(config.drain_delay, 0) >= 5000, 'drain_delay waits out endpoint propagation (at least 5 s)');

  // The command: the image's entrypoint (portcullis) with the mounted file.
  t.same(container.args, ['--config', '/etc/portcullis/portcullis.yaml']);
  t.notOk(container.command, 'the image\'s ENTRYPOINT (portcullis) is kept');
  const mount = container.volumeMounts.find((v: Obj) => v.mountPath === '/etc/portcullis');
  t.ok(mount, 'a volume mounted at /etc/portcullis');
  const volume = pod.volumes.find((v: Obj) => v.name === mount.name);
  const sources: Obj[] = volume.projected?.sources ?? [{ configMap: volume.configMap }, ...(volume.secret ? [{ secret: volume.secret }] : [])];
  const fromConfigMap = sources.find((s) => s.configMap)?.configMap;
  t.equal(fromConfigMap?.name, configMap.metadata.name, 'the ConfigMap is what is mounted');
  const paths = sources.flatMap((s) => (s.configMap ?? s.secret).items?.map((i: Obj) => i.path) ?? []);
  t.ok(paths.includes('portcullis.yaml'), 'portcullis.yaml in the mount');
  if (config.admin?.token_file) {
    const secret = sources.find((s) => s.secret)?.secret;
    t.ok(secret?.items?.some((i: Obj) => i.path === config.admin.token_file), `the token file ${config.admin.token_file} comes from a Secret in the same directory`);
  }

  // Ports, probes, resources and security.
  const ports = Object.fromEntries(container.ports.map((p: Obj) => [p.name, p.containerPort]));
  t.same(
    config.listen.map((l: string | Obj) => portOf(typeof l === 'string' ? l : l.address)),
    [ports.http],
    'the container port "http" is the listener\'s',
  );
  t.equal(ports.admin, portOf(config.admin.listen), 'the container port "admin" is the admin endpoint\'s');
  const probePath = (probe: Obj): string => probe.httpGet?.path ?? probe.exec?.command?.find((a: string) => a.startsWith('/') && !a.endsWith('.mjs'));
  t.equal(probePath(container.livenessProbe), '/live', 'liveness on /live');
  t.equal(probePath(container.readinessProbe), '/ready', 'readiness on /ready');
  for (const probe of [container.livenessProbe, container.readinessProbe]) {
    // /live and /ready are open (no token), so plain httpGet probes on the admin port.
    t.equal(probe.httpGet?.port, 'admin', 'an httpGet probe on the admin port');
  }
  t.ok(container.resources?.requests?.cpu && container.resources?.requests?.memory, 'CPU and memory requested');
  t.ok(container.resources?.limits?.memory, 'a memory limit');
  t.equal(Number(container.resources.requests.cpu), config.workers, 'one worker per requested CPU (workers is never "auto" in a pod)');
  const security = { ...pod.securityContext, ...container.securityContext };
  t.equal(security.runAsNonRoot, true, 'runAsNonRoot');
  t.ok(security.runAsUser > 0, 'a non-root uid');
  t.equal(security.readOnlyRootFilesystem, true, 'readOnlyRootFilesystem');
  t.equal(security.allowPrivilegeEscalation, false, 'no privilege escalation');

  // Prometheus annotations point at the admin port.
  const annotations = deployment.spec.template.metadata.annotations ?? {};
  t.equal(annotations['prometheus.io/port'], String(ports.admin));
  t.equal(annotations['prometheus.io/path'], '/metrics');
});

t.test('Service, PodDisruptionBudget, HorizontalPodAutoscaler and ServiceMonitor select the Deployment', async (t) => {
  const deployment = one('Deployment');
  const podLabels: Obj = deployment.spec.template.metadata.labels;
  const containerPorts: Obj[] = deployment.spec.template.spec.containers.flatMap((c: Obj) => c.ports);
  const selects = (selector: Obj): boolean => Object.entries(selector).every(([k, v]) => podLabels[k] === v);
  t.ok(selects(deployment.spec.selector.matchLabels), 'the Deployment selects its own pods');
  const services = byKind('Service').map((m) => m.doc);
  for (const s of services) {
    t.ok(selects(s.spec.selector), `Service ${s.metadata.name} selects the pods`);
    for (const p of s.spec.ports) {
      t.ok(containerPorts.some((c) => c.name === p.targetPort || c.containerPort === p.targetPort), `Service ${s.metadata.name} port ${p.name} targets a container port`);
    }
  }
  t.ok(selects(one('PodDisruptionBudget').spec.selector.matchLabels), 'the PDB selects the pods');
  const target = one('HorizontalPodAutoscaler').spec.scaleTargetRef;
  t.same([target.kind, target.name], ['Deployment', deployment.metadata.name], 'the HPA scales the Deployment');
  t.notOk(deployment.spec.replicas, 'replicas left to the HPA');
  const monitor = one('ServiceMonitor');
  const scraped = services.filter((s) => Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v));
  t.equal(scraped.length, 1, 'the ServiceMonitor selects one Service');
  for (const e of monitor.spec.endpoints) t.ok(scraped[0]?.spec.ports.some((p: Obj) => p.name === e.port), `its endpoint port ${e.port} is that Service's`);
  const token = deployment.spec.template.spec.volumes.flatMap((v: Obj) => v.projected?.sources ?? []).find((s: Obj) => s.secret)?.secret;
  if (token) t.equal(monitor.spec.endpoints[0].authorization?.credentials?.name, token.name, 'the ServiceMonitor sends the token the pods read');
});

/** The Dockerfile's instructions: continuation lines joined, comments dropped. */
function dockerInstructions(text: string): { op: string; args: string; stage: number }[] {
  const out: { op: string; args: string; stage: number }[] = [];
  let stage = -1;
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (current !== '' && line.startsWith('#')) continue;
    current += (current ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) continue;
    const m = /^(\w+)\s+([\s\S]*)$/.exec(current)!;
    const op = m[1]!.toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: m[2]!.trim(), stage });
    current = '';
  }
  return out;
}

const execForm = (args: string): string[] => JSON.parse(args) as string[];

t.test('the Dockerfile', async (t) => {
  const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
  const ins = dockerInstructions(text);
  const froms = ins.filter((i) => i.op === 'FROM');
  t.ok(froms.length >= 2, 'multi-stage');
  const last = froms.length - 1;
  const finalImage = froms[last]!.args.split(/\s+/)[0]!;
  t.match(finalImage, /^node:20-.*slim$/, 'a slim Node 20 runtime');
  t.notMatch(finalImage, /alpine/, 'glibc, not musl (uWebSockets.js)');
  const stages = froms.map((f) => /\bAS\s+(\S+)/i.exec(f.args)?.[1]);

  // COPY sources exist in the build context (the repository root) and are not ignored.
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const c of ins.filter((i) => i.op === 'COPY' || i.op === 'ADD')) {
    const words = c.args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    if (from !== undefined) {
      t.ok(stages.includes(from), `COPY --from=${from} names a stage`);
      continue;
    }
    for (const src of paths.slice(0, -1)) {
      t.ok(existsSync(join(ROOT, src)), `COPY source ${src} exists`);
      t.notOk(ignore.some((p) => p === src || p === src.replace(/\/$/, '')), `COPY source ${src} is not in .dockerignore`);
    }
  }
  for (const needed of ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', 'packages', 'tsconfig.base.json']) {
    t.notOk(ignore.some((p) => p === needed || p === `${needed}/`), `${needed} stays in the build context`);
  }
  t.ok(ignore.some((p) => /node_modules/.test(p)), '.dockerignore keeps node_modules out');
  t.match(ins.filter((i) => i.op === 'RUN' && i.stage < last).map((i) => i.args).join('\n'), /npx -y pnpm@12\.4\.2 install --frozen-lockfile/, 'installs as CI does');

  const final = ins.filter((i) => i.stage === last);
  const opOf = (op: string) => final.filter((i) => i.op === op).map((i) => i.args);
  const user = opOf('USER').at(-1);
  t.ok(user, 'USER in the runtime stage');
  t.notMatch(user ?? 'root', /^(root|0)(:|$)/, 'not root');
  t.match(user ?? '', /^\d+(:\d+)?$/, 'numeric, so that runAsNonRoot can verify it');
  t.equal(opOf('STOPSIGNAL').at(-1), 'SIGTERM');
  const health = opOf('HEALTHCHECK').at(-1) ?? '';
  t.match(health, /\/live\b/, 'HEALTHCHECK on /live');
  t.notMatch(health, /\bcurl\b|\bwget\b/, 'fetched with node (the slim image has neither curl nor wget)');
  const healthCmd = execForm(health.slice(health.indexOf('CMD') + 3).trim());
  const script = healthCmd.find((a) => a.endsWith('.mjs'));
  t.ok(script && final.some((i) => i.op === 'COPY' && i.args.endsWith(script)), `the health check's script ${script} is copied into the image`);
  const exposed = opOf('EXPOSE').join(' ').split(/\s+/).map(Number);
  t.ok(exposed.includes(portOf(config.listen[0])) && exposed.includes(portOf(config.admin.listen)), 'EXPOSE the ConfigMap\'s listener and admin ports');

  // The start command is the README's: the portcullis bin with the mounted configuration.
  const start = [...execForm(opOf('ENTRYPOINT').at(-1) ?? '[]'), ...execForm(opOf('CMD').at(-1) ?? '[]')];
  t.same(start, ['portcullis', '--config', '/etc/portcullis/portcullis.yaml']);
  const bin = (JSON.parse(readFileSync(join(ROOT, 'packages/server/package.json'), 'utf8')) as Obj).bin;
  t.ok(bin?.portcullis, 'portcullis is a bin of @portcullis/server');
  t.match(opOf('RUN').join('\n'), new RegExp(`ln -s /app/${bin.portcullis.replace(/^\.\//, '')} /usr/local/bin/portcullis`), 'the image\'s portcullis is that bin');
  t.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /portcullis --config /, 'the README starts it the same way');
  t.match(ins.filter((i) => i.op === 'RUN' && i.stage < last).map((i) => i.args).join('\n'), /--filter @portcullis\/server deploy --prod \/out/, 'the runtime gets production dependencies only');
});

/** A systemd unit's [Service] settings (the last value of each key; ExecStartPre may repeat). */
function unitSettings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1]!;
      continue;
    }
    const eq = line.indexOf('=');
    const key = `${section}.${line.slice(0, eq).trim()}`;
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return out;
}

/** A systemd time span ("40", "40s", "1min 30s") in milliseconds. */
function systemdMs(value: string): number {
  let total = 0;
  for (const [, n, u] of value.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?/g)) {
    total += Number(n) * ({ ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000 } as Record<string, number>)[u ?? 's']!;
  }
  return total;
}

t.test('the systemd unit', async (t) => {
  const unit = unitSettings(readFileSync(join(DEPLOY, 'systemd/portcullis.service'), 'utf8'));
  const get = (key: string): string | undefined => unit.get(`Service.${key}`)?.at(-1);
  const execStart = get('ExecStart') ?? '';
  const argv = execStart.split(/\s+/);
  t.match(argv[1] ?? '', /\/bin\/portcullis\.js$/, 'ExecStart runs the portcullis bin');
  const configPath = argv[argv.indexOf('--config') + 1];
  t.equal(configPath, '/etc/portcullis/portcullis.yaml');
  t.equal(get('ExecReload'), '/bin/kill -HUP $MAINPID', 'reload is SIGHUP');
  t.equal(get('KillSignal'), 'SIGTERM');
  t.equal(get('KillMode'), 'mixed', 'SIGTERM to the supervisor alone: it drains, then stops its workers');
  t.equal(get('Restart'), 'on-failure');
  for (const [key, value] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'], ['CapabilityBoundingSet', 'CAP_NET_BIND_SERVICE'], ['AmbientCapabilities', 'CAP_NET_BIND_SERVICE']]) {
    t.equal(get(key!), value, `${key}=${value}`);
  }
  t.ok(get('DynamicUser') === 'yes' || (get('User') && get('User') !== 'root'), 'not root');
  t.ok(Number(get('LimitNOFILE')) >= 65536, 'LimitNOFILE');

  // The configuration it points at is deploy/systemd/portcullis.yaml, installed there.
  const configFile = join(DEPLOY, 'systemd/portcullis.yaml');
  const hostConfig = parseYaml(readFileSync(configFile, 'utf8')) as Obj;
  const budget = stopBudget(hostConfig);
  const timeout = systemdMs(get('TimeoutStopSec') ?? '0');
  t.ok(timeout > budget, `TimeoutStopSec ${timeout / 1000} s > drain_delay + shutdown_timeout ${budget / 1000} s`);
  const result = await check(configFile);
  t.equal(result.code, 0, `its configuration passes portcullis check:\n${result.output}`);
});

t.test('the admin client the probes run sends the token and reports the status', async (t) => {
  const token = 'probe-token-42';
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401).end('unauthorized\n');
      return;
    }
    if (req.method === 'POST' && req.url === '/reload') res.writeHead(200).end('{"ok":true}\n');
    else if (req.url === '/live') res.writeHead(200).end('live\n');
    else res.writeHead(503).end('not ready: stopping\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-probe-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'admin.token'), `${token}\n`);
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const probe = async (tokenFile: string, ...args: string[]): Promise<number> => {
    try {
      await run(process.execPath, [join(DEPLOY, 'admin.mjs'), ...args], { env: { ...process.env, PORTCULLIS_ADMIN_URL: url, PORTCULLIS_ADMIN_TOKEN_FILE: tokenFile }, timeout: 10_000 });
      return 0;
    } catch (err) {
      return (err as { code: number }).code;
    }
  };
  t.equal(await probe(join(dir, 'admin.token'), '/live'), 0, '/live with the token: 0');
  t.equal(await probe(join(dir, 'admin.token'), '/ready'), 1, '/ready answering 503: 1');
  t.equal(await probe(join(dir, 'absent.token'), '/status'), 1, 'without the token (401): 1');
  t.equal(await probe(join(dir, 'admin.token'), 'POST', '/reload'), 0, 'POST /reload: 0');
  t.equal(await probe(join(dir, 'admin.token'), 'live'), 2, 'a path without "/": usage error');
});
