/**
 * OpenAI-compatible clients, one per (base URL, key variable, timeout) per process — never one per request.
 * Keys are read from the worker's environment by variable NAME; a key never travels in workflow input.
 * The client's own retries are off: the sampler (and Temporal above it) owns retries.
 */
import OpenAI from 'openai';
import { BadInput } from '../errors';
import type { ArmRef } from './arm';
import { UpstreamPolicy } from './policy';

/** Where an arm's requests go: base URL (absent → GATEWAY_BASE_URL or HOLYSHEEP_BASE_URL) and key variable (absent → GATEWAY_API_KEY or HOLYSHEEP_API_KEY). */
export type GatewayTarget = Pick<ArmRef, 'baseURL' | 'apiKeyEnv'>;

export class GatewayConfigError extends BadInput {
  override name = 'GatewayConfigError';
}

export function resolveGateway(
  t: GatewayTarget,
  env: NodeJS.ProcessEnv = process.env,
): { baseURL: string; apiKey: string; apiKeyEnv: string } {
  const baseURL = t.baseURL ?? env.GATEWAY_BASE_URL ?? env.HOLYSHEEP_BASE_URL;
  if (!baseURL) {
    throw new GatewayConfigError(
      'GATEWAY_BASE_URL: not set on the worker; set it to your OpenAI-compatible base URL (e.g. https://api.openai.com/v1) or give the arm a baseURL',
    );
  }
  const apiKeyEnv = t.apiKeyEnv ?? (env.GATEWAY_API_KEY || !env.HOLYSHEEP_API_KEY ? 'GATEWAY_API_KEY' : 'HOLYSHEEP_API_KEY');
  // Checked against this process's own policy before the key is read: the arm comes from workflow input.
  try {
    UpstreamPolicy.forWorker(env).check(baseURL, apiKeyEnv);
  } catch (err) {
    throw new GatewayConfigError((err as Error).message);
  }
  const apiKey = env[apiKeyEnv];
  if (!apiKey) {
    throw new GatewayConfigError(
      `${apiKeyEnv}: not set in the worker's environment; export the gateway key there (it is never taken from a spec or workflow input)`,
    );
  }
  return { baseURL, apiKey, apiKeyEnv };
}

const clients = new Map<string, OpenAI>();

export function gatewayClient(t: GatewayTarget, opts: { timeoutMs?: number } = {}, env: NodeJS.ProcessEnv = process.env): OpenAI {
  const { baseURL, apiKey, apiKeyEnv } = resolveGateway(t, env);
  const timeout = opts.timeoutMs ?? 60_000;
  // The key's variable name (not its value) is part of the cache key; a rotated value in the same
  // variable is picked up because the value is compared too.
  const cacheKey = `${baseURL}\u0000${apiKeyEnv}\u0000${timeout}`;
  const existing = clients.get(cacheKey);
  if (existing && existing.apiKey === apiKey) return existing;
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout });
  clients.set(cacheKey, client);
  return client;
}

/** A short, key-free label for a gateway in messages (host only). */
export function gatewayLabel(baseURL: string): string {
  try {
    return new URL(baseURL).host;
  } catch {
    return baseURL;
  }
}
