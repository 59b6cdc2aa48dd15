/**
 * Default guards as a plain object (no zod), so workflow code can use them without bundling zod.
 * GuardsSchema.parse({}) deep-equals this (tested). Semantics of every field: src/decision/README.md.
 */
import type { Guards } from './guards-schema';

/** Raw values (typed by inference, so the schema can use them without a circular type). */
export const GUARD_DEFAULT_VALUES = {
  maxErrorRate: 0.05,
  maxErrorRateIncrease: 0.02,
  minSamples: 50,
  alpha: 0.05,
  latency: { enabled: true, p50Tolerance: 0.2, tailTolerance: 0.2, tailQuantile: 0.99, tailDecisionPairs: 3200 },
  cost: { enabled: true, maxIncrease: 0.25 },
  checks: { enabled: true, maxFailRateIncrease: 0.05 },
  rateLimit: { maxGreenShare: 0.1 },
  gatewayHealth: { maxBothFailedShare: 0.2 },
  windowMinPairs: 100,
  promoteMinPairs: 600,
  maxHoldPairs: 3000,
  maxWaitMs: 30 * 60_000,
};

export const DEFAULT_GUARDS: Guards = GUARD_DEFAULT_VALUES;
