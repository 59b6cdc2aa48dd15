/** Shared helpers for the decision tests: outcomes, arms, and paired probe records drawn from the bench's scenarios. */
import { emptyArmStats, recordOutcome, type ArmStats, type Outcome } from '../../src/decision/arm-stats';
import { DEFAULT_GUARDS, type Guards } from '../../src/decision/guards-schema';
import type { Evaluation, GuardName, GuardResult } from '../../src/decision/verdict';
import * as m from '../../src/rollout/machine';
import type { RolloutSpec } from '../../src/rollout/spec';
import { benchSpec, BLUE, DEFAULT_CONFIG, mulberry32, normal, probeRound, type ArmModel, type Scenario } from '../../bench/verdicts';

export const ok = (latencyMs = 400, costUsd = 0.0003): Outcome => ({ ok: true, latencyMs, inputTokens: 300, outputTokens: 150, costUsd });
export const err = (errorClass: Outcome['errorClass'] = 'server'): Outcome => ({
  ok: false,
  errorClass,
  latencyMs: 50,
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
});

/** One answered request from an arm model: lognormal latency and output tokens. */
export function draw(rng: () => number, model: ArmModel = BLUE): Outcome {
  const sigma = (Math.log(model.latency.p99) - Math.log(model.latency.p50)) / 2.3263478740408408;
  const out = Math.round(model.outputTokens.p50 * Math.exp(0.6 * normal(rng)));
  return {
    ok: true,
    latencyMs: model.latency.p50 * Math.exp(sigma * normal(rng)),
    inputTokens: model.inputTokens,
    outputTokens: out,
    costUsd: (model.inputTokens * model.priceIn + out * model.priceOut) / 1e6,
  };
}

/** n outcomes with exactly `errors` server errors, latency/cost drawn from `model` with a fixed seed. */
export function arm(n: number, errors: number, seed = 1, model: ArmModel = BLUE): ArmStats {
  const rng = mulberry32(seed);
  const s = emptyArmStats();
  for (let i = 0; i < n; i++) recordOutcome(s, i < errors ? err() : draw(rng, model));
  return s;
}

export const G: Guards = DEFAULT_GUARDS;
export const guard = (ev: Evaluation, g: GuardName, scope: GuardResult['scope'] = 'record') =>
  ev.guards.find((r) => r.guard === g && r.scope === scope)!;

/**
 * A rollout state at the step `stepIndex` (0-based) after `pairs` probe pairs of the scenario, recorded as
 * the workflow records them (the rounds' thresholds from the record before each round).
 */
export function recorded(
  sc: Scenario,
  pairs: number,
  opts: { seed?: number; stepIndex?: number; spec?: RolloutSpec } = {},
): { spec: RolloutSpec; state: m.RolloutState } {
  const spec = opts.spec ?? benchSpec(sc, DEFAULT_CONFIG);
  const rng = mulberry32(opts.seed ?? 1);
  let s = m.preflightPassed(m.initialState('t0'));
  for (let i = 0; i <= (opts.stepIndex ?? 0); i++) s = m.advance(spec, s, 0);
  let t = 0;
  for (let done = 0; done < pairs; done += spec.probesPerRound) {
    const r = probeRound(
      rng,
      sc,
      DEFAULT_CONFIG,
      Math.min(spec.probesPerRound, pairs - done),
      t,
      s.greenPercent,
      m.nextRound(spec, s).promptOffset,
      spec.prompts.length,
    );
    t += r.secs;
    s = m.recordRound(spec, s, { round: r.round });
  }
  return { spec, state: s };
}
