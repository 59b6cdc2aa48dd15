/**
 * Default guards as a plain object (no zod), so workflow code can use them without bundling zod.
 * GuardsSchema.parse({}) deep-equals this (tested).
 */
import type { Guards } from './guards-schema';

/** Raw values (typed by inference, so the schema can use them without a circular type). */
export const GUARD_DEFAULT_VALUES = {
  maxErrorRate: 0.05,
  maxErrorRateIncrease: 0.02,
  minSamples: 20,
  alpha: 0.05,
  latency: { enabled: true, p99Tolerance: 0.2, p50Tolerance: 0.2 },
  cost: { enabled: true, maxIncrease: 0.25 },
  checks: { enabled: true, maxFailRateIncrease: 0.05 },
  rateLimit: { maxGreenShare: 0.1 },
  maxHoldRounds: 60,
};

export const DEFAULT_GUARDS: Guards = GUARD_DEFAULT_VALUES;
