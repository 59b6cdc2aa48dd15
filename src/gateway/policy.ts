/**
 * Which keys a process may send and where: the upstream policy of the worker (and the router). A rollout's
 * or experiment's arms name a base URL and the environment variable holding the key; whoever can start a
 * workflow on the task queue chooses them. So the process that holds the keys checks every arm against its
 * OWN configuration before it sends anything:
 * - a key only from an allowed variable: the gateway's (GATEWAY_API_KEY, HOLYSHEEP_API_KEY) and those the
 *   operator lists (WORKER_KEY_ENVS for the worker) — never TEMPORAL_* or ROUTER_API_KEYS;
 * - a base URL only on an allowed origin: the gateway's (GATEWAY_BASE_URL, HOLYSHEEP_BASE_URL) and those the
 *   operator lists (WORKER_ALLOWED_ORIGINS) — so a spec cannot point the worker at a metadata service;
 * - never a base URL that carries credentials or a query (a key in a URL ends up in logs and history).
 */
import { BadInput } from '../errors';

export class UpstreamRefused extends BadInput {
  override name = 'UpstreamRefused';
}

/** Key variables every process may use: the gateway's, under its two names. */
export const BUILTIN_KEY_ENVS: readonly string[] = ['GATEWAY_API_KEY', 'HOLYSHEEP_API_KEY'];

/** The router's own secret and Temporal's: never sent to an upstream, whatever the configuration says. */
export function isForbiddenKeyEnv(name: string): boolean {
  return name === 'ROUTER_API_KEYS' || name.startsWith('TEMPORAL_');
}

/** The origin of an http(s) URL, or undefined when it is not one. */
export function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/** Why a base URL may not be used whatever the allow-list says (credentials or a query in it), or undefined. */
export function unsafeBaseURL(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (u.username || u.password) return 'carries credentials (user:password@); name the key variable in apiKeyEnv instead';
  if (u.search || u.hash) return 'carries a query or fragment (a key in a URL ends up in logs); name the key variable in apiKeyEnv instead';
  return undefined;
}

/** "A, B ,C" → ["A", "B", "C"] */
const list = (text: string | undefined) =>
  (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export interface UpstreamPolicyOptions {
  /** the default gateway (its origin is always allowed) */
  gatewayBaseURL?: string;
  /** further allowed key variables */
  keyEnvs?: readonly string[];
  /** further allowed origins (http(s) URLs; only their origin counts) */
  origins?: readonly string[];
  /** the variable names to cite in messages (default the worker's) */
  names?: { keyEnvs: string; origins: string };
}

export class UpstreamPolicy {
  readonly keyEnvs: ReadonlySet<string>;
  readonly origins: ReadonlySet<string>;
  private readonly names: { keyEnvs: string; origins: string };

  constructor(o: UpstreamPolicyOptions) {
    this.names = o.names ?? { keyEnvs: 'WORKER_KEY_ENVS', origins: 'WORKER_ALLOWED_ORIGINS' };
    const keys = new Set([...BUILTIN_KEY_ENVS, ...(o.keyEnvs ?? [])]);
    for (const k of keys)
      if (isForbiddenKeyEnv(k))
        throw new UpstreamRefused(
          `${this.names.keyEnvs}: ${k} is the router's or Temporal's own secret and is never sent upstream; remove it`,
        );
    this.keyEnvs = keys;
    const origins = new Set<string>();
    for (const url of [o.gatewayBaseURL, ...(o.origins ?? [])]) {
      if (url === undefined) continue;
      const origin = originOf(url);
      if (!origin)
        throw new UpstreamRefused(
          `${this.names.origins}: expected http(s) origins such as https://api.openai.com, got ${JSON.stringify(url)}`,
        );
      origins.add(origin);
    }
    this.origins = origins;
  }

  /** The worker's policy from its environment: GATEWAY_BASE_URL (or HOLYSHEEP_BASE_URL), WORKER_KEY_ENVS, WORKER_ALLOWED_ORIGINS. */
  static forWorker(env: NodeJS.ProcessEnv = process.env): UpstreamPolicy {
    const key = `${env.GATEWAY_BASE_URL}\u0000${env.HOLYSHEEP_BASE_URL}\u0000${env.WORKER_KEY_ENVS}\u0000${env.WORKER_ALLOWED_ORIGINS}`;
    if (workerPolicy?.key !== key) {
      workerPolicy = {
        key,
        policy: new UpstreamPolicy({
          gatewayBaseURL: env.GATEWAY_BASE_URL || env.HOLYSHEEP_BASE_URL || undefined,
          keyEnvs: list(env.WORKER_KEY_ENVS),
          origins: [
            ...list(env.WORKER_ALLOWED_ORIGINS),
            ...(env.HOLYSHEEP_BASE_URL && env.GATEWAY_BASE_URL ? [env.HOLYSHEEP_BASE_URL] : []),
          ],
        }),
      };
    }
    return workerPolicy.policy;
  }

  /** Throws UpstreamRefused (one line naming the field and the fix) unless this arm may be called. */
  check(baseURL: string, apiKeyEnv: string): void {
    const unsafe = unsafeBaseURL(baseURL);
    if (unsafe) throw new UpstreamRefused(`baseURL: ${unsafe}`);
    if (isForbiddenKeyEnv(apiKeyEnv))
      throw new UpstreamRefused(`apiKeyEnv: ${apiKeyEnv} is never sent upstream (it is Temporal's or the router's own secret)`);
    if (!this.keyEnvs.has(apiKeyEnv)) {
      throw new UpstreamRefused(
        `apiKeyEnv: ${apiKeyEnv} is not an allowed key variable here (allowed: ${[...this.keyEnvs].join(', ')}); add it to ${this.names.keyEnvs}`,
      );
    }
    const origin = originOf(baseURL);
    if (!origin || !this.origins.has(origin)) {
      const allowed = this.origins.size ? [...this.origins].join(', ') : 'none: GATEWAY_BASE_URL is not set';
      throw new UpstreamRefused(
        `baseURL: ${origin ?? baseURL} is not an allowed origin here (allowed: ${allowed}); add it to ${this.names.origins}`,
      );
    }
  }
}

let workerPolicy: { key: string; policy: UpstreamPolicy } | undefined;
