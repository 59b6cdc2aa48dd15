/**
 * The router: an OpenAI-compatible HTTP endpoint in front of the gateway that sends each request
 * for a rollout target to blue or green by the rollout's current ratio, sticky per user.
 *
 * Hot-path rules: one keep-alive undici Pool per upstream origin (created once), the request body is
 * read once and forwarded as the client's text with only the top-level `model` value replaced,
 * responses (JSON or SSE) are passed through chunk by chunk, and outcomes are aggregated in memory.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Pool, type Dispatcher } from 'undici';
import type { ArmRef } from '../gateway/arm';
import { assignArm, type Arm } from './assign';
import { replaceModel, usageFromTail } from './body';
import { BUILTIN_KEY_ENVS, isForbiddenKeyEnv, originOf } from './policy';
import type { ErrorClass, Outcome } from './live-stats';
import { RouterMetrics } from './metrics';
import { RatioTracker, type RatioSource } from './ratio';
import { LiveAggregator, type LiveReporter } from './reporter';

/** A target's arm as the router's config names it: the shape every arm has (src/gateway/arm.ts). */
export type ArmConfig = ArmRef;

export interface TargetConfig {
  blue: ArmConfig;
}

export interface RouterLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export type Classifier = (messages: unknown) => string | Promise<string>;
export type CostFn = (model: string, usage: { inputTokens: number; outputTokens: number }) => number;

export interface RouterOptions {
  /** rollout targets the router serves, each with the model used when it has no rollout */
  targets?: Record<string, TargetConfig>;
  /** default upstream for pass-through models and other /v1 paths */
  gateway?: { baseURL?: string; apiKeyEnv?: string };
  /** where ratios come from; absent → every target is 100 % blue */
  ratioSource?: RatioSource;
  /** how often each target's ratio is read (default 300 ms) */
  pollIntervalMs?: number;
  /** a target is reported stale when its ratio could not be read for longer than this (default 5,000 ms) */
  staleAfterMs?: number;
  /** per-read timeout on the ratio source (default 1,000 ms) */
  sourceTimeoutMs?: number;
  /** how often to look for rollouts of targets not in the config (default 15,000 ms; 0 = never) */
  discoverIntervalMs?: number;
  /** receives one live-metrics batch per target per interval */
  reporter?: LiveReporter;
  /** default 5,000 ms */
  reportIntervalMs?: number;
  /** accepted client keys; empty/undefined → the router is open (a warning is logged at start) */
  apiKeys?: readonly string[];
  /** `model: auto` classifier (e.g. src/catalog/classify) */
  classify?: Classifier;
  /** model name that triggers the classifier (default "auto") */
  autoModel?: string;
  /** USD cost of one request for the live aggregate (e.g. the catalog's estimateCostUsd; default 0) */
  cost?: CostFn;
  /** where `apiKeyEnv` names are looked up (default process.env) */
  env?: NodeJS.ProcessEnv;
  /**
   * Further environment variable names an arm may name as `apiKeyEnv` (ROUTER_KEY_ENVS). Always allowed:
   * the gateway's key variable, GATEWAY_API_KEY, HOLYSHEEP_API_KEY and the targets' configured ones; never
   * ROUTER_API_KEYS or TEMPORAL_*.
   */
  keyEnvs?: readonly string[];
  /**
   * Further origins a rollout's `baseURL` may point at (ROUTER_ALLOWED_ORIGINS). Always allowed: the
   * gateway's origin and the origins of the targets' configured baseURLs.
   */
  allowedOrigins?: readonly string[];
  logger?: RouterLogger;
  /** time to the upstream's response headers before the attempt counts as a timeout (default 60,000 ms) */
  upstreamTimeoutMs?: number;
  /** idle time between body chunks (default 300,000 ms) */
  bodyTimeoutMs?: number;
  /** largest accepted request body (default 16 MiB) */
  maxBodyBytes?: number;
  /** keep-alive connections per upstream origin (default 128) */
  connectionsPerUpstream?: number;
  /** random source for requests without a user (tests) */
  random?: () => number;
  /** add Node process metrics to /metrics (default false) */
  processMetrics?: boolean;
}

export interface Router {
  handler: (req: IncomingMessage, res: ServerResponse) => void;
  listen(port?: number, host?: string): Promise<{ port: number; url: string; server: Server }>;
  close(): Promise<void>;
  /** resolves when every target's ratio has been read (or failed) once */
  ready: Promise<void>;
  metrics: RouterMetrics;
  tracker: RatioTracker;
  live: LiveAggregator;
  /** arm assignment as the router does it, for tests and tooling */
  route(model: string, user: string | undefined): { target: string; arm: Arm; model: string } | undefined;
}

interface Upstream {
  pool: Pool;
  origin: string;
  basePath: string;
}

