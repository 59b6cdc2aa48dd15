/**
 * Which upstream keys and hosts the router may use. A rollout's arms (`baseURL`, `apiKeyEnv`) come from
 * whoever started the rollout, so they are checked against what the router's OPERATOR configured:
 * never an arbitrary `*_KEY` variable, never a host the operator did not name, and never — whatever the
 * config says — the router's own client keys (ROUTER_API_KEYS) or Temporal's secrets (TEMPORAL_*).
 *
 * Allowed key variables: GATEWAY_API_KEY, HOLYSHEEP_API_KEY, the gateway's `apiKeyEnv`, the targets'
 * configured ones and `keyEnvs` (ROUTER_KEY_ENVS). Allowed origins: the gateway's, the targets'
 * configured baseURLs' and `allowedOrigins` (ROUTER_ALLOWED_ORIGINS). An arm outside them is refused
 * (an ArmProblem), never quietly served with the gateway's key or host instead.
 */

/** The router's own secrets and Temporal's: never sent to an upstream, whatever the config says. */
export function isForbiddenKeyEnv(name: string): boolean {
  return name === 'ROUTER_API_KEYS' || name.startsWith('TEMPORAL_');
}

/** Key variables every router may use: the gateway's (and the seed design's name for it). */
export const BUILTIN_KEY_ENVS: readonly string[] = ['GATEWAY_API_KEY', 'HOLYSHEEP_API_KEY'];

/** The origin of an http(s) URL, or undefined when it is not one. */
export function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}
