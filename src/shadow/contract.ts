/**
 * The shadow phase's contract between the router and the rollout (workflow-safe: types and constants only).
 *
 * During a rollout's shadow phase (phase `shadow`, before any user is served by green) the router answers
 * every user from blue as usual and, for `percent` of the target's requests, sends the same request to
 * green afterwards — off the user's path: the user's answer never waits for green, and a full mirror queue
 * drops mirrors, never users. The two answers are compared in the router's memory and discarded; only
 * numbers leave it: one ShadowBatch per target and report interval, as a `shadowMetrics` signal.
 */
import type { ProbeRound } from '../decision/paired';

/** What the rollout asks of routers while it is in its shadow phase (from the `status` query). */
export interface ShadowRequest {
  /** share of the target's requests mirrored to green, 0–100 */
  percent: number;
  /** set once green's shadow spend reached the cap (or the phase has its pairs), and while the rollout is paused: stop mirroring */
  stopped?: boolean;
  /** also ask the judge (guards.judge) on this share of mirrored pairs, 0–100 */
  judgePercent?: number;
  /** the spec's judge (guards.judge): a model through the gateway and its rubric (no key: the variable's name) */
  judge?: { model: string; baseURL?: string; apiKeyEnv?: string; rubric?: string };
}

/** The most pairs one batch may carry (the router samples down beyond it): bounds history growth. */
export const MAX_SHADOW_PAIRS_PER_BATCH = 200;

/**
 * A router's shadow pairs since its last batch for one target. `round` has one entry per pair, as a probe
 * round does (prompt index 0; `output` carries the checks that need no golden answer; `judge` the judge's
 * calls where one was asked) — so the rollout judges them with the same paired statistics as probes.
 */
export interface ShadowBatch {
  /** unique per router and batch: a redelivered signal is not counted twice */
  batchId: string;
  round: ProbeRound;
  /** mirrors dropped because the queue was full, or skipped by opt-out header / excluded path or user */
  dropped: number;
  skipped: number;
  /**
   * Pairs compared but left out of `round` by sampling (more than MAX_SHADOW_PAIRS_PER_BATCH in one
   * interval), with their spend: not judged, but green's spend on them counts against maxSpendUsd.
   */
  sampledOut?: SampledOut;
}

export interface SampledOut {
  pairs: number;
  greenMicroUsd: number;
  blueMicroUsd: number;
}

export const SHADOW_SIGNAL = 'shadowMetrics';
/** Requests carrying this header (any value but "0"/"false") are never mirrored. */
export const SHADOW_OPT_OUT_HEADER = 'x-modelshift-no-shadow';
