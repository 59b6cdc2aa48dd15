/**
 * Router configuration: a JSON or YAML file, then environment variables, then flags (later wins).
 *
 *   # router.yaml
 *   port: 4000
 *   host: 0.0.0.0
 *   gateway: { baseURL: https://gateway.example/v1, apiKeyEnv: GATEWAY_API_KEY }
 *   targets:
 *     chat-default:
 *       blue: { model: gpt-4.1 }                      # served 100 % while there is no rollout
 *     support:
 *       blue: { model: claude-sonnet-4.5, baseURL: https://other.example/v1, apiKeyEnv: OTHER_API_KEY }
 *   pollIntervalMs: 300          # ratio read per target
 *   staleAfterSeconds: 5         # /healthz says stale after this long without a good read
 *   reportIntervalSeconds: 5     # one liveMetrics signal per target per interval
 *   upstreamTimeoutMs: 60000     # time to response headers before a timeout (green → retried on blue)
 *   maxBodyBytes: 16777216       # largest request body (chat and pass-through); larger → 413, connection closed
 *   upstreamConnections: 1024    # connections per upstream origin and process (a stream holds one throughout); 0 = no limit
 *   workers: 4                   # router processes on the port (default: the number of cores); 1 = this process alone
 *   ratioFrom: http://router-0:4000   # read ratios from that router (a shared reader) instead of Temporal, while it answers
 *   keyEnvs: [PARTNER_API_KEY]   # further key variables a rollout's arm may name as apiKeyEnv
 *   allowedOrigins: [https://partner.example]   # further hosts a rollout's arm baseURL may point at
 *   shadow:                      # a rollout's shadow phase: requests mirrored to green after blue answered
 *     queueSize: 256             # mirrors waiting; a full queue drops the mirror, never the user
 *     concurrency: 8             # mirrors (and judge calls) in flight per process
 *     judge: { model: gpt-4.1 }  # the judge when the rollout names none (an arm: model, baseURL, apiKeyEnv; rubric)
 *   # per target: targets.<t>.shadow: { excludeUsers: [vip-*], excludePaths: ["/v1/chat/completions?tenant=bank"] }
 *
 * Environment: ROUTER_CONFIG (file path), ROUTER_PORT, ROUTER_HOST, ROUTER_TARGETS
 * ("chat-default=gpt-4.1,support=claude-sonnet-4.5" or JSON of `targets`), ROUTER_API_KEYS,
 * GATEWAY_BASE_URL / GATEWAY_API_KEY, ROUTER_REPORT_INTERVAL_SECONDS, ROUTER_STALE_AFTER_SECONDS,
 * ROUTER_POLL_INTERVAL_MS, ROUTER_MAX_BODY_BYTES, ROUTER_UPSTREAM_CONNECTIONS, ROUTER_WORKERS,
 * ROUTER_RATIO_FROM, ROUTER_KEY_ENVS and ROUTER_ALLOWED_ORIGINS (comma-separated; added to the file's
 * keyEnvs / allowedOrigins).
 *
 * Every bad value is a RouterConfigError (a BadInput: one line naming the field and what it expects,
 * exit 2, nothing started).
 */
import { availableParallelism } from 'node:os';
import { readStructuredFile } from '../files/structured';
import { z } from 'zod';
import { parseList, parseNumber, type NumberRange } from '../cli/flags';
import { BadInput } from '../errors';
import type { ArmRef } from '../gateway/arm';
import { unsafeBaseURL } from '../gateway/policy';
import { DEFAULT_UPSTREAM_CONNECTIONS } from './options';
import type { ShadowOptions, TargetShadowConfig } from '../shadow/mirror';
import { isForbiddenKeyEnv, originOf } from './policy';

export class RouterConfigError extends BadInput {
  override name = 'RouterConfigError';
}

/** The largest body limit one may configure (1 GiB): the body is held in memory. */
export const MAX_BODY_LIMIT = 1024 * 1024 * 1024;
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;
export const MAX_WORKERS = 256;

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable NAME (the key itself never goes in config)');
const ArmSchema = z.strictObject({
  model: z.string().min(1),
  baseURL: z.url({ protocol: /^https?$/ }).optional(),
  apiKeyEnv: envName.optional(),
});

