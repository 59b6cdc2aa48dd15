/**
 * The native stack's versions and settings: the same as docker-compose.yml's, service by service, with
 * the compose network's host names replaced by 127.0.0.1 and every port moved by one offset (so a test
 * stack can run beside a developer's). test/stack/compose-in-step.test.ts reads docker-compose.yml and
 * fails when the two drift apart (versions, services, environment).
 */
import { join, resolve } from 'node:path';
import { ROLLOUT_SEARCH_ATTRIBUTES } from '../rollout/contract';

/** Official builds of the compose file's images (temporalio/server, temporalio/ui), from the Go module proxy. */
export const TEMPORAL_SERVER_VERSION = '1.29.1';
export const TEMPORAL_UI_VERSION = '2.42.1';
export const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';
export const TEMPORAL_UI_MODULE = 'github.com/temporalio/ui-server/v2';

/**
 * compose runs `postgres:16`; natively the stack runs Debian's `postgresql` (15 on bookworm), the one
 * difference in versions. Temporal's `postgres12` plugin and schema support both.
 */
export const COMPOSE_POSTGRES_VERSION = '16';

/** compose's `temporal-setup` registers these, in this order; the same as the rollout contract's. */
export const SEARCH_ATTRIBUTES: ReadonlyArray<{ name: string; type: 'Keyword' | 'Int' }> = ROLLOUT_SEARCH_ATTRIBUTES.map((k) => ({
  name: k.name,
  type: k.type === 'INT' ? 'Int' : 'Keyword',
}));

/** Each compose service and what runs it natively. */
export const COMPOSE_SERVICES = {
  postgresql: 'postgresql (supervised, as the postgres system user)',
  'temporal-schema': 'one-shot: temporal-sql-tool, both databases',
  temporal: 'temporal (the server, supervised)',
  'temporal-setup': 'one-shot: namespace and search attributes (temporal CLI)',
  'temporal-ui': 'temporal-ui (the UI server, supervised)',
  sim: 'sim (supervised; on unless a gateway is configured)',
  worker: 'worker-1 … worker-N (supervised)',
  router: 'router-1 … router-M (supervised)',
} as const;

export interface Ports {
  postgres: number;
  frontendGrpc: number;
  frontendHttp: number;
  frontendMembership: number;
  historyGrpc: number;
  historyMembership: number;
  matchingGrpc: number;
  matchingMembership: number;
  workerGrpc: number;
  workerMembership: number;
  ui: number;
  /** the first router's; router k listens on router + k − 1 */
  router: number;
  sim: number;
}

/** compose's ports (published ones as published; Temporal's internal ones as its config template sets them). */
export const DEFAULT_PORTS: Ports = {
  postgres: 5432,
  frontendGrpc: 7233,
  frontendHttp: 7243,
  frontendMembership: 6933,
  historyGrpc: 7234,
  historyMembership: 6934,
  matchingGrpc: 7235,
  matchingMembership: 6935,
  workerGrpc: 7239,
  workerMembership: 6939,
  ui: 8080,
  router: 4000,
  sim: 8787,
};

export interface StackSettings {
  /** where everything lives: PostgreSQL's data, configs, logs, PIDs, the supervisor's socket */
  stateDir: string;
  ports: Ports;
  workers: number;
  routers: number;
  /** run the simulator (compose's `sim` profile); off when a gateway is configured */
  sim: boolean;
  gatewayBaseUrl: string;
  /** the gateway key itself (the simulator's accepted key when `sim`) */
  gatewayApiKey: string;
  namespace: string;
  taskQueue: string;
  retention: string;
  postgresUser: string;
  postgresPassword: string;
  routerTargets: string;
  routerApiKeys: string;
  routerReportIntervalSeconds: string;
  simLatencyScale: string;
}

export interface SettingsInput {
  stateDir?: string;
  portOffset?: number;
  workers?: number;
  routers?: number;
  sim?: boolean;
}

const envOr = (env: NodeJS.ProcessEnv, name: string, fallback: string): string => {
  const v = env[name]?.trim();
  return v ? v : fallback;
};

/** Settings from the same environment variables compose reads (with compose's defaults), plus flags. */
export function stackSettings(input: SettingsInput = {}, env: NodeJS.ProcessEnv = process.env): StackSettings {
  const offset = input.portOffset ?? 0;
  const ports = Object.fromEntries(Object.entries(DEFAULT_PORTS).map(([k, v]) => [k, v + offset])) as unknown as Ports;
  const gateway = env.GATEWAY_BASE_URL?.trim();
  const sim = input.sim ?? !gateway;
  const stateDir = resolve(input.stateDir ?? join(envOr(env, 'MODELSHIFT_STATE_DIR', '.modelshift'), 'stack'));
  return {
    stateDir,
    ports,
    workers: input.workers ?? Number(envOr(env, 'WORKER_REPLICAS', '1')),
    routers: input.routers ?? 1,
    sim,
    gatewayBaseUrl: sim ? `http://127.0.0.1:${ports.sim}/v1` : (gateway as string),
    gatewayApiKey: envOr(env, 'GATEWAY_API_KEY', 'sim-key'),
    namespace: envOr(env, 'TEMPORAL_NAMESPACE', 'default'),
    taskQueue: envOr(env, 'TASK_QUEUE', 'modelshift'),
    retention: envOr(env, 'TEMPORAL_RETENTION', '72h'),
    postgresUser: 'temporal',
    postgresPassword: envOr(env, 'POSTGRES_PASSWORD', 'temporal'),
    routerTargets: envOr(env, 'ROUTER_TARGETS', 'chat-default=gpt-4.1'),
    routerApiKeys: env.ROUTER_API_KEYS?.trim() ?? '',
    routerReportIntervalSeconds: envOr(env, 'ROUTER_REPORT_INTERVAL_SECONDS', '5'),
    simLatencyScale: envOr(env, 'SIM_LATENCY_SCALE', '0.2'),
  };
}

