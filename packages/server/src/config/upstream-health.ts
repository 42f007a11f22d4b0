/**
 * The health keys of an upstream: `passive_health` (outlier detection from the requests
 * themselves; on by default) and `health_check` (active probes; off unless given). Defaults are the
 * core's (passiveHealthDefaults, healthCheckDefaults).
 */
import { healthCheckDefaults, passiveHealthDefaults, type HealthCheckOptions, type PassiveHealthOptions } from '@portcullis/core';
import { bad, describe, ok, type Checked } from './errors.js';
import { field, mapping, type KeyPath, type Raw, type SchemaContext } from './fields.js';
import { checkBoolean, checkDuration, checkDurationOrOff, checkHostHeader, checkInteger, formatDuration } from './values.js';

export const passiveHealthKeys = ['consecutive_failures', 'count_5xx', 'window', 'base_ejection_time', 'max_ejection_time', 'max_ejected_percent'] as const;
export const healthCheckKeys = ['path', 'interval', 'timeout', 'expect_status', 'rise', 'fall', 'host'] as const;

const isOff = (v: unknown): boolean => v === false || v === 'off';

/** `ctx` that counts what it reports: order rules are checked only between values read well. */
function counting(ctx: SchemaContext): { ctx: SchemaContext; problems: () => number } {
  let problems = 0;
  return {
    ctx: { ...ctx, report: (...args) => (problems++, ctx.report(...args)) },
    problems: () => problems,
  };
}

/**
 * Two durations that must come in order: `shorter` < `longer` (<= when `equal` is allowed). The
 * problem goes to the key that was written, to `blame` when both were.
 */
function checkOrder(
  ctx: SchemaContext,
  path: KeyPath,
  raw: Raw,
  shorter: { key: string; value: number },
  longer: { key: string; value: number },
  options: { equal: boolean; blame: 'shorter' | 'longer'; fix: string },
): void {
  if (longer.value > shorter.value || (options.equal && longer.value === shorter.value)) return;
  const name = (side: { key: string; value: number }): string => (side.key in raw ? side.key : `${side.key} (${formatDuration(side.value)}, the default)`);
  const atShorter = shorter.key in raw && (options.blame === 'shorter' || !(longer.key in raw));
  if (atShorter) {
    ctx.report([...path, shorter.key], `is ${options.equal ? 'longer than' : 'not shorter than'} ${name(longer)}`, options.fix);
  } else if (longer.key in raw) {
    ctx.report([...path, longer.key], `is ${options.equal ? 'shorter than' : 'not longer than'} ${name(shorter)}`, options.fix);
  }
}

/**
 * `passive_health`: a mapping, or `off`/`false` (consecutive_failures 0: never ejects), or `true`
 * (the defaults).
 */
export function buildPassiveHealth(outer: SchemaContext, path: KeyPath, value: unknown): PassiveHealthOptions {
  const { ctx, problems } = counting(outer);
  const d = passiveHealthDefaults;
  if (isOff(value)) return { ...d, consecutiveFailures: 0 };
  if (value === true || value === 'on') return { ...d };
  const raw = mapping(ctx, path, value, passiveHealthKeys, '"passive_health: { consecutive_failures: 5, base_ejection_time: 30s }", or off');
  if (!raw) return { ...d };
  const duration = (key: string, fallback: number, example: string): number =>
    field(ctx, raw, path, key, (v) => checkDuration(v, example), fallback, formatDuration(fallback));
  const health: PassiveHealthOptions = {
    consecutiveFailures: field(
      ctx,
      raw,
      path,
      'consecutive_failures',
      (v) => (isOff(v) ? ok(0) : checkInteger(v, 0, Infinity, `set it to how many failures in a row eject a server, e.g. ${d.consecutiveFailures}; 0 or off never ejects`)),
      d.consecutiveFailures,
      String(d.consecutiveFailures),
    ),
    count5xx: field(ctx, raw, path, 'count_5xx', (v) => checkBoolean(v, 'write false to count only connect failures, resets and timeouts as failures, else true'), d.count5xx, String(d.count5xx)),
    window: field(ctx, raw, path, 'window', (v) => checkDurationOrOff(v, '10s'), d.window, d.window === 0 ? 'off' : formatDuration(d.window)),
    baseEjectionTime: duration('base_ejection_time', d.baseEjectionTime, formatDuration(d.baseEjectionTime)),
    maxEjectionTime: duration('max_ejection_time', d.maxEjectionTime, formatDuration(d.maxEjectionTime)),
    maxEjectedPercent: field(
      ctx,
      raw,
      path,
      'max_ejected_percent',
      (v) => checkInteger(typeof v === 'string' ? v.replace(/%\s*$/, '') : v, 0, 100, `set it to the largest share of the upstream's servers ejected at once, in percent, e.g. ${d.maxEjectedPercent}`),
      d.maxEjectedPercent,
      String(d.maxEjectedPercent),
    ),
  };
  if (problems() === 0) {
    checkOrder(
      ctx,
      path,
      raw,
      { key: 'base_ejection_time', value: health.baseEjectionTime },
      { key: 'max_ejection_time', value: health.maxEjectionTime },
      { equal: true, blame: 'longer', fix: 'make max_ejection_time at least as long as base_ejection_time' },
    );
  }
  return health;
}

const statusFix = 'write a status such as 200, a class such as "2xx", a range such as "200-399", or a list of those';