const TargetShadowSchema = z.strictObject({
  excludeUsers: z.array(z.string().min(1)).max(10_000).optional(),
  excludePaths: z.array(z.string().startsWith('/', 'expected a path starting with /')).max(1_000).optional(),
});
const ShadowSchema = z.strictObject({
  queueSize: z.number().int().min(0).max(100_000).optional(),
  maxQueueBytes: z.number().int().min(0).max(MAX_BODY_LIMIT).optional(),
  concurrency: z.number().int().min(1).max(1_024).optional(),
  maxAnswerBytes: z.number().int().min(1_024).max(MAX_BODY_LIMIT).optional(),
  timeoutMs: z.number().int().positive().optional(),
  judge: ArmSchema.extend({ rubric: z.string().max(2_000).optional() }).optional(),
});

export const RouterFileSchema = z.strictObject({
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().min(1).optional(),
  gateway: z.strictObject({ baseURL: z.url({ protocol: /^https?$/ }).optional(), apiKeyEnv: envName.optional() }).optional(),
  targets: z.record(z.string().min(1), z.strictObject({ blue: ArmSchema, shadow: TargetShadowSchema.optional() })).optional(),
  pollIntervalMs: z.number().int().min(50).max(60_000).optional(),
  staleAfterSeconds: z.number().positive().optional(),
  reportIntervalSeconds: z.number().positive().optional(),
  upstreamTimeoutMs: z.number().int().positive().optional(),
  maxBodyBytes: z.number().int().min(1).max(MAX_BODY_LIMIT).optional(),
  upstreamConnections: z.number().int().min(0).max(65_535).optional(),
  workers: z.number().int().min(1).max(MAX_WORKERS).optional(),
  ratioFrom: z.url({ protocol: /^https?$/ }).optional(),
  autoModel: z.string().min(1).optional(),
  keyEnvs: z.array(envName).optional(),
  allowedOrigins: z.array(z.url({ protocol: /^https?$/ })).optional(),
  shadow: ShadowSchema.optional(),
});
export type RouterFile = z.output<typeof RouterFileSchema>;

export interface RouterSettings {
  port: number;
  host: string;
  gateway: { baseURL?: string; apiKeyEnv: string };
  targets: Record<string, { blue: ArmRef; shadow?: TargetShadowConfig }>;
  apiKeys: string[];
  pollIntervalMs: number;
  staleAfterMs: number;
  reportIntervalMs: number;
  upstreamTimeoutMs: number;
  /** largest request body in bytes (chat and pass-through) */
  maxBodyBytes: number;
  /** connections per upstream origin and process (0 = no limit) */
  upstreamConnections: number;
  /** router processes serving the port (1: this process alone) */
  workers: number;
  /** another router to read ratios from (a shared reader), or undefined: read them from Temporal */
  ratioFrom: string | undefined;
  autoModel: string;
  /** further key variables an arm may name (file keyEnvs + ROUTER_KEY_ENVS) */
  keyEnvs: string[];
  /** further origins a rollout's baseURL may use (file allowedOrigins + ROUTER_ALLOWED_ORIGINS) */
  allowedOrigins: string[];
  /** the shadow phase's mirror (file `shadow`) */
  shadow: ShadowOptions;
}

export interface RouterFlags {
  config?: string;
  port?: string | number;
  host?: string;
  target?: string[];
  pollInterval?: string;
  staleAfter?: string;
  reportInterval?: string;
  maxBodyBytes?: string;
  upstreamConnections?: string;
  workers?: string;
  ratioFrom?: string;
}

function issueLine(prefix: string, err: z.ZodError): string {
  const i = err.issues[0];
  return `${prefix}${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`;
}