export const temporalAddress = (s: StackSettings): string => `127.0.0.1:${s.ports.frontendGrpc}`;
export const routerPort = (s: StackSettings, k: number): number => s.ports.router + k - 1;
export const routerUrl = (s: StackSettings, k: number): string => `http://127.0.0.1:${routerPort(s, k)}`;
export const uiUrl = (s: StackSettings): string => `http://127.0.0.1:${s.ports.ui}`;

/** compose's `temporal` service environment, natively (the server's config template reads these). */
export function temporalServerEnv(s: StackSettings): Record<string, string> {
  const p = s.ports;
  return {
    // as in docker-compose.yml
    DB: 'postgres12',
    DB_PORT: String(p.postgres),
    POSTGRES_SEEDS: '127.0.0.1',
    POSTGRES_USER: s.postgresUser,
    POSTGRES_PWD: s.postgresPassword,
    DBNAME: 'temporal',
    VISIBILITY_DBNAME: 'temporal_visibility',
    // natively: bind to loopback (compose publishes 127.0.0.1:7233), the ports, the dynamic config file
    BIND_ON_IP: '127.0.0.1',
    FRONTEND_GRPC_PORT: String(p.frontendGrpc),
    FRONTEND_HTTP_PORT: String(p.frontendHttp),
    FRONTEND_MEMBERSHIP_PORT: String(p.frontendMembership),
    HISTORY_GRPC_PORT: String(p.historyGrpc),
    HISTORY_MEMBERSHIP_PORT: String(p.historyMembership),
    MATCHING_GRPC_PORT: String(p.matchingGrpc),
    MATCHING_MEMBERSHIP_PORT: String(p.matchingMembership),
    WORKER_GRPC_PORT: String(p.workerGrpc),
    WORKER_MEMBERSHIP_PORT: String(p.workerMembership),
    DYNAMIC_CONFIG_FILE_PATH: join(s.stateDir, 'temporal', 'dynamicconfig', 'docker.yaml'),
  };
}

/** compose's `temporal-schema` environment. */
export function schemaEnv(s: StackSettings): Record<string, string> {
  return {
    SQL_PLUGIN: 'postgres12',
    SQL_HOST: '127.0.0.1',
    SQL_PORT: String(s.ports.postgres),
    SQL_USER: s.postgresUser,
    SQL_PASSWORD: s.postgresPassword,
  };
}

/** compose's `temporal-setup` environment. */
export function setupEnv(s: StackSettings): Record<string, string> {
  return { TEMPORAL_ADDRESS: temporalAddress(s), NAMESPACE: s.namespace, RETENTION: s.retention };
}

/** compose's `temporal-ui` environment (plus the port, which compose maps instead). */
export function uiEnv(s: StackSettings): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: temporalAddress(s),
    TEMPORAL_DEFAULT_NAMESPACE: s.namespace,
    TEMPORAL_CORS_ORIGINS: `http://localhost:${s.ports.ui}`,
    TEMPORAL_UI_PORT: String(s.ports.ui),
  };
}

/** compose's `x-modelshift-env`: what every worker and router gets. */
export function modelshiftEnv(s: StackSettings): Record<string, string> {
  return {
    GATEWAY_BASE_URL: s.gatewayBaseUrl,
    GATEWAY_API_KEY: s.gatewayApiKey,
    TEMPORAL_ADDRESS: temporalAddress(s),
    TEMPORAL_NAMESPACE: s.namespace,
    TASK_QUEUE: s.taskQueue,
  };
}

/** compose's `router` environment, beyond `x-modelshift-env`. */
export function routerEnv(s: StackSettings): Record<string, string> {
  return {
    ...modelshiftEnv(s),
    ROUTER_API_KEYS: s.routerApiKeys,
    ROUTER_TARGETS: s.routerTargets,
    ROUTER_REPORT_INTERVAL_SECONDS: s.routerReportIntervalSeconds,
  };
}

/** compose's `router` command, natively (one port per router; loopback as compose publishes it). */
export const routerArgs = (s: StackSettings, k: number): string[] => ['router', '--port', String(routerPort(s, k)), '--host', '127.0.0.1'];

/** compose's `sim` command, natively. */
export const simArgs = (s: StackSettings): string[] => [
  'sim',
  '--host',
  '127.0.0.1',
  '--port',
  String(s.ports.sim),
  '--api-key',
  s.gatewayApiKey,
  '--latency-scale',
  s.simLatencyScale,
];