/** One `expect_status` item: `200`, `"2xx"` or `"200-399"`, as an inclusive range. */
export function checkStatusRange(value: unknown): Checked<[number, number]> {
  const inRange = (n: number): boolean => Number.isInteger(n) && n >= 100 && n <= 599;
  if (typeof value === 'number') return inRange(value) ? ok([value, value]) : bad(`${value} is not an HTTP status (100 to 599)`, statusFix);
  if (typeof value !== 'string') return bad(`expected a status, got ${describe(value)}`, statusFix);
  const text = value.trim().toLowerCase();
  let range: [number, number] | undefined;
  const single = /^\d{3}$/.exec(text);
  const cls = /^([1-5])xx$/.exec(text);
  const span = /^(\d{3})\s*-\s*(\d{3})$/.exec(text);
  if (single) range = [Number(text), Number(text)];
  else if (cls) range = [Number(cls[1]) * 100, Number(cls[1]) * 100 + 99];
  else if (span) range = [Number(span[1]), Number(span[2])];
  if (range === undefined) return bad(`expected a status, got ${JSON.stringify(value)}`, statusFix);
  if (!inRange(range[0]) || !inRange(range[1])) return bad(`${JSON.stringify(value)} is not an HTTP status (100 to 599)`, statusFix);
  if (range[0] > range[1]) return bad(`${JSON.stringify(value)} runs backwards`, `write "${range[1]}-${range[0]}"`);
  return ok(range);
}

function checkProbePath(value: unknown): Checked<string> {
  const fix = 'write the path of the health endpoint, starting with "/", e.g. "/healthz"';
  if (typeof value !== 'string') return bad(`expected a path, got ${describe(value)}`, fix);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return bad(`${JSON.stringify(value)} is a URL; the probe goes to each server of the upstream`, `${fix}, and "host" for its Host header`);
  if (!value.startsWith('/')) return bad(`${JSON.stringify(value)} does not start with "/"`, `write "/${value.replace(/^\/*/, '')}"`);
  if (/[\s\x00-\x1f\x7f]/.test(value) || /[^\x21-\x7e]/.test(value)) return bad(`${JSON.stringify(value)} has spaces or characters that are not allowed in a request target`, 'percent-encode them, e.g. "%20" for a space');
  return ok(value);
}

/**
 * `health_check`: a mapping, a path alone (`health_check: /healthz`), or `off`/`false` (none, the
 * default). Undefined when off or unusable.
 */
export function buildHealthCheck(outer: SchemaContext, path: KeyPath, value: unknown): HealthCheckOptions | undefined {
  const { ctx, problems } = counting(outer);
  const d = healthCheckDefaults;
  if (isOff(value)) return undefined;
  if (value === true || value === 'on') return { ...d, expectStatus: d.expectStatus.map(([a, b]) => [a, b]) };
  if (typeof value === 'string') {
    const checked = checkProbePath(value);
    if (!checked.ok) return void ctx.report(path, checked.problem, checked.fix);
    return { ...d, path: checked.value, expectStatus: d.expectStatus.map(([a, b]) => [a, b]) };
  }
  const raw = mapping(ctx, path, value, healthCheckKeys, '"health_check: { path: /healthz, interval: 5s }", or a path alone');
  if (!raw) return undefined;
  const duration = (key: string, fallback: number): number =>
    field(ctx, raw, path, key, (v) => checkDuration(v, formatDuration(fallback)), fallback, formatDuration(fallback));
  const count = (key: string, fallback: number, fix: string): number => field(ctx, raw, path, key, (v) => checkInteger(v, 1, 1000, fix), fallback, String(fallback));
  const check: HealthCheckOptions = {
    path: field(ctx, raw, path, 'path', checkProbePath, d.path, d.path),
    interval: duration('interval', d.interval),
    timeout: duration('timeout', d.timeout),
    expectStatus: d.expectStatus.map(([a, b]) => [a, b]),
    rise: count('rise', d.rise, `set it to how many passing probes in a row bring a server back, e.g. ${d.rise}`),
    fall: count('fall', d.fall, `set it to how many failing probes in a row take a server out, e.g. ${d.fall}`),
  };
  const statuses = raw['expect_status'];
  if ('expect_status' in raw && statuses === null) {
    ctx.report([...path, 'expect_status'], 'has no value', `give it a value, or remove the key to use the default ("${d.expectStatus.map(([a, b]) => (a === b ? a : `${a}-${b}`)).join(', ')}")`);
  } else if (Array.isArray(statuses)) {
    if (statuses.length === 0) ctx.report([...path, 'expect_status'], 'lists no status, so every probe would fail', statusFix);
    const ranges: Array<[number, number]> = [];
    statuses.forEach((item, i) => {
      const checked = checkStatusRange(item);
      if (checked.ok) ranges.push(checked.value);
      else ctx.report([...path, 'expect_status', i], checked.problem, checked.fix);
    });
    if (ranges.length > 0) check.expectStatus = ranges;
  } else if (statuses !== undefined) {
    const checked = checkStatusRange(statuses);
    if (checked.ok) check.expectStatus = [checked.value];
    else ctx.report([...path, 'expect_status'], checked.problem, checked.fix);
  }
  const host = field<string | undefined>(ctx, raw, path, 'host', checkHostHeader, undefined, "the server's host:port");
  if (host !== undefined) check.host = host;
  if (problems() === 0) {
    checkOrder(
      ctx,
      path,
      raw,
      { key: 'timeout', value: check.timeout },
      { key: 'interval', value: check.interval },
      { equal: false, blame: 'shorter', fix: 'make timeout shorter than interval, so that one probe ends before the next begins' },
    );
  }
  return check;
}