/** "a=m1,b=m2" or a JSON object of targets. */
export function parseTargets(text: string, where: string): RouterSettings['targets'] {
  const t = text.trim();
  if (t === '') return {};
  if (t.startsWith('{')) {
    let raw: unknown;
    try {
      raw = JSON.parse(t);
    } catch (e) {
      throw new RouterConfigError(`${where}: not valid JSON (${(e as Error).message})`);
    }
    const r = RouterFileSchema.shape.targets.safeParse(raw);
    if (!r.success) throw new RouterConfigError(issueLine(`${where}: `, r.error));
    return r.data ?? {};
  }
  const out: RouterSettings['targets'] = {};
  for (const part of t.split(',')) {
    const m = /^\s*([^=\s]+)\s*=\s*([^\s]+)\s*$/.exec(part);
    if (!m) throw new RouterConfigError(`${where}: expected target=model[,target=model], got ${JSON.stringify(part)}`);
    out[m[1]] = { blue: { model: m[2] } };
  }
  return out;
}

function num(v: string | number | undefined, where: string, range: NumberRange = { min: 0 }): number | undefined {
  if (v === undefined || v === '') return undefined;
  try {
    return parseNumber(where, v, range);
  } catch (err) {
    throw new RouterConfigError((err as Error).message);
  }
}

/** A number from the flag, else the environment variable, else the file, else the default. */
function setting(
  flag: [name: string, value: string | number | undefined],
  envVar: [name: string, value: string | undefined],
  fromFile: number | undefined,
  fallback: number,
  range: NumberRange,
): number {
  return num(flag[1], flag[0], range) ?? num(envVar[1], envVar[0], range) ?? fromFile ?? fallback;
}

function readFile(path: string | undefined): RouterFile {
  if (!path) return {};
  const raw = readStructuredFile(path, 'the router config (--config / ROUTER_CONFIG)', (m) => new RouterConfigError(m));
  const r = RouterFileSchema.safeParse(raw ?? {});
  if (!r.success) throw new RouterConfigError(issueLine(`${path}: `, r.error));
  return r.data;
}

/** Key variables and origins: never the router's or Temporal's own secrets, only http(s) origins. */
function checkedPolicy(file: RouterFile, env: NodeJS.ProcessEnv, targets: RouterSettings['targets']) {
  const keyEnvs = [...(file.keyEnvs ?? []), ...parseList(env.ROUTER_KEY_ENVS)];
  for (const name of keyEnvs)
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new RouterConfigError(`ROUTER_KEY_ENVS: expected environment variable names, got ${JSON.stringify(name)}`);
  const gatewayKeyEnv = file.gateway?.apiKeyEnv ?? 'GATEWAY_API_KEY';
  for (const [where, name] of [
    ['gateway.apiKeyEnv', gatewayKeyEnv],
    ...Object.entries(targets).map(([t, v]) => [`targets.${t}.blue.apiKeyEnv`, v.blue.apiKeyEnv]),
    ...keyEnvs.map((n) => ['keyEnvs / ROUTER_KEY_ENVS', n]),
  ] as Array<[string, string | undefined]>)
    if (name && isForbiddenKeyEnv(name))
      throw new RouterConfigError(`${where}: ${name} is the router's or Temporal's own secret and is never sent to an upstream`);
  const allowedOrigins = [...(file.allowedOrigins ?? []), ...parseList(env.ROUTER_ALLOWED_ORIGINS)];
  for (const o of allowedOrigins)
    if (!originOf(o)) throw new RouterConfigError(`ROUTER_ALLOWED_ORIGINS: expected http(s) origins, got ${JSON.stringify(o)}`);
  return { keyEnvs, gatewayKeyEnv, allowedOrigins };
}

