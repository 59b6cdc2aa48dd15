/** Shared helpers for the decision tests: outcomes, arms drawn from the bench's distributions. */
import { emptyArmStats, recordOutcome, type ArmStats, type Outcome } from '../../src/decision/arm-stats';
import { evaluate, type GuardName } from '../../src/decision/verdict';
import { DEFAULT_GUARDS, type Guards } from '../../src/decision/guards-schema';
import { BLUE, draw, mulberry32, type ArmModel } from '../../bench/verdicts';

export const ok = (latencyMs = 400, costUsd = 0.0003): Outcome => ({ ok: true, latencyMs, inputTokens: 300, outputTokens: 150, costUsd });
export const err = (errorClass: Outcome['errorClass'] = 'server'): Outcome => ({ ok: false, errorClass, latencyMs: 50, inputTokens: 0, outputTokens: 0, costUsd: 0 });

/** n outcomes with exactly `errors` server errors, latency/cost drawn from `model` with a fixed seed. */
export function arm(n: number, errors: number, seed = 1, model: ArmModel = BLUE): ArmStats {
  const rng = mulberry32(seed);
  const s = emptyArmStats();
  for (let i = 0; i < n; i++) {
    if (i < errors) recordOutcome(s, err());
    else {
      let o = draw(rng, model);
      while (!o.ok) o = draw(rng, model);
      recordOutcome(s, o);
    }
  }
  return s;
}
export const guard = (ev: ReturnType<typeof evaluate>, g: GuardName) => ev.guards.find((r) => r.guard === g)!;
export const G: Guards = DEFAULT_GUARDS;
