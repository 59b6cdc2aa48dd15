/**
 * `modelshift router`: the OpenAI-compatible router in front of the gateway.
 * Ratios come from the rollout workflows (Temporal); live outcomes go back to them in batches.
 */
import { Connection } from '@temporalio/client';
import type { Command } from 'commander';
import { classify, estimateCostUsd, loadCatalog } from '../catalog';
import { loadConfig } from '../config';
import { connectionOptions, targetAddress } from '../temporal/connect';
import { action } from '../cli/exit';
import { Failure, firstLine } from '../errors';
import { loadRouterSettings, RouterConfigError, type RouterFlags, type RouterSettings } from './config';
import { defaultLogger, type Router, type RouterOptions } from './options';
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
  GET /healthz  GET /readyz  GET /metrics`,
    )
    .action(action((o: RouterCliOptions) => runRouter(o)));
}

/** Settings first (bad input: one line, exit 2, nothing started), then Temporal, then the server. */
async function runRouter(o: RouterCliOptions): Promise<void> {
  const s = loadRouterSettings(o);
  const cfg = o.temporal ? loadConfig() : undefined;
  const log = defaultLogger;
  const connection = cfg && Connection.lazy(connectionOptions(cfg.temporal, targetAddress(cfg.temporal)));
  let router: Router;
  try {
    router = createRouter(routerOptions(s, connection, cfg?.temporal.namespace));
  } catch (err) {
    await connection?.close().catch(() => undefined);
    throw new RouterConfigError(firstLine(err));
  }
  if (cfg) log.info('reading rollout ratios from Temporal', { address: targetAddress(cfg.temporal), namespace: cfg.temporal.namespace });
  else log.warn('--no-temporal: every target is served 100% blue; no live metrics are reported');
  if (!s.gateway.baseURL && Object.values(s.targets).every((t) => !t.blue.baseURL))
    log.warn('no GATEWAY_BASE_URL and no target baseURL: requests will fail with 502 until one is configured');
  try {
    await router.listen(s.port, s.host);
  } catch (err) {
    await router.close();
    await connection?.close().catch(() => undefined);
    throw new Failure(`cannot listen on ${s.host}:${s.port}: ${firstLine(err)}`);
  }
  const stop = async (signal: string) => {
    log.info('router stopping', { signal });
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    await router.close();
    await connection?.close().catch(() => undefined);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

function routerOptions(s: RouterSettings, connection: Connection | undefined, namespace: string | undefined): RouterOptions {
  // Prices and `model: auto` rules: the built-in catalog, or MODELSHIFT_CATALOG's overrides.
  const catalog = loadCatalog(process.env.MODELSHIFT_CATALOG || undefined);
  return {
    targets: s.targets,
    gateway: s.gateway,
    ratioSource: connection && new TemporalRatioSource({ connection, namespace }),
    reporter: connection && new TemporalLiveReporter({ connection, namespace }),
    pollIntervalMs: s.pollIntervalMs,
    staleAfterMs: s.staleAfterMs,
    reportIntervalMs: s.reportIntervalMs,
    upstreamTimeoutMs: s.upstreamTimeoutMs,
    maxBodyBytes: s.maxBodyBytes,
    apiKeys: s.apiKeys,
    keyEnvs: s.keyEnvs,
    allowedOrigins: s.allowedOrigins,
    autoModel: s.autoModel,
    classify: (messages) => classify(Array.isArray(messages) ? messages : [], catalog.routing),
    cost: (model, usage) => estimateCostUsd(catalog, model, usage),
    processMetrics: true,
    logger: defaultLogger,
  };
}
