/**
 * Which environment variables the router may read as an upstream key, and which upstream origins a
 * rollout may point it at. A rollout's arms (`baseURL`, `apiKeyEnv`) come from whoever started the
 * rollout, so they are checked against what the router's operator configured: never an arbitrary
 * `*_KEY` variable, never a host the operator did not name.
 */

/** The router's own secrets and Temporal's: never sent to an upstream, whatever the config says. */
export function isForbiddenKeyEnv(name: string): boolean {
  return name === 'ROUTER_API_KEYS' || name.startsWith('TEMPORAL_');
}

/** Key variables every router may use: the gateway's (and the seed design's name for it). */
export const BUILTIN_KEY_ENVS: readonly string[] = ['GATEWAY_API_KEY', 'HOLYSHEEP_API_KEY'];

/** "A, B ,C" → ["A", "B", "C"] */
export function splitList(text: string | undefined): string[] {
  return (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
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