export function loadRouterSettings(flags: RouterFlags = {}, env: NodeJS.ProcessEnv = process.env): RouterSettings {
  const file = readFile(flags.config ?? env.ROUTER_CONFIG);
  const targets = { ...(file.targets ?? {}) };
  if (env.ROUTER_TARGETS) Object.assign(targets, parseTargets(env.ROUTER_TARGETS, 'ROUTER_TARGETS'));
  for (const t of flags.target ?? []) Object.assign(targets, parseTargets(t, '--target'));

  const baseURL = env.GATEWAY_BASE_URL?.trim() || file.gateway?.baseURL;
  if (baseURL && !originOf(baseURL))
    throw new RouterConfigError(`GATEWAY_BASE_URL: expected an http(s) URL, got ${JSON.stringify(baseURL)}`);
  // a key in a URL ends up in logs and errors: refused as the worker and the spec refuse it (never echoed)
  const unsafe = baseURL && unsafeBaseURL(baseURL);
  if (unsafe) throw new RouterConfigError(`GATEWAY_BASE_URL: ${unsafe}`);
  for (const [t, v] of Object.entries(targets)) {
    const why = v.blue.baseURL && unsafeBaseURL(v.blue.baseURL);
    if (why) throw new RouterConfigError(`targets.${t}.blue.baseURL: ${why}`);
  }
  const port = setting(['--port', flags.port], ['ROUTER_PORT', env.ROUTER_PORT], file.port, 4000, { integer: true, min: 0, max: 65535 });
  const maxBodyBytes = setting(
    ['--max-body-bytes', flags.maxBodyBytes],
    ['ROUTER_MAX_BODY_BYTES', env.ROUTER_MAX_BODY_BYTES],
    file.maxBodyBytes,
    DEFAULT_MAX_BODY_BYTES,
    { integer: true, min: 1, max: MAX_BODY_LIMIT },
  );
  const upstreamConnections = setting(
    ['--upstream-connections', flags.upstreamConnections],
    ['ROUTER_UPSTREAM_CONNECTIONS', env.ROUTER_UPSTREAM_CONNECTIONS],
    file.upstreamConnections,
    DEFAULT_UPSTREAM_CONNECTIONS,
    { integer: true, min: 0, max: 65_535 },
  );
  const workers = setting(['--workers', flags.workers], ['ROUTER_WORKERS', env.ROUTER_WORKERS], file.workers, availableParallelism(), {
    integer: true,
    min: 1,
    max: MAX_WORKERS,
  });
  const ratioFrom = (flags.ratioFrom ?? env.ROUTER_RATIO_FROM)?.trim() || file.ratioFrom;
  if (ratioFrom && !originOf(ratioFrom))
    throw new RouterConfigError(`--ratio-from / ROUTER_RATIO_FROM: expected the http(s) URL of a router, got ${JSON.stringify(ratioFrom)}`);
  const pollIntervalMs = setting(
    ['--poll-interval', flags.pollInterval],
    ['ROUTER_POLL_INTERVAL_MS', env.ROUTER_POLL_INTERVAL_MS],
    file.pollIntervalMs,
    300,
    { min: 50, max: 60_000 },
  );
  const staleAfter = setting(
    ['--stale-after', flags.staleAfter],
    ['ROUTER_STALE_AFTER_SECONDS', env.ROUTER_STALE_AFTER_SECONDS],
    file.staleAfterSeconds,
    5,
    { min: 0.05, max: 86_400 },
  );
  const report = setting(
    ['--report-interval', flags.reportInterval],
    ['ROUTER_REPORT_INTERVAL_SECONDS', env.ROUTER_REPORT_INTERVAL_SECONDS],
    file.reportIntervalSeconds,
    5,
    { min: 0.05, max: 3_600 },
  );
  const { keyEnvs, gatewayKeyEnv, allowedOrigins } = checkedPolicy(file, env, targets);
  return {
    port,
    host: flags.host ?? env.ROUTER_HOST ?? file.host ?? '0.0.0.0',
    gateway: { baseURL, apiKeyEnv: gatewayKeyEnv },
    targets,
    apiKeys: parseList(env.ROUTER_API_KEYS),
    pollIntervalMs,
    staleAfterMs: staleAfter * 1000,
    reportIntervalMs: report * 1000,
    upstreamTimeoutMs: file.upstreamTimeoutMs ?? 60_000,
    maxBodyBytes,
    upstreamConnections,
    workers,
    ratioFrom: ratioFrom?.replace(/\/+$/, ''),
    autoModel: file.autoModel ?? 'auto',
    keyEnvs,
    allowedOrigins,
    shadow: file.shadow ?? {},
  };
}
