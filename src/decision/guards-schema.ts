/**
 * Zod schema of the rollout spec's `guards:` block (unknown keys refused). Workflow code should
 * not import this file (it pulls in zod); use DEFAULT_GUARDS from './defaults' and `import type`.
 * Semantics of every field: src/decision/README.md.
 */
import { z } from 'zod';
import { GUARD_DEFAULT_VALUES as D } from './defaults';

const rate = z.number().min(0).max(1);
const nonNeg = z.number().min(0);

export const LatencyGuardsSchema = z.strictObject({
  enabled: z.boolean().default(D.latency.enabled),
  /** green p99 may be <= blue p99 x (1 + p99Tolerance). */
  p99Tolerance: nonNeg.default(D.latency.p99Tolerance),
  /** green p50 may be <= blue p50 x (1 + p50Tolerance); omit via `null` to disable the p50 guard. */
  p50Tolerance: nonNeg.nullable().default(D.latency.p50Tolerance),
});

export const CostGuardsSchema = z.strictObject({
  enabled: z.boolean().default(D.cost.enabled),
  /** green cost per successful request may be <= blue's x (1 + maxIncrease). */
  maxIncrease: nonNeg.default(D.cost.maxIncrease),
  /** Optional hard cap on green's spend over the whole rollout (USD). */
  spendCapUsd: z.number().positive().optional(),
});

export const CheckGuardsSchema = z.strictObject({
  enabled: z.boolean().default(D.checks.enabled),
  /** tolerated green - blue golden-check fail rate. */
  maxFailRateIncrease: rate.default(D.checks.maxFailRateIncrease),
});

export const RateLimitGuardsSchema = z.strictObject({
  /** green 429 share (of green requests) above which the step is held (Inconclusive + greenRateLimitedHold). */
  maxGreenShare: rate.default(D.rateLimit.maxGreenShare),
});

export const GuardsSchema = z.strictObject({
  /** Absolute ceiling on green's error rate, judged with confidence (lower bound > ceiling -> Fail). */
  maxErrorRate: rate.default(D.maxErrorRate),
  /** Tolerated green - blue error-rate difference. */
  maxErrorRateIncrease: rate.default(D.maxErrorRateIncrease),
  /** Per-arm answered requests before any verdict but an obvious one. */
  minSamples: z.number().int().min(1).max(100_000, 'expected at most 100000 (more samples than a rollout ever takes)').default(D.minSamples),
  /** Per-guard error probability of the always-valid confidence sequences (two-sided). */
  alpha: z.number().gt(0).max(0.2).default(D.alpha),
  latency: LatencyGuardsSchema.default(() => ({ ...D.latency })),
  cost: CostGuardsSchema.default(() => ({ ...D.cost })),
  checks: CheckGuardsSchema.default(() => ({ ...D.checks })),
  rateLimit: RateLimitGuardsSchema.default(() => ({ ...D.rateLimit })),
  /** Inconclusive rounds at one step before the spec's hold policy applies. */
  maxHoldRounds: z.number().int().min(0).max(10_000).default(D.maxHoldRounds),
});

export type Guards = z.output<typeof GuardsSchema>;
export type GuardsInput = z.input<typeof GuardsSchema>;
export { DEFAULT_GUARDS } from './defaults';
