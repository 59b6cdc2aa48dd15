// Simulated OpenAI-compatible gateway: library entry point.
import type { AddressInfo } from 'node:net';
import { DEFAULT_PROFILE, DEFAULT_SIM_MODELS, FaultProfileSchema, mergeProfile, type FaultProfile } from './profiles';
import { createSimServer, type SimRequestRecord } from './server';
import { ModelRegistry, type SimModelStats } from './state';

export interface SimulatorOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Accepted bearer key for /v1 and /admin. Default 'sim-key'. Every request must present it (no "accept any key" mode). */
  apiKey?: string;
  /** Extra key accepted on /admin/* only (the apiKey is always accepted there too). Default: same as apiKey. */
  adminKey?: string;
  /** PRNG seed; default 42. Each model gets its own stream derived from (seed, model name). */
  seed?: number;
  /** Multiplies every sampled latency (0 = no latency). Default 1. */
  latencyScale?: number;
  /** Patches merged over the default catalog entry (or the base profile for new names). */
  models?: Record<string, Partial<FaultProfile>>;
  /** If true, the catalog is exactly `models` (no defaults). */
  onlyModels?: boolean;
  /** Called with one line per request when set. */
  log?: (line: string) => void;
}

export interface Simulator {
  /** Base URL ending in /v1, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  port: number;
  apiKey: string;
  /** Validated partial patch merged over the current profile (adds the model if unknown). Throws Error naming the field. */
  setProfile(model: string, patch: Partial<FaultProfile>): void;
  getProfile(model: string): FaultProfile | undefined;
  stats(): Record<string, SimModelStats>;
  /** Same as POST /admin/reset (which also clears the request log). */
  reset(): void;
  /** The chat completions seen so far, in arrival order, with the order of their ends (GET /admin/requests). */
  requestLog(): SimRequestRecord[];
  clearRequestLog(): void;
  /** Stops listening and ends every open/held connection. */
  close(): Promise<void>;
}

export function buildCatalog(opts: Pick<SimulatorOptions, 'models' | 'onlyModels'>): Record<string, FaultProfile> {
  const catalog: Record<string, FaultProfile> = opts.onlyModels ? {} : { ...DEFAULT_SIM_MODELS };
  for (const [name, patch] of Object.entries(opts.models ?? {})) {
    try {
      catalog[name] = mergeProfile(DEFAULT_SIM_MODELS[name] ?? DEFAULT_PROFILE, patch);
    } catch (err) {
      throw new Error(`models.${name}.${(err as Error).message}`, { cause: err });
    }
  }
  return catalog;
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const apiKey = opts.apiKey ?? 'sim-key';
  const latencyScale = opts.latencyScale ?? 1;
  if (!(latencyScale >= 0) || !Number.isFinite(latencyScale))
    throw new Error(`latencyScale: expected a number >= 0, got ${opts.latencyScale}`);
  if (!apiKey) throw new Error('apiKey: expected a non-empty string');
  const registry = new ModelRegistry(opts.seed ?? 42, buildCatalog(opts));
  const { server, shutdown, requestLog, clearRequestLog } = createSimServer({
    registry,
    apiKey,
    adminKey: opts.adminKey ?? apiKey,
    latencyScale,
    log: opts.log,
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${urlHost}:${port}/v1`,
    port,
    apiKey,
    setProfile: (model, patch) => {
      registry.patch(model, patch);
    },
    getProfile: (model) => registry.get(model)?.profile,
    stats: () => registry.stats(),
    reset: () => {
      registry.reset();
      clearRequestLog();
    },
    requestLog,
    clearRequestLog,
    close: () => (closing ??= shutdown()),
  };
}

export { FaultProfileSchema, DEFAULT_SIM_MODELS, DEFAULT_PROFILE, type FaultProfile, type SimModelStats };
export { FaultProfilePatchSchema, type Distribution } from './profiles';
export { DEGRADED_MARKER, REFUSAL_TEXT } from './behaviour';
export type { SimRequestRecord } from './server';
export { loadSimProfileFile, type SimProfileFile } from './file';
