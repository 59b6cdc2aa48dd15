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
import { hash, timingSafeEqual } from 'node:crypto';
import type { ArmRef } from '../gateway/arm';

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

export type ArmProblemCode = 'upstream_key_not_allowed' | 'upstream_key_missing' | 'upstream_origin_not_allowed' | 'no_upstream';

/** Why an arm cannot be called (its key variable or origin is not allowed, or there is no upstream). */
export class ArmProblem {
  constructor(
    readonly code: ArmProblemCode,
    /** for the log (names variables and hosts; never a key) */
    readonly detail: string,
  ) {}
}

/** Where a request may go and the credentials it carries there. */
export interface Grant {
  baseURL: string;
  authorization: string;
  /** the key itself: scrubbed from any error body the upstream sends back */
  secret: string;
}

export interface PolicyConfig {
  gateway: { baseURL?: string; apiKeyEnv: string };
  /** each target's configured blue arm */
  targets: ReadonlyMap<string, { blue: ArmRef }>;
  keyEnvs?: readonly string[];
  allowedOrigins?: readonly string[];
  /** where key variables are read */
  env: NodeJS.ProcessEnv;
}

export class UpstreamPolicy {
  private readonly keyEnvs: Set<string>;
  private readonly origins = new Set<string>();
  /** baseURL → whether its origin is allowed (cached: rollouts repeat theirs) */
  private readonly originChecked = new Map<string, boolean>();

  /** Throws when the configuration itself names a forbidden key variable or a URL that is not http(s). */
  constructor(private readonly c: PolicyConfig) {
    this.keyEnvs = new Set<string>([...BUILTIN_KEY_ENVS, c.gateway.apiKeyEnv, ...(c.keyEnvs ?? [])]);
    for (const t of c.targets.values()) if (t.blue.apiKeyEnv) this.keyEnvs.add(t.blue.apiKeyEnv);
    for (const name of this.keyEnvs)
      if (isForbiddenKeyEnv(name))
        throw new Error(`router: ${name} can never be used as an upstream key (it is the router's or Temporal's own secret)`);
    for (const [where, url] of [
      ['gateway.baseURL', c.gateway.baseURL],
      ...[...c.targets].map(([name, t]) => [`targets.${name}.blue.baseURL`, t.blue.baseURL]),
      ...(c.allowedOrigins ?? []).map((o) => ['allowedOrigins', o]),
    ] as Array<[string, string | undefined]>) {
      if (url === undefined) continue;
      const origin = originOf(url);
      if (!origin) throw new Error(`router: ${where}: expected an http(s) URL, got ${JSON.stringify(url)}`);
      this.origins.add(origin);
    }
  }

  originAllowed(base: string): boolean {
    let ok = this.originChecked.get(base);
    if (ok === undefined) {
      const origin = originOf(base);
      ok = origin !== undefined && this.origins.has(origin);
      if (this.originChecked.size < 10_000) this.originChecked.set(base, ok);
    }
    return ok;
  }

  /**
   * The upstream and key for an arm. `cfg` is the target's configured blue: a blue without a baseURL of
   * its own uses the configured one (and its key variable); a green without one (cfg undefined) uses the
   * gateway, as the worker does. A key variable that is not allowed, or allowed but unset, and a baseURL
   * whose origin the operator did not configure, are refused — never replaced by the gateway's key or host.
   */
  resolve(ref: ArmRef, cfg: ArmRef | undefined): Grant | ArmProblem {
    const base = ref.baseURL ?? cfg?.baseURL ?? this.c.gateway.baseURL;
    if (!base) return new ArmProblem('no_upstream', 'no baseURL and no gateway configured');
    if (!this.originAllowed(base))
      return new ArmProblem(
        'upstream_origin_not_allowed',
        `baseURL ${originOf(base) ?? JSON.stringify(base)} is not the gateway's origin, a configured target's, or in ROUTER_ALLOWED_ORIGINS`,
      );
    const named = ref.baseURL ? ref.apiKeyEnv : (ref.apiKeyEnv ?? cfg?.apiKeyEnv);
    const keyEnv = named ?? this.c.gateway.apiKeyEnv;
    if (!this.keyEnvs.has(keyEnv) || isForbiddenKeyEnv(keyEnv))
      return new ArmProblem(
        'upstream_key_not_allowed',
        `apiKeyEnv ${keyEnv} is not the gateway's key variable, a configured target's, or in ROUTER_KEY_ENVS`,
      );
    const secret = this.c.env[keyEnv] ?? '';
    // an unset gateway key is sent as it is (a gateway without keys); an arm's own key variable must be set
    if (named !== undefined && secret === '')
      return new ArmProblem('upstream_key_missing', `apiKeyEnv ${keyEnv} is not set in the router's environment`);
    return { baseURL: base, authorization: `Bearer ${secret}`, secret };
  }

  /**
   * The default upstream (pass-through models and paths): the gateway with its key, or else the first
   * target's configured baseURL with THAT target's key variable (the gateway's when it names none) —
   * never the gateway's key to a host configured with a key of its own. Undefined when neither is configured.
   */
  gateway(): Grant | undefined {
    const first = [...this.c.targets.values()][0]?.blue;
    const base = this.c.gateway.baseURL ?? first?.baseURL;
    if (!base) return undefined;
    const keyEnv = this.c.gateway.baseURL ? this.c.gateway.apiKeyEnv : (first?.apiKeyEnv ?? this.c.gateway.apiKeyEnv);
    const secret = this.c.env[keyEnv] ?? '';
    return { baseURL: base, authorization: `Bearer ${secret}`, secret };
  }
}

const sha256 = (s: string): Buffer => hash('sha256', s, 'buffer');

/**
 * The client keys (ROUTER_API_KEYS), kept only as SHA-256 hashes and compared in constant time: the hash
 * of the presented token against every key's with crypto.timingSafeEqual, all of them every time, so
 * neither a key's bytes nor which key matched shows in the response time.
 */
export class ClientKeys {
  private readonly hashes: Buffer[];

  constructor(keys: readonly string[]) {
    this.hashes = [...new Set(keys.map((k) => k.trim()).filter(Boolean))].map(sha256);
  }

  get size(): number {
    return this.hashes.length;
  }

  accepts(token: string): boolean {
    const h = sha256(token);
    let ok = 0;
    for (const k of this.hashes) ok |= timingSafeEqual(h, k) ? 1 : 0;
    return ok === 1;
  }
}