class ClientGoneError extends Error {
  override name = 'ClientGoneError';
}

/** Green answered with a status that sends the request to blue: its body is not wanted. */
class FallbackAbort extends Error {
  override name = 'FallbackAbort';
}

/** Why an arm cannot be called (its key variable or origin is not allowed, or there is no upstream). */
class ArmProblem {
  constructor(
    readonly code: 'upstream_key_not_allowed' | 'upstream_key_missing' | 'upstream_origin_not_allowed' | 'no_upstream',
    /** for the log (names variables and hosts; never a key) */
    readonly detail: string,
  ) {}
}

interface Resolved {
  model: string;
  up: Upstream;
  authorization: string;
  secret: string;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
  'host',
]);
/** Request headers never forwarded on pass-through, besides HOP_BY_HOP (undici refuses `expect`). */
const NOT_FORWARDED = new Set(['authorization', 'accept-encoding', 'expect']);
/** A dot segment (after percent-decoding), or a backslash a server might treat as a separator. */
const DOT_SEGMENT = /(?:^|[/\\])\.{1,2}(?:[/\\]|$)|\\/;
const FALLBACK_STATUSES = new Set([401, 403, 404, 408, 409, 429]);
const TAIL_BYTES = 2048;

export const defaultLogger: RouterLogger = {
  info: (msg, f) => console.error(JSON.stringify({ level: 'info', msg, ...f })),
  warn: (msg, f) => console.error(JSON.stringify({ level: 'warn', msg, ...f })),
  error: (msg, f) => console.error(JSON.stringify({ level: 'error', msg, ...f })),
};

function errorJson(message: string, type: string, code: string | null, param: string | null = null): string {
  return JSON.stringify({ error: { message, type, param, code } });
}

