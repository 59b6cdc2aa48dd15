/**
 * Per-arm live aggregate: the shared `ArmStats` of src/decision/arm-stats (compact, mergeable, the
 * shape the rollout's `liveMetrics` signal carries, its histogram sparse on the wire). The router uses
 * these names only, so the aggregate's shape lives in one place.
 */
import { emptyArmStats, mergeArmStats, recordOutcome, type ArmStats, type ErrorClass, type Outcome } from '../decision/arm-stats';

export type { ErrorClass, Outcome };
export type LiveArmStats = ArmStats;

export const emptyLive = (): LiveArmStats => emptyArmStats();
export const recordLive = (s: LiveArmStats, o: Outcome): void => void recordOutcome(s, o);
export const mergeLive = (a: LiveArmStats, b: LiveArmStats): LiveArmStats => mergeArmStats(a, b);
/** A request that failed: no tokens, no cost. */
export const failedOutcome = (errorClass: ErrorClass, latencyMs: number): Outcome => ({
  ok: false,
  errorClass,
  latencyMs,
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
});
