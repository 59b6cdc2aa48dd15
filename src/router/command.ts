/**
 * `modelshift router`: the OpenAI-compatible router in front of the gateway.
 * Ratios come from the rollout workflows (Temporal); live outcomes go back to them in batches.
 */
import cluster from 'node:cluster';
import { Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { classify, estimateCostUsd, isPriced, loadCatalog } from '../catalog';
import { loadConfig } from '../config';
import { connectionOptions, targetAddress } from '../temporal/connect';
import { action } from '../cli/exit';
import { Failure, firstLine } from '../errors';
import { loadRouterSettings, RouterConfigError, type RouterFlags, type RouterSettings } from './config';
import { RouterPrimary, runWorker } from './cluster';
import { RatioFollower } from './follow';
import { defaultLogger, type Router, type RouterOptions } from './options';
import type { RatioSource } from './ratio';
import type { LiveReporter } from './reporter';
import { createRouter } from './server';
import { TemporalLiveReporter } from './temporal-reporter';
import { TemporalRatioSource } from './temporal-source';

interface RouterCliOptions extends RouterFlags {
  temporal: boolean;
}

/** Repeated --target values, checked with the rest of the settings (config.ts: one line, exit 2). */
function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function registerRouterCommand(program: Command): Command {
  return program
    .command('router')
    .description("Run the OpenAI-compatible router: rollout targets go to blue or green by the rollout's ratio, sticky per user")
    .option('--port <n>', 'port to listen on (env ROUTER_PORT; default 4000)')
    .option('--host <host>', 'interface to bind (env ROUTER_HOST; default 0.0.0.0)')
    .option('--config <file>', 'router config, JSON or YAML (env ROUTER_CONFIG)')
    .option('--target <name=model>', 'a rollout target and its blue model, repeatable (env ROUTER_TARGETS="a=m1,b=m2")', collect)
    .option('--poll-interval <ms>', "how often each target's ratio is read from its rollout (default 300)")
    .option('--stale-after <seconds>', '/healthz reports a target stale after this long without a good read (default 5)')
    .option('--report-interval <seconds>', 'live metrics are sent to each rollout once per interval (default 5)')
    .option(
      '--max-body-bytes <n>',
      'largest request body, chat and pass-through; larger → 413 (env ROUTER_MAX_BODY_BYTES; default 16777216)',
    )
    .option('--workers <n>', 'router processes serving the port (env ROUTER_WORKERS; default: the number of cores; 1 = one process)')
    .option(
      '--upstream-connections <n>',
      'connections per upstream origin and process, a stream holds one throughout (env ROUTER_UPSTREAM_CONNECTIONS; default 1024; 0 = no limit)',
    )
    .option('--ratio-from <url>', "follow another router's ratios instead of reading Temporal, while it answers (env ROUTER_RATIO_FROM)")
    .option('--no-temporal', 'do not read rollouts: every target is served 100% by its configured blue model')
    .addHelpText(
      'after',
      `
Environment:
  GATEWAY_BASE_URL, GATEWAY_API_KEY   default upstream and its key (kept in the router, never sent to clients)
  ROUTER_API_KEYS                     comma-separated keys clients must send as Bearer; unset = OPEN router (warned at start)
  ROUTER_KEY_ENVS                     further key variables a rollout's arm may name as apiKeyEnv (comma-separated)
  ROUTER_ALLOWED_ORIGINS              further origins a rollout's arm baseURL may use (comma-separated)
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE  where the rollout workflows live
Endpoints:
  POST /v1/chat/completions  GET /v1/models  other /v1/* → blue gateway unchanged
  GET /healthz  GET /readyz  GET /metrics  GET /modelshift/ratios (for --ratio-from; client key)`,
    )
    .action(action((o: RouterCliOptions) => runRouter(o)));
}

/** Settings first (bad input: one line, exit 2, nothing started), then Temporal, then the server(s). */
async function runRouter(o: RouterCliOptions): Promise<void> {
  const s = loadRouterSettings(o);
  if (cluster.isWorker) return void (await runWorker(s, routerOptions(s, {})));
  loadCatalog(process.env.MODELSHIFT_CATALOG || undefined); // a bad price catalog is bad input too: before any log line
  const cfg = o.temporal ? loadConfig() : undefined;
  const log = defaultLogger;
  const connection = cfg && Connection.lazy(connectionOptions(cfg.temporal, targetAddress(cfg.temporal)));
  const namespace = cfg?.temporal.namespace;
  const deps = {
    ratioSource: connection && new TemporalRatioSource({ connection, namespace }),
    reporter: connection && new TemporalLiveReporter({ connection, namespace }),
  };
  const closeConnection = async () => void (await connection?.close().catch(() => undefined));
  if (cfg) log.info('reading rollout ratios from Temporal', { address: targetAddress(cfg.temporal), namespace });
  else log.warn('--no-temporal: every target is served 100% blue; no live metrics are reported');
  if (s.ratioFrom) log.info('following the ratios of another router while it answers', { from: s.ratioFrom });
  if (!s.gateway.baseURL && Object.values(s.targets).every((t) => !t.blue.baseURL))
    log.warn('no GATEWAY_BASE_URL and no target baseURL: requests will fail with 502 until one is configured');
  const stop = s.workers > 1 ? await startCluster(s, deps, closeConnection) : await startSingle(s, deps, closeConnection);
  const onSignal = async (signal: string) => {
    log.info('router stopping', { signal });
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    await stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void onSignal('SIGTERM'));
  process.once('SIGINT', () => void onSignal('SIGINT'));
}

interface Deps {
  ratioSource?: RatioSource;
  reporter?: LiveReporter;
}

/** One process: the router reads, serves and reports itself. Resolves with its stop. */
async function startSingle(s: RouterSettings, deps: Deps, closeConnection: () => Promise<void>): Promise<() => Promise<void>> {
  let router: Router;
  try {
    router = createRouter(routerOptions(s, deps));
  } catch (err) {
    await closeConnection();
    throw new RouterConfigError(firstLine(err));
  }
  const follower = s.ratioFrom
    ? new RatioFollower({ from: s.ratioFrom, key: s.apiKeys[0], tracker: router.tracker, log: defaultLogger })
    : undefined;
  follower?.start();
  try {
    await router.listen(s.port, s.host);
  } catch (err) {
    await follower?.close();
    await router.close();
    await closeConnection();
    throw new Failure(`cannot listen on ${s.host}:${s.port}: ${firstLine(err)}`);
  }
  return async () => {
    await follower?.close();
    await router.close();
    await closeConnection();
  };
}

/** --workers N: a primary that reads and reports, N workers that serve (cluster.ts). Resolves with its stop. */
async function startCluster(s: RouterSettings, deps: Deps, closeConnection: () => Promise<void>): Promise<() => Promise<void>> {
  try {
    createRouter({ ...routerOptions(s, {}), logger: quiet }).close(); // the workers' options: refused here, not N times there
  } catch (err) {
    await closeConnection();
    throw new RouterConfigError(firstLine(err));
  }
  const primary = new RouterPrimary({
    settings: s,
    workers: s.workers,
    source: deps.ratioSource,
    reporter: deps.reporter,
    log: defaultLogger,
    onStopped: closeConnection,
  });
  const follower = s.ratioFrom
    ? new RatioFollower({ from: s.ratioFrom, key: s.apiKeys[0], tracker: primary.tracker, log: defaultLogger })
    : undefined;
  follower?.start();
  try {
    await primary.start();
  } catch (err) {
    await follower?.close();
    throw err;
  }
  return async () => {
    await follower?.close();
    await primary.stop();
  };
}

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function routerOptions(s: RouterSettings, deps: Deps): RouterOptions {
  // Prices and `model: auto` rules: the built-in catalog, or MODELSHIFT_CATALOG's overrides.
  const catalog = loadCatalog(process.env.MODELSHIFT_CATALOG || undefined);
  return {
    targets: s.targets,
    gateway: s.gateway,
    ratioSource: deps.ratioSource,
    reporter: deps.reporter,
    pollIntervalMs: s.pollIntervalMs,
    staleAfterMs: s.staleAfterMs,
    reportIntervalMs: s.reportIntervalMs,
    upstreamTimeoutMs: s.upstreamTimeoutMs,
    maxBodyBytes: s.maxBodyBytes,
    connectionsPerUpstream: s.upstreamConnections,
    apiKeys: s.apiKeys,
    keyEnvs: s.keyEnvs,
    allowedOrigins: s.allowedOrigins,
    autoModel: s.autoModel,
    classify: (messages) => classify(Array.isArray(messages) ? messages : [], catalog.routing),
    cost: (model, usage) => estimateCostUsd(catalog, model, usage),
    priced: (model) => isPriced(catalog, model),
    shadow: s.shadow,
    processMetrics: true,
    logger: defaultLogger,
  };
}
