// Mutable per-model state: profile, seeded RNG, rate-limit bucket and outcome counters.
import { DEFAULT_PROFILE, mergeProfile, type FaultProfile } from './profiles';
import { TokenBucket } from './ratelimit';
import { mulberry32, seedFor, type Rng } from '../stats/rng';

/** Per-model request counts by outcome (decided when the request is accepted). */
export interface SimModelStats {
  /** All chat requests for this model that passed auth and validation. */
  requests: number;
  ok: number;
  /** Answered 500 or 503. */
  serverError: number;
  rateLimited: number;
  /** Accepted and never answered. */
  timeout: number;
  malformed: number;
  /** How many of `requests` asked for `stream: true`. */
  streamed: number;
}

const emptyStats = (): SimModelStats => ({ requests: 0, ok: 0, serverError: 0, rateLimited: 0, timeout: 0, malformed: 0, streamed: 0 });

export interface ModelState {
  profile: FaultProfile;
  rng: Rng;
  /** Output behaviours' draws (src/sim/behaviour.ts): a stream of its own, so the fault draws above stay as they were. */
  outputRng: Rng;
  bucket: TokenBucket | null;
  stats: SimModelStats;
  created: number;
}

const CREATED = 1_735_689_600; // 2025-01-01T00:00:00Z, fixed so /v1/models is deterministic

export class ModelRegistry {
  private models = new Map<string, ModelState>();

  constructor(
    private readonly seed: number,
    private readonly initial: Record<string, FaultProfile>,
  ) {
    this.reset();
  }

  /** Restore the initial profiles, zero the stats, reseed the RNGs and refill the buckets. */
  reset(): void {
    this.models.clear();
    for (const [name, profile] of Object.entries(this.initial)) this.models.set(name, this.fresh(name, profile));
  }

  get(model: string): ModelState | undefined {
    return this.models.get(model);
  }

  names(): string[] {
    return [...this.models.keys()];
  }

  profiles(): Record<string, FaultProfile> {
    return Object.fromEntries([...this.models].map(([k, v]) => [k, v.profile]));
  }

  stats(): Record<string, SimModelStats> {
    return Object.fromEntries([...this.models].map(([k, v]) => [k, { ...v.stats }]));
  }

  /** Merge a validated patch over the model's profile (adding the model from defaults if new). Throws on bad input. */
  patch(model: string, patch: unknown): FaultProfile {
    const state = this.models.get(model);
    const profile = mergeProfile(state?.profile ?? DEFAULT_PROFILE, patch);
    if (!state) {
      this.models.set(model, this.fresh(model, profile));
    } else {
      if (profile.rpm !== state.profile.rpm) state.bucket = profile.rpm === null ? null : new TokenBucket(profile.rpm);
      state.profile = profile;
    }
    return profile;
  }

  private fresh(name: string, profile: FaultProfile): ModelState {
    return {
      profile,
      rng: mulberry32(seedFor(this.seed, name)),
      outputRng: mulberry32(seedFor(this.seed, `${name}\u0000output`)),
      bucket: profile.rpm === null ? null : new TokenBucket(profile.rpm),
      stats: emptyStats(),
      created: CREATED,
    };
  }
}

export function ownedBy(model: string): string {
  if (/^(gpt|o\d|chatgpt)/i.test(model)) return 'openai';
  if (/^claude/i.test(model)) return 'anthropic';
  if (/^gemini/i.test(model)) return 'google';
  if (/^deepseek/i.test(model)) return 'deepseek';
  return 'modelshift-sim';
}
