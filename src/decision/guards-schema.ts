/**
 * Zod schema of the rollout spec's `guards:` block (unknown keys refused). Workflow code should
 * not import this file (it pulls in zod); use DEFAULT_GUARDS from './defaults' and `import type`.
 * Semantics of every field: src/decision/README.md.
 */
import { z } from 'zod';
import { GUARD_DEFAULT_VALUES as D } from './defaults';
import { parseDuration } from '../spec/duration';
import { armFields } from '../gateway/arm-schema';

const rate = z.number().min(0).max(1);
const nonNeg = z.number().min(0);

export const LatencyGuardsSchema = z
  .strictObject({
    enabled: z.boolean().default(D.latency.enabled),
    /** green's median may be <= blue's x (1 + p50Tolerance); `null` disables the typical-latency guard. */
    p50Tolerance: nonNeg.max(10).nullable().default(D.latency.p50Tolerance),
    /** green's tail quantile may be <= blue's x (1 + tailTolerance). */
    tailTolerance: nonNeg.max(10).optional(),
    /** the tail quantile judged (0.9 to 0.999; default 0.99). */
    tailQuantile: z.number().min(0.9).max(0.999).default(D.latency.tailQuantile),
    /** pairs after which a suspect tail (heavier than blue's) is judged by its estimated ratio. */
    tailDecisionPairs: z.number().int().min(100).max(1_000_000).default(D.latency.tailDecisionPairs),
    /** the earlier name of tailTolerance (with tailQuantile 0.99). */
    p99Tolerance: nonNeg.max(10).optional(),
  })
  .transform(({ p99Tolerance, tailTolerance, ...rest }) => ({
    ...rest,
    tailTolerance: tailTolerance ?? p99Tolerance ?? D.latency.tailTolerance,
  }));

export const CostGuardsSchema = z.strictObject({
  enabled: z.boolean().default(D.cost.enabled),
  /** green cost per pair may be <= blue's x (1 + maxIncrease). */
  maxIncrease: nonNeg.max(100).default(D.cost.maxIncrease),
  /** Optional hard cap on green's probe spend over the whole rollout (USD). */
  spendCapUsd: z.number().positive().optional(),
});

export const CheckGuardsSchema = z.strictObject({
  enabled: z.boolean().default(D.checks.enabled),
  /** tolerated green − blue golden-check fail rate, pooled and per prompt. */
  maxFailRateIncrease: rate.default(D.checks.maxFailRateIncrease),
});

export const RateLimitGuardsSchema = z.strictObject({
  /** how far green's 429 share of a round may exceed blue's before the step waits for green's capacity (429s are not errors). */
  maxGreenShare: rate.default(D.rateLimit.maxGreenShare),
});

export const GatewayHealthSchema = z.strictObject({
  /** share of a round's pairs where BOTH arms failed above which the step waits (a shared outage, not green's fault). */
  maxBothFailedShare: rate.default(D.gatewayHealth.maxBothFailedShare),
});

/**
 * The LLM judge of shadow pairs (issue 14): a third model through the gateway grades green's answer against
 * blue's, blind and in random order, on `samplePercent` of the mirrored pairs. Its apiKeyEnv obeys the same
 * key policy as the arms' (WORKER_KEY_ENVS / the router's). The shadow phase fails when green's net loss
 * rate (losses − wins over judged pairs, a paired difference) is confidently above maxLossRate.
 */
export const JudgeGuardSchema = z.strictObject({
  ...armFields,
  /** what the judge is told to value (default: the router's built-in rubric) */
  rubric: z.string().trim().min(1).max(2000).optional(),
  /** tolerated net loss rate of green against blue among judged pairs */
  maxLossRate: rate.default(0.1),
  /** share of mirrored pairs the judge grades, 0–100 */
  samplePercent: z.number().gt(0).max(100).default(20),
});

const waitMs = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v * 1000 : parseDuration(v);
  if (ms === undefined || ms < 0 || ms > 7 * 24 * 3_600_000) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 30m or 2h, at most 7 days (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }
  return ms;
});

export const GuardsSchema = z
  .strictObject({
    /** Ceiling on what green adds to blue's error rate (paired): lower bound above it → Fail at once. */
    maxErrorRate: rate.default(D.maxErrorRate),
    /** Tolerated green − blue error-rate difference. */
    maxErrorRateIncrease: rate.default(D.maxErrorRateIncrease),
    /** Judged probe pairs before any verdict but an obvious Fail. */
    minSamples: z
      .number()
      .int()
      .min(1)
      .max(100_000, 'expected at most 100000 (more samples than a rollout ever takes)')
      .default(D.minSamples),
    /** Per-guard error probability of the always-valid confidence sequences (two-sided). */
    alpha: z.number().gt(0).max(0.2).default(D.alpha),
    latency: LatencyGuardsSchema.default(() => ({ ...D.latency })),
    cost: CostGuardsSchema.default(() => ({ ...D.cost })),
    checks: CheckGuardsSchema.default(() => ({ ...D.checks })),
    rateLimit: RateLimitGuardsSchema.default(() => ({ ...D.rateLimit })),
    gatewayHealth: GatewayHealthSchema.default(() => ({ ...D.gatewayHealth })),
    /** Pairs a step's own window needs (and a point estimate within tolerance) before the step passes. */
    windowMinPairs: z.number().int().min(0).max(100_000).default(D.windowMinPairs),
    /** Judged pairs the whole rollout needs before its last step can promote (the tail and per-prompt checks need them). */
    promoteMinPairs: z.number().int().min(0).max(1_000_000).default(D.promoteMinPairs),
    /** Pairs judged while Inconclusive at one step before the spec's onFailure applies (waits and planned collection do not count). */
    maxHoldPairs: z.number().int().min(1).max(10_000_000).default(D.maxHoldPairs),
    /** The earlier budget in rounds: maxHoldPairs = maxHoldRounds × plan.probesPerRound. */
    maxHoldRounds: z.number().int().min(1).max(100_000).optional(),
    /** Time a step may wait for capacity (429s) or a healthy gateway before onFailure applies. */
    maxWait: waitMs.optional(),
    /** An LLM judge of shadow pairs (optional; see JudgeGuardSchema). */
    judge: JudgeGuardSchema.optional(),
  })
  .transform(({ maxWait, ...rest }) => ({ ...rest, maxWaitMs: maxWait ?? D.maxWaitMs }));

export type Guards = z.output<typeof GuardsSchema>;
export type GuardsInput = z.input<typeof GuardsSchema>;
export { DEFAULT_GUARDS } from './defaults';
