/**
 * Per-arm live aggregate: the shared `ArmStats` of src/decision/arm-stats (compact, mergeable, the
 * same shape the rollout's `liveMetrics` signal carries). The router only uses these four names, so
 * the aggregate's shape lives in one place.
 */
import { emptyArmStats, mergeArmStats, recordOutcome, type ArmStats, type ErrorClass, type Outcome } from '../decision/arm-stats';

export type { ErrorClass, Outcome };
export type LiveArmStats = ArmStats;

export const emptyLive = (): LiveArmStats => emptyArmStats();
export const recordLive = (s: LiveArmStats, o: Outcome): void => void recordOutcome(s, o);
export const mergeLive = (a: LiveArmStats, b: LiveArmStats): LiveArmStats => mergeArmStats(a, b);
/** The aggregate in the shape the rollout workflow's `liveMetrics` signal carries. */
export const toArmStats = (s: LiveArmStats): ArmStats => s;
/** A request that failed: no tokens, no cost. */
export const failedOutcome = (errorClass: ErrorClass, latencyMs: number): Outcome => ({
  ok: false,
  errorClass,
  latencyMs,
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
});