function sendError(res: ServerResponse, status: number, message: string, type: string, code: string | null, extra: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const text = errorJson(message, type, code);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

const noop = () => undefined;

/** Abort an upstream body we will not read (an unhandled 'error' from destroy would crash the process). */
function discard(body: { on(ev: 'error', fn: () => void): unknown; destroy(): unknown }): void {
  body.on('error', noop);
  body.destroy();
}

function classifyStatus(status: number): ErrorClass {
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'server';
  return 'bad_request';
}

function classifyNetworkError(err: unknown): ErrorClass {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') return 'timeout';
  return 'connection';
}

class BodyTooLargeError extends Error {}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > max) {
        // stop reading: the caller answers 413 and closes the connection (the rest is never read)
        req.off('data', onData);
        req.pause();
        chunks.length = 0;
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** decodeURIComponent that answers undefined instead of throwing on a malformed escape. */
function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

export function createRouter(options: RouterOptions = {}): Router {
  const log = options.logger ?? defaultLogger;
  const env = options.env ?? process.env;
  const autoModel = options.autoModel ?? 'auto';
  const maxBody = options.maxBodyBytes ?? 16 * 1024 * 1024;
  const headersTimeout = options.upstreamTimeoutMs ?? 60_000;
  const bodyTimeout = options.bodyTimeoutMs ?? 300_000;
  const random = options.random ?? Math.random;
  const configured = new Map(Object.entries(options.targets ?? {}));
  const clientKeys = new Set((options.apiKeys ?? []).map((k) => k.trim()).filter(Boolean));
  const open = clientKeys.size === 0;
  const gatewayKeyEnv = options.gateway?.apiKeyEnv ?? 'GATEWAY_API_KEY';
  const gatewayBase = options.gateway?.baseURL;
  let closing = false;

  // Key variables and origins an arm may use: what the router's operator configured, nothing a rollout adds.
  const allowedKeyEnvs = new Set<string>([...BUILTIN_KEY_ENVS, gatewayKeyEnv, ...(options.keyEnvs ?? [])]);
  const allowedOrigins = new Set<string>();
  for (const t of configured.values()) if (t.blue.apiKeyEnv) allowedKeyEnvs.add(t.blue.apiKeyEnv);
  for (const name of allowedKeyEnvs)
    if (isForbiddenKeyEnv(name)) throw new Error(`router: ${name} can never be used as an upstream key (it is the router's or Temporal's own secret)`);
  for (const [where, url] of [
    ['gateway.baseURL', gatewayBase],
    ...[...configured].map(([name, t]) => [`targets.${name}.blue.baseURL`, t.blue.baseURL]),
    ...(options.allowedOrigins ?? []).map((o) => ['allowedOrigins', o]),
  ] as Array<[string, string | undefined]>) {
    if (url === undefined) continue;
    const origin = originOf(url);
    if (!origin) throw new Error(`router: ${where}: expected an http(s) URL, got ${JSON.stringify(url)}`);
    allowedOrigins.add(origin);
  }

  let tracker!: RatioTracker;
  const metrics = new RouterMetrics(() => tracker, { defaultMetrics: options.processMetrics });
  for (const t of configured.values()) metrics.knownModel(t.blue.model);
  const source: RatioSource = options.ratioSource ?? { get: async () => null };
  tracker = new RatioTracker(
    {
      source,
      pollIntervalMs: options.pollIntervalMs ?? 300,
      staleAfterMs: options.staleAfterMs ?? 5_000,
      timeoutMs: options.sourceTimeoutMs ?? 1_000,
      discoverIntervalMs: options.ratioSource ? (options.discoverIntervalMs ?? 15_000) : 0,
      onChange: (target, s) => {
        if (s.snapshot?.blue) metrics.knownModel(s.snapshot.blue.model);
        if (s.snapshot?.green) metrics.knownModel(s.snapshot.green.model);
        log.info('ratio changed', {
          target,
          greenPercent: s.percent,
          phase: s.snapshot?.phase ?? 'none',
          blue: s.snapshot?.blue?.model ?? configured.get(target)?.blue.model,
          green: s.snapshot?.green?.model,
        });
      },
      onError: (target, err) => {
        metrics.sourceErrors.labels(target).inc();
        const s = tracker.states.get(target);
        if (s && s.consecutiveFailures === 1)
          log.warn('ratio source unreachable; serving the last known ratio', { target, greenPercent: s.percent, error: s.lastError });
      },
    },
    configured.keys(),
  );

  const live = new LiveAggregator({
    reporter: options.reporter,
    intervalMs: options.reportIntervalMs ?? 5_000,
    shouldReport: (target) => {
      const phase = tracker.states.get(target)?.snapshot?.phase;
      return phase === 'preflight' || phase === 'ramping' || phase === 'paused';
    },
    onSent: (target) => metrics.batches.labels(target, 'sent').inc(),
    onError: (target, err, dropped) => {
      metrics.batches.labels(target, dropped ? 'dropped' : 'retry').inc();
      log.warn('live metrics batch not delivered', { target, dropped, error: err.message.split('\n')[0] });
    },
  });

  // ---- upstreams: one pool per origin, created on first use and kept ----
  const pools = new Map<string, Upstream>();
  function upstreamFor(baseURL: string): Upstream {
    let u = pools.get(baseURL);
    if (!u) {
      const url = new URL(baseURL);
      u = {
        pool: new Pool(url.origin, {
          connections: options.connectionsPerUpstream ?? 128,
          pipelining: 1,
          keepAliveTimeout: 30_000,
          headersTimeout,
          bodyTimeout,
        }),
        origin: url.origin,
        basePath: url.pathname.replace(/\/+$/, ''),
      };
      pools.set(baseURL, u);
    }
    return u;
  }

  /** baseURL → whether its origin is one the operator configured (cached: rollouts repeat theirs) */
  const originChecked = new Map<string, boolean>();
  function originAllowed(base: string): boolean {
    let ok = originChecked.get(base);
    if (ok === undefined) {
      const origin = originOf(base);
      ok = origin !== undefined && allowedOrigins.has(origin);
      if (originChecked.size < 10_000) originChecked.set(base, ok);
    }
    return ok;
  }

  /**
   * The upstream, key and model for an arm. `cfg` is the target's configured blue: a blue without a
   * baseURL of its own uses the configured one (and its key variable); a green without one uses the
   * gateway, as the worker does. A key variable that is not allowed, or allowed but unset, and a baseURL
   * whose origin the operator did not configure, are refused — never replaced by the gateway's key or
   * host — so the request fails (see armFailed).
   */
  function resolveArm(ref: ArmRef, cfg: ArmConfig | undefined): Resolved | ArmProblem {
    const base = ref.baseURL ?? cfg?.baseURL ?? gatewayBase;
    if (!base) return new ArmProblem('no_upstream', 'no baseURL and no gateway configured');
    if (!originAllowed(base))
      return new ArmProblem('upstream_origin_not_allowed', `baseURL ${originOf(base) ?? JSON.stringify(base)} is not the gateway's origin, a configured target's, or in ROUTER_ALLOWED_ORIGINS`);
    const named = ref.baseURL ? ref.apiKeyEnv : (ref.apiKeyEnv ?? cfg?.apiKeyEnv);
    const keyEnv = named ?? gatewayKeyEnv;
    if (!allowedKeyEnvs.has(keyEnv) || isForbiddenKeyEnv(keyEnv))
      return new ArmProblem('upstream_key_not_allowed', `apiKeyEnv ${keyEnv} is not the gateway's key variable, a configured target's, or in ROUTER_KEY_ENVS`);
    const secret = env[keyEnv] ?? '';
    // an unset gateway key is sent as it is (a gateway without keys); an arm's own key variable must be set
    if (named !== undefined && secret === '') return new ArmProblem('upstream_key_missing', `apiKeyEnv ${keyEnv} is not set in the router's environment`);
    return { model: ref.model, up: upstreamFor(base), authorization: `Bearer ${secret}`, secret };
  }

  const problemsLogged = new Set<string>();
  /** Fail a request whose arm cannot be called: 502, counted as an `auth` error of that arm, logged once. */
  function armFailed(res: ServerResponse, p: ArmProblem, target: string, arm: Arm, model: string, started: number): void {
    const key = `${target}\u0000${arm}\u0000${p.code}\u0000${p.detail}`;
    if (!problemsLogged.has(key) && problemsLogged.size < 1_000) {
      problemsLogged.add(key);
      log.error('arm refused: requests to it fail with 502 until the rollout or the router config is fixed', { target, arm, model, code: p.code, detail: p.detail });
    }
    record(target, arm, model, p.code, { ok: false, errorClass: p.code === 'no_upstream' ? 'connection' : 'auth', latencyMs: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 }, started);
    const what = p.code === 'no_upstream' ? 'it has no upstream gateway' : p.code === 'upstream_origin_not_allowed' ? 'its baseURL is not an allowed origin' : 'its key variable is not allowed or not set';
    sendError(res, 502, `The router cannot call the ${arm} arm of "${target}": ${what}. See the router's log.`, 'upstream_error', p.code);
  }

  function defaultUpstream(): { up: Upstream; authorization: string; secret: string } | undefined {
    const base = gatewayBase ?? [...configured.values()][0]?.blue.baseURL;
    if (!base) return undefined;
    const secret = env[gatewayKeyEnv] ?? '';
    return { up: upstreamFor(base), authorization: `Bearer ${secret}`, secret };
  }

  /** Blue and green refs of a target right now (green undefined: no rollout). */
  function arms(target: string): { blue: ArmRef; green: ArmRef | undefined; percent: number } | undefined {
    const s = tracker.states.get(target);
    const cfg = configured.get(target);
    const snap = s?.snapshot;
    const blue = snap?.blue ?? cfg?.blue;
    if (!blue) return undefined;
    return { blue, green: snap?.green, percent: snap?.green ? (s?.percent ?? 0) : 0 };
  }

  function isTarget(model: string): boolean {
    return configured.has(model) || tracker.states.get(model)?.snapshot != null;
  }

  function route(model: string, user: string | undefined): { target: string; arm: Arm; model: string } | undefined {
    if (!isTarget(model)) return undefined;
    const a = arms(model);
    if (!a) return undefined;
    const arm = a.green ? assignArm(model, a.percent, user, random) : 'blue';
    return { target: model, arm, model: arm === 'green' ? a.green!.model : a.blue.model };
  }

  // ---- the hot path ----
  function upstreamHeaders(req: IncomingMessage, authorization: string): Record<string, string> {
    const h: Record<string, string> = {
      'content-type': 'application/json',
      accept: (req.headers.accept as string | undefined) ?? 'application/json',
      authorization,
    };
    const rid = req.headers['x-request-id'];
    if (typeof rid === 'string') h['x-request-id'] = rid;
    return h;
  }

  function responseHeaders(src: Record<string, string | string[] | undefined>, extra: Record<string, string>): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const k in src) {
      const v = src[k];
      if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
    }
    for (const k in extra) out[k] = extra[k];
    return out;
  }

  function scrub(text: string, secret: string): string {
    if (secret.length >= 4 && text.includes(secret)) text = text.split(secret).join('[redacted]');
    return text;
  }

  function costOf(model: string, input: number, output: number): number {
    return options.cost ? options.cost(model, { inputTokens: input, outputTokens: output }) : 0;
  }

  type AttemptResult = { done: true } | { done: false; errorClass: ErrorClass; status: number | string; latencyMs: number };

  /**
   * One upstream attempt, as an undici dispatch handler: response bytes go straight from the
   * upstream socket to the client (no intermediate stream objects). With `canFallback`, a failure
   * before anything was sent to the client is returned instead of answered, so the caller can retry
   * on blue.
   */
  class Attempt implements Dispatcher.DispatchHandler {
    private readonly t0 = performance.now();
    private mode: 'wait' | 'pass' | 'error' | 'done' = 'wait';
    private status = 0;
    private headers: Record<string, string | string[] | undefined> = {};
    private tail = '';
    private errChunks: Buffer[] | undefined;
    private errBytes = 0;
    private controller: Dispatcher.DispatchController | undefined;

    constructor(
      private readonly res: ServerResponse,
      private readonly r: Resolved,
      private readonly target: string,
      private readonly arm: Arm | '',
      private readonly canFallback: boolean,
      private readonly started: number,
      private readonly resolve: (r: AttemptResult) => void,
    ) {
      res.once('close', this.onClientClose);
    }

    private readonly onClientClose = (): void => {
      if (this.mode === 'done' || this.res.writableFinished) return;
      this.controller?.abort(new ClientGoneError());
    };

    private readonly onDrain = (): void => this.controller?.resume();

    private finish(result: AttemptResult): void {
      this.mode = 'done';
      this.res.off('close', this.onClientClose);
      this.res.off('drain', this.onDrain);
      this.resolve(result);
    }

    private fail(errorClass: ErrorClass, status: number | string): void {
      record(this.target, this.arm, this.r.model, status, { ok: false, errorClass, latencyMs: performance.now() - this.t0, inputTokens: 0, outputTokens: 0, costUsd: 0 }, this.started);
    }

    onRequestStart(controller: Dispatcher.DispatchController): void {
      this.controller = controller;
      if (this.res.destroyed) controller.abort(new ClientGoneError());
    }

    onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
      this.controller = controller;
      this.status = status;
      this.headers = headers;
      if (status >= 400) {
        if (this.canFallback && (status >= 500 || FALLBACK_STATUSES.has(status))) {
          // the status decides: retry on blue now, without waiting for (or reading) green's error body
          this.finish({ done: false, errorClass: classifyStatus(status), status, latencyMs: performance.now() - this.t0 });
          controller.abort(new FallbackAbort());
          return;
        }
        this.mode = 'error';
        this.errChunks = [];
        return;
      }
      if (this.res.destroyed) {
        controller.abort(new ClientGoneError());
        return;
      }
      this.mode = 'pass';
      this.res.writeHead(status, responseHeaders(headers, armHeaders(this.arm, this.r.model)));
    }

    onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
      if (this.mode === 'pass') {
        const s = chunk.toString('latin1', chunk.length > TAIL_BYTES ? chunk.length - TAIL_BYTES : 0);
        this.tail = this.tail.length + s.length > TAIL_BYTES ? (this.tail + s).slice(-TAIL_BYTES) : this.tail + s;
        if (!this.res.write(chunk)) {
          controller.pause();
          this.res.once('drain', this.onDrain);
        }
      } else if (this.mode === 'error' && this.errBytes < 65_536) {
        this.errChunks!.push(chunk);
        this.errBytes += chunk.length;
      }
    }

    onResponseEnd(): void {
      const latencyMs = performance.now() - this.t0;
      if (this.mode === 'pass') {
        this.res.end();
        const usage = usageFromTail(this.tail);
        const inputTokens = usage?.inputTokens ?? 0;
        const outputTokens = usage?.outputTokens ?? 0;
        record(this.target, this.arm, this.r.model, this.status, { ok: true, latencyMs, inputTokens, outputTokens, costUsd: costOf(this.r.model, inputTokens, outputTokens) }, this.started);
        this.finish({ done: true });
      } else if (this.mode === 'error') {
        this.fail(classifyStatus(this.status), this.status);
        this.sendUpstreamError();
        this.finish({ done: true });
      }
    }

    onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
      if (this.mode === 'done') return;
      const latencyMs = performance.now() - this.t0;
      if (err instanceof ClientGoneError) {
        // the user went away (closed the tab): not the arm's fault, so metrics only — never the live
        // aggregate that feeds the rollout's verdict
        metrics.observe(this.target, this.arm || 'passthrough', this.r.model, 'client_closed', (performance.now() - this.started) / 1000);
        if (this.mode === 'pass') this.res.destroy();
        this.finish({ done: true });
        return;
      }
      const errorClass = classifyNetworkError(err);
      if (this.mode === 'pass') {
        // the client already has part of the answer: all we can do is cut it off
        this.fail(errorClass, errorClass);
        this.res.destroy();
        this.finish({ done: true });
        return;
      }
      if (this.canFallback) {
        this.finish({ done: false, errorClass, status: errorClass, latencyMs });
        return;
      }
      this.fail(errorClass, errorClass);
      if (errorClass === 'timeout') sendError(this.res, 504, 'The upstream model did not answer in time.', 'upstream_error', 'upstream_timeout');
      else sendError(this.res, 502, 'The upstream gateway could not be reached.', 'upstream_error', 'upstream_unreachable');
      this.finish({ done: true });
    }

    private sendUpstreamError(): void {
      const res = this.res;
      if (this.status === 401 || this.status === 403) {
        // the gateway rejected the ROUTER's credentials: not the client's business, and its message may quote the key
        sendError(res, 502, 'The upstream gateway rejected the router\'s credentials.', 'upstream_error', 'upstream_auth');
        return;
      }
      if (res.destroyed || res.headersSent) return;
      const text = Buffer.concat(this.errChunks ?? []).toString('utf8');
      const safe = scrub(text, this.r.secret);
      const headers = responseHeaders(this.headers, armHeaders(this.arm, this.r.model));
      headers['content-length'] = String(Buffer.byteLength(safe));
      delete headers['content-encoding'];
      res.writeHead(this.status, headers);
      res.end(safe);
    }
  }

  function attempt(
    req: IncomingMessage,
    res: ServerResponse,
    r: Resolved,
    upstreamPath: string,
    body: string,
    target: string,
    arm: Arm | '',
    canFallback: boolean,
    started: number,
  ): Promise<AttemptResult> {
    return new Promise<AttemptResult>((resolve) => {
      const handler = new Attempt(res, r, target, arm, canFallback, started, resolve);
      r.up.pool.dispatch({ origin: r.up.origin, path: upstreamPath, method: 'POST', headers: upstreamHeaders(req, r.authorization), body }, handler);
    });
  }

  function armHeaders(arm: Arm | '', model: string): Record<string, string> {
    return arm ? { 'x-modelshift-arm': arm, 'x-modelshift-model': model } : { 'x-modelshift-model': model };
  }

  function record(target: string, arm: Arm | '', model: string, status: number | string, outcome: Outcome, started: number): void {
    metrics.observe(target, arm || 'passthrough', model, status, (performance.now() - started) / 1000);
    if (target && arm) live.record(target, arm, outcome);
  }

  async function chat(req: IncomingMessage, res: ServerResponse, upstreamSuffix: string, started: number): Promise<void> {
    let raw: string;
    try {
      raw = await readBody(req, maxBody);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        // answer, then close the connection: the rest of the body is never read
        sendError(res, 413, `Request body larger than ${maxBody} bytes.`, 'invalid_request_error', 'request_too_large', { connection: 'close' });
        res.once('finish', () => req.destroy());
      } else res.destroy();
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw);
    } catch {
      sendError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null);
      return;
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      sendError(res, 400, 'The request body must be a JSON object.', 'invalid_request_error', null);
      return;
    }
    const requested = body.model;
    if (typeof requested !== 'string' || requested === '') {
      sendError(res, 400, 'You must provide a model parameter.', 'invalid_request_error', 'missing_model');
      return;
    }
    let model = requested;
    if (model === autoModel && options.classify) {
      try {
        model = await options.classify(body.messages);
      } catch (err) {
        log.warn('classifier failed; answering 500', { error: (err as Error).message });
        sendError(res, 500, 'The request classifier failed.', 'server_error', 'classifier_failed');
        return;
      }
    }
    const user = typeof body.user === 'string' && body.user !== '' ? body.user : (req.headers['x-modelshift-user'] as string | undefined);
    const a = isTarget(model) ? arms(model) : undefined;
    if (!a) {
      // not a rollout target: pass through unchanged (model replaced only when the classifier chose it)
      const d = defaultUpstream();
      if (!d) {
        sendError(res, 502, 'No upstream gateway is configured for this model.', 'upstream_error', 'no_upstream');
        return;
      }
      const text = model === requested ? raw : replaceModel(raw, model, body);
      await attempt(req, res, { model, ...d }, d.up.basePath + upstreamSuffix, text, '', '', false, started);
      return;
    }
    const target = model;
    const cfg = configured.get(target)?.blue;
    const arm: Arm = a.green ? assignArm(target, a.percent, user, random) : 'blue';
    if (arm === 'green') {
      const green = resolveArm(a.green!, undefined); // like the worker: no baseURL → the default gateway
      if (green instanceof ArmProblem) {
        // never re-sent elsewhere: a green the router may not call fails (and counts against green)
        armFailed(res, green, target, 'green', a.green!.model, started);
        return;
      }
      const r = await attempt(req, res, green, green.up.basePath + upstreamSuffix, replaceModel(raw, green.model, body), target, 'green', true, started);
      if (r.done) return;
      // failed before the first byte: count it against green, serve from blue
      record(target, 'green', green.model, r.status, { ok: false, errorClass: r.errorClass, latencyMs: r.latencyMs, inputTokens: 0, outputTokens: 0, costUsd: 0 }, started);
      metrics.fallbacks.labels(target).inc();
      if (res.destroyed) return;
    }
    const blue = resolveArm(a.blue, cfg);
    if (blue instanceof ArmProblem) {
      armFailed(res, blue, target, 'blue', a.blue.model, started);
      return;
    }
    await attempt(req, res, blue, blue.up.basePath + upstreamSuffix, replaceModel(raw, blue.model, body), target, 'blue', false, started);
  }

  // ---- /v1/models ----
  let modelsCache: { at: number; data: unknown[] } | undefined;
  async function upstreamModels(): Promise<unknown[]> {
    if (modelsCache && Date.now() - modelsCache.at < 30_000) return modelsCache.data;
    const d = defaultUpstream();
    if (!d) return [];
    try {
      const r = await d.up.pool.request({ path: `${d.up.basePath}/models`, method: 'GET', headers: { authorization: d.authorization, accept: 'application/json' }, headersTimeout: 5_000 });
      if (r.statusCode !== 200) {
        await r.body.dump();
        return modelsCache?.data ?? [];
      }
      const j = (await r.body.json()) as { data?: unknown[] };
      modelsCache = { at: Date.now(), data: Array.isArray(j.data) ? j.data : [] };
      return modelsCache.data;
    } catch {
      return modelsCache?.data ?? [];
    }
  }

  function targetModels(): Array<Record<string, unknown>> {
    const names = new Set([...configured.keys(), ...[...tracker.states.entries()].filter(([, s]) => s.snapshot).map(([t]) => t)]);
    return [...names].map((id) => ({ id, object: 'model', created: 0, owned_by: 'modelshift' }));
  }

  async function models(res: ServerResponse): Promise<void> {
    const targets = targetModels();
    const ids = new Set(targets.map((t) => t.id));
    const ups = (await upstreamModels()).filter((m) => !ids.has((m as { id?: string }).id as string));
    const text = JSON.stringify({ object: 'list', data: [...targets, ...ups] });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  // ---- other /v1 paths: streamed through unchanged to the blue gateway ----
  /** `pathAndQuery`: normalised, starts with /v1/, no dot segments (checked by the handler). */
  async function passthrough(req: IncomingMessage, res: ServerResponse, pathAndQuery: string, started: number): Promise<void> {
    const targetHeader = req.headers['x-modelshift-target'];
    let d: { up: Upstream; authorization: string; secret: string } | undefined;
    if (typeof targetHeader === 'string' && isTarget(targetHeader)) {
      const a = arms(targetHeader);
      const r = a && resolveArm(a.blue, configured.get(targetHeader)?.blue);
      if (r instanceof ArmProblem) {
        req.resume();
        armFailed(res, r, targetHeader, 'blue', a!.blue.model, started);
        return;
      }
      if (r) d = r;
    }
    d ??= defaultUpstream();
    if (!d) {
      sendError(res, 502, 'No upstream gateway is configured.', 'upstream_error', 'no_upstream');
      return;
    }
    const headers: Record<string, string | string[]> = {};
    // headers the client's `connection` header names are hop-by-hop too (RFC 9110 §7.6.1)
    const connection = req.headers.connection;
    const named = connection ? new Set(connection.toLowerCase().split(',').map((t) => t.trim())) : undefined;
    for (const k in req.headers) {
      const v = req.headers[k];
      // accept-encoding: error bodies are scrubbed of the upstream key, which needs them uncompressed;
      // expect: undici refuses `expect: 100-continue` (node:http has already answered the client's)
      if (v === undefined || HOP_BY_HOP.has(k) || NOT_FORWARDED.has(k) || k.startsWith('x-modelshift-') || named?.has(k)) continue;
      headers[k] = v;
    }
    headers.authorization = d.authorization;
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    try {
      const r = await d.up.pool.request({
        path: d.up.basePath + pathAndQuery.slice(3), // '/v1/x?y' → basePath + '/x?y'
        method: req.method as 'GET',
        headers,
        body: hasBody ? req : undefined,
      });
      metrics.observe('', 'passthrough', '', r.statusCode, (performance.now() - started) / 1000);
      if (r.statusCode === 401 || r.statusCode === 403) {
        await r.body.dump();
        sendError(res, 502, 'The upstream gateway rejected the router\'s credentials.', 'upstream_error', 'upstream_auth');
        return;
      }
      if (r.statusCode >= 400) {
        const safe = scrub(await r.body.text(), d.secret);
        const h = responseHeaders(r.headers, {});
        h['content-length'] = String(Buffer.byteLength(safe));
        res.writeHead(r.statusCode, h);
        res.end(safe);
        return;
      }
      if (res.destroyed) {
        discard(r.body);
        return;
      }
      res.writeHead(r.statusCode, responseHeaders(r.headers, {}));
      r.body.on('error', () => res.destroy());
      r.body.pipe(res);
      res.once('close', () => {
        if (!res.writableFinished) discard(r.body);
      });
    } catch (err) {
      metrics.observe('', 'passthrough', '', classifyNetworkError(err), (performance.now() - started) / 1000);
      sendError(res, 502, 'The upstream gateway could not be reached.', 'upstream_error', 'upstream_unreachable');
    }
  }

  // ---- health ----
  function health(): { status: string; open: boolean; targets: Record<string, unknown> } {
    const targets: Record<string, unknown> = {};
    let degraded = false;
    for (const [name, s] of tracker.states) {
      const stale = tracker.isStale(name);
      if (stale) degraded = true;
      const age = tracker.ageSeconds(name);
      const a = arms(name);
      targets[name] = {
        greenPercent: a?.percent ?? 0,
        phase: s.snapshot?.phase ?? (s.snapshot === null ? 'none' : 'unknown'),
        blue: a?.blue.model,
        green: a?.green?.model,
        stale,
        ratioAgeSeconds: Number.isFinite(age) ? Math.round(age * 1000) / 1000 : null,
        lastError: s.lastError,
      };
    }
    return { status: degraded ? 'degraded' : 'ok', open, targets };
  }

  function authorized(req: IncomingMessage): boolean {
    if (open) return true;
    const h = req.headers.authorization;
    if (!h || h.length < 8 || h.slice(0, 7).toLowerCase() !== 'bearer ') return false;
    return clientKeys.has(h.slice(7).trim());
  }

  let isReady = false;
  const ready = tracker.start().then(() => {
    isReady = true;
  });
  live.start();
  if (open) log.warn('ROUTER IS OPEN: no client keys configured (set ROUTER_API_KEYS); anyone who can reach it can use the gateway keys it holds');

  /** The request listener: nothing thrown while handling a request may reach the server (and kill the process). */
  function handler(req: IncomingMessage, res: ServerResponse): void {
    try {
      handle(req, res);
    } catch (err) {
      try {
        log.error('request failed', { path: String(req.url ?? '').split('?')[0].slice(0, 200), error: (err as Error)?.message });
      } catch {
        log.error('request failed', { error: String((err as Error)?.message) });
      }
      try {
        req.resume();
        sendError(res, 500, 'The router failed to handle the request.', 'server_error', null);
      } catch {
        res.destroy();
      }
    }
  }

  function badPath(req: IncomingMessage, res: ServerResponse, message: string): void {
    req.resume();
    sendError(res, 400, message, 'invalid_request_error', 'invalid_path');
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === '/healthz') {
      const h = health();
      const text = JSON.stringify(h);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (path === '/readyz') {
      const ok = isReady && !closing;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ready\n' : 'not ready\n');
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        () => sendError(res, 500, 'metrics failed', 'server_error', null),
      );
      return;
    }
    if (!path.startsWith('/v1/')) {
      sendError(res, 404, `Unknown path ${path}.`, 'invalid_request_error', 'unknown_url');
      return;
    }
    if (!authorized(req)) {
      req.resume();
      sendError(res, 401, 'Incorrect API key provided. Use a key from ROUTER_API_KEYS as the Bearer token.', 'invalid_request_error', 'invalid_api_key', {
        'www-authenticate': 'Bearer',
      });
      return;
    }
    let p: Promise<void>;
    if (req.method === 'POST' && path === '/v1/chat/completions') p = chat(req, res, '/chat/completions', started);
    else if (req.method === 'GET' && path === '/v1/models') p = models(res);
    else {
      // Everything else is forwarded with the gateway's key: the path must stay under /v1/ as the
      // upstream will read it — no dot segments, encoded (%2e%2e, ..%2f) or not, no backslashes.
      const decoded = safeDecode(path);
      if (decoded === undefined) return badPath(req, res, 'The request path has a malformed percent-encoding.');
      if (DOT_SEGMENT.test(decoded)) return badPath(req, res, 'The request path may not contain "." or ".." segments.');
      const u = new URL(url, 'http://router.invalid');
      if (!u.pathname.startsWith('/v1/')) return badPath(req, res, 'The request path must stay under /v1/.');
      const id = req.method === 'GET' && u.pathname.startsWith('/v1/models/') ? safeDecode(u.pathname.slice(11)) : undefined;
      if (id !== undefined && isTarget(id)) {
        const text = JSON.stringify({ id, object: 'model', created: 0, owned_by: 'modelshift' });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      p = passthrough(req, res, u.pathname + u.search, started);
    }
    p.catch((err) => {
      log.error('request failed', { path, error: (err as Error).message });
      sendError(res, 500, 'The router failed to handle the request.', 'server_error', null);
    });
  }

  let server: Server | undefined;
  return {
    handler,
    ready,
    metrics,
    tracker,
    live,
    route,
    async listen(port = 4000, host = '0.0.0.0') {
      server = createServer({ keepAliveTimeout: 65_000, noDelay: true }, handler);
      server.headersTimeout = 66_000;
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, host, () => resolve());
      });
      const addr = server.address() as AddressInfo;
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      log.info('router listening', { url: `http://${shown}:${addr.port}/v1`, targets: [...configured.keys()], open });
      return { port: addr.port, url: `http://${shown}:${addr.port}/v1`, server };
    },
    async close() {
      if (closing) return;
      closing = true;
      tracker.stop();
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeIdleConnections();
        });
      }
      await live.close();
      await source.close?.();
      await Promise.all([...pools.values()].map((u) => u.pool.close().catch(() => undefined)));
    },
  };
}
