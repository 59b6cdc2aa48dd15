/**
 * What `createRouter` takes and returns, and the defaults it fills in (resolveSettings).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { ArmRef } from '../gateway/arm';
import type { Arm } from './assign';
import type { RouterMetrics } from './metrics';
import { ClientKeys } from './policy';
import type { RatioSource, RatioTracker } from './ratio';
import type { LiveAggregator, LiveReporter } from './reporter';
import type { ShadowMirror, ShadowOptions, TargetShadowConfig } from '../shadow/mirror';

/** A target's arm as the router's config names it: the shape every arm has (src/gateway/arm.ts). */
export type ArmConfig = ArmRef;

export interface TargetConfig {
  blue: ArmConfig;
  /** the shadow phase: users and request paths never mirrored to green */
  shadow?: TargetShadowConfig;
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
  /** a target whose ratio source keeps failing is read less and less often, up to once per this (default 5,000 ms) */
  maxBackoffMs?: number;
  /**
   * Ratios are pushed in with `router.tracker.accept()` (a cluster worker: its primary reads them); the
   * router reads none itself and is ready once every target's ratio arrived.
   */
  followRatios?: boolean;
  /**
   * How often to look for rollouts of targets not in the config and serve them too (default 0 = never:
   * the router tracks its configured targets only; a listing of every rollout in the namespace is a
   * visibility query, and every target found is then read on every poll).
   */
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
  /** whether `cost` knows the model's price (shadow pairs flag unpriced arms; default: every model) */
  priced?: (model: string) => boolean;
  /** the shadow phase's mirror: queue, concurrency, the judge (src/shadow/mirror.ts) */
  shadow?: ShadowOptions;
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
  /**
   * Connections per upstream origin (default 1,024). A streamed completion holds its connection for the
   * whole stream (10–60 s), so this bounds the concurrent streams per gateway; requests beyond it wait
   * for a connection (modelshift_router_upstream_waiting_requests). 0 = no limit.
   */
  connectionsPerUpstream?: number;
  /** random source for requests without a user (tests) */
  random?: () => number;
  /** add Node process metrics to /metrics (default false) */
  processMetrics?: boolean;
  /** what /metrics serves instead of this router's own registry (a cluster worker: the whole cluster's, from its primary) */
  metricsText?: () => Promise<string>;
  /** this process's number among the router's processes (cluster workers: 1…N; shown in /healthz) */
  workerId?: number;
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
  /** the shadow phase's mirror to green */
  shadow: ShadowMirror;
  /** arm assignment as the router does it, for tests and tooling */
  route(model: string, user: string | undefined): { target: string; arm: Arm; model: string } | undefined;
}

export const DEFAULT_UPSTREAM_CONNECTIONS = 1024;

export const defaultLogger: RouterLogger = {
  info: (msg, f) => console.error(JSON.stringify({ level: 'info', msg, ...f })),
  warn: (msg, f) => console.error(JSON.stringify({ level: 'warn', msg, ...f })),
  error: (msg, f) => console.error(JSON.stringify({ level: 'error', msg, ...f })),
};

/** The options with their defaults filled in: what the rest of the router reads. */
export interface Settings {
  log: RouterLogger;
  env: NodeJS.ProcessEnv;
  targets: ReadonlyMap<string, TargetConfig>;
  gateway: { baseURL?: string; apiKeyEnv: string };
  /** accepted client keys (hashed; compared in constant time) */
  clientKeys: ClientKeys;
  /** no client keys: anyone who can reach the router may use it */
  open: boolean;
  autoModel: string;
  classify?: Classifier;
  cost?: CostFn;
  priced?: (model: string) => boolean;
  shadow: ShadowOptions;
  maxBodyBytes: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  connectionsPerUpstream: number;
  random: () => number;
  metricsText?: () => Promise<string>;
  workerId: number;
}

export function resolveSettings(o: RouterOptions): Settings {
  const clientKeys = new ClientKeys(o.apiKeys ?? []);
  return {
    log: o.logger ?? defaultLogger,
    env: o.env ?? process.env,
    targets: new Map(Object.entries(o.targets ?? {})),
    gateway: { baseURL: o.gateway?.baseURL, apiKeyEnv: o.gateway?.apiKeyEnv ?? 'GATEWAY_API_KEY' },
    clientKeys,
    open: clientKeys.size === 0,
    autoModel: o.autoModel ?? 'auto',
    classify: o.classify,
    cost: o.cost,
    priced: o.priced,
    shadow: o.shadow ?? {},
    maxBodyBytes: o.maxBodyBytes ?? 16 * 1024 * 1024,
    headersTimeoutMs: o.upstreamTimeoutMs ?? 60_000,
    bodyTimeoutMs: o.bodyTimeoutMs ?? 300_000,
    connectionsPerUpstream: o.connectionsPerUpstream ?? DEFAULT_UPSTREAM_CONNECTIONS,
    random: o.random ?? Math.random,
    metricsText: o.metricsText,
    workerId: o.workerId ?? 0,
  };
}
