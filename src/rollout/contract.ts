/**
 * The rollout's contract, declared once and used by the workflow and every client (CLI, demo, router,
 * tests): its input and result, phases, status shape, messages, workflow id and search attributes.
 * Safe to import from workflow code (only @temporalio/workflow and @temporalio/common, and types).
 * Messages work by name from `temporal workflow signal|update|query --name …` and the Web UI.
 */
import { defineSearchAttributeKey, type SearchAttributePair } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ArmSummary as DecisionArmSummary, WireArmStats } from '../decision/arm-stats';
import type { ProbeRound } from '../decision/paired';
import type { ShadowBatch, ShadowRequest } from '../shadow/contract';
import type { ApprovalRecord } from './controls';
import type { Evaluation } from '../decision/verdict';
import type { ArmRef } from '../gateway/arm';
import type { RetryPolicy } from '../gateway/send';
import type { RolloutState } from './machine';
import type { RolloutSpec, SamplePrompt } from './spec';

export type { ArmRef };

export type Phase = 'preflight' | 'shadow' | 'ramping' | 'paused' | 'promoted' | 'rolled_back' | 'failed';
export const CLOSED_PHASES: readonly Phase[] = ['promoted', 'rolled_back', 'failed'];
export const isClosedPhase = (p: Phase): boolean => CLOSED_PHASES.includes(p);

export interface RolloutOptions {
  /** Continue-as-new once history passes this many events (default 2,000; also on the server's suggestion). */
  historyEventLimit?: number;
}

export interface RolloutInput {
  spec: RolloutSpec;
  options?: RolloutOptions;
  /** Carried across continue-as-new; absent on the first run. */
  state?: RolloutState;
  /** Set by `modelshift retry`: the run this one retries and which attempt it is (2, 3, …); carried across continue-as-new. */
  retryOf?: RetryOf;
}

export interface RetryOf {
  runId: string;
  attempt: number;
}

export interface RolloutResult {
  target: string;
  phase: Phase;
  greenPercent: number;
  reason?: string;
  status: RolloutStatus;
}

/** One arm's numbers as the status shows them: the model plus the decision module's point summary. */
export type ArmSummary = { model: string } & DecisionArmSummary;

export interface VerdictRecord {
  step: number;
  greenPercent: number;
  round: number;
  at: string;
  evaluation: Evaluation;
}

export interface RolloutStatus {
  target: string;
  phase: Phase;
  /** 1-based index of the current step; 0 before the first step. */
  step: number;
  totalSteps: number;
  greenPercent: number;
  blue: ArmRef;
  green: ArmRef;
  /** Why the rollout ended (or paused), in one line, with the numbers. */
  reason?: string;
  /** Synthetic samples plus live traffic, cumulative, per arm. */
  arms: { blue: ArmSummary; green: ArmSummary };
  /** Live-traffic part alone (reported by routers). */
  live: { blue: ArmSummary; green: ArmSummary; batches: number; dropped: number };
  /** Paired probes: pairs judged (whole rollout and this step), the errors' 2×2 table, substitutions, spend. */
  probes: {
    /** probe rounds run (continue-as-new included) */
    rounds: number;
    pairs: number;
    sent: number;
    stepPairs: number;
    table: { bothOk: number; greenFailed: number; blueFailed: number; bothFailed: number };
    substituted: number;
    spendUsd: { blue: number; green: number };
    /** guards.judge's grades of probe pairs (set once it was asked): judged, green lost / won, its own spend */
    judge?: { asked: number; judged: number; greenLost: number; greenWon: number; spendUsd: number };
  };
  /** The last gateway error line per arm (key-free). */
  lastError?: { blue?: string; green?: string; judge?: string };
  /** Set during the shadow phase (phase `shadow`): what routers mirror to green. */
  shadow?: ShadowRequest;
  /** Set once a shadow phase began (plan.shadow): its mirrored pairs' numbers, kept after the phase. */
  shadowStats?: ShadowStats;
  /**
   * Set while the step waits (not a lack of evidence): for green's capacity, a healthy gateway, an
   * approval at a gated step, or the schedule window.
   */
  waiting?: 'capacity' | 'gateway' | 'approval' | 'window';
  /** What the step holds for, in one line, while it waits for an approval or the window (with the command to approve). */
  hold?: string;
  /** Approvals given at gated steps: who, why, when. */
  approvals?: ApprovalRecord[];
  /** Per webhook (spec.notify): events delivered and failed, the last failure. */
  notifications?: Array<{ target: string; delivered: number; failed: number; pending: number; lastError?: string }>;
  verdicts: VerdictRecord[];
  updatedAt: string;
  /** Set when the workflow ended without completing (terminated, timed_out, failed, canceled): how. */
  execution?: string;
  /** The last signal of an unknown name this rollout received (ignored), and how many times in a row. */
  ignoredSignal?: { name: string; count: number };
}

export interface ShadowStats {
  /** pairs judged (neither arm 429), of the phase's minPairs; mirrors sent; batches merged */
  pairs: number;
  minPairs: number;
  sent: number;
  batches: number;
  /** mirrors the routers dropped (full queue) and skipped (opt-out, excluded) */
  dropped: number;
  /** pairs compared but sampled out of full batches (not judged; their spend is in spendUsd) */
  sampledOut?: number;
  skipped: number;
  /** output checks per check: pairs both checked, only-green and only-blue failures */
  checks: Record<string, { n: number; greenOnly: number; blueOnly: number }>;
  judge: { judged: number; greenLost: number; greenWon: number; spendUsd: number };
  /** green's spend on mirrors (its own arm), blue's answers' cost (the users'), the judge's */
  spendUsd: { green: number; blue: number; judge: number };
  maxSpendUsd?: number;
  /** set when mirroring stopped: the spend cap, or the phase's pair budget */
  stopped?: string;
}

export interface ReasonArgs {
  reason?: string;
}
export type AbortArgs = ReasonArgs;
/** What pause/abort/promote accept: `{ "reason": "…" }`, a plain string (the reason) or nothing. */
export type ReasonInput = ReasonArgs | string | undefined | null;
/** The reason in any accepted input shape. */
export function reasonFrom(input: unknown): string | undefined {
  const r = typeof input === 'string' ? input : (input as ReasonArgs | null | undefined)?.reason;
  return typeof r === 'string' && r.trim() !== '' ? r.trim().slice(0, 500) : undefined;
}

export interface LiveMetricsBatch {
  /** Unique per router and batch, so a redelivered signal is not counted twice. */
  batchId: string;
  /** Per-arm numbers; the histogram as sparse [bucket, count] pairs (toWireArmStats) or, from older routers, dense. */
  blue: WireArmStats;
  green: WireArmStats;
}

/**
 * Operator messages. pause, resume and abort exist both as signals (fire and forget: the server takes
 * them with no worker running) and as updates of the same name (acknowledged with the new status, and
 * not subject to the server's per-run signal limit, so a signal flood cannot lock an operator out).
 */
export const pauseSignal = defineSignal<[ReasonInput?]>('pause');
export const resumeSignal = defineSignal<[]>('resume');
export const abortSignal = defineSignal<[ReasonInput?]>('abort');
export const pauseUpdate = defineUpdate<RolloutStatus, [ReasonInput]>('pause');
export const resumeUpdate = defineUpdate<RolloutStatus, []>('resume');
export const abortUpdate = defineUpdate<RolloutStatus, [ReasonInput]>('abort');
export const promoteUpdate = defineUpdate<RolloutStatus, [ReasonInput]>('promote');
/** Approve the gated step the rollout waits at. `by`: who approves (the CLI sends user@host); `reason`: why. */
export interface ApproveArgs {
  by?: string;
  reason?: string;
}
export const approveUpdate = defineUpdate<RolloutStatus, [ApproveArgs | string | undefined | null]>('approve');
/** Who approved, from the update's input (a plain string is the reason). */
export function approverFrom(input: unknown): { by: string; reason?: string } {
  const a = (typeof input === 'string' ? { reason: input } : (input ?? {})) as ApproveArgs;
  const by = typeof a.by === 'string' && a.by.trim() ? a.by.trim().slice(0, 200) : 'unknown (no "by" given)';
  return { by, reason: reasonFrom(a.reason ?? undefined) };
}
/** Live outcomes from routers, one batch per router and interval (never one per request). */
export const liveMetricsSignal = defineSignal<[LiveMetricsBatch]>('liveMetrics');
/** A router's shadow pairs (src/shadow/contract.ts): numbers only, one batch per target and interval. */
export const shadowMetricsSignal = defineSignal<[ShadowBatch]>('shadowMetrics');
export const statusQuery = defineQuery<RolloutStatus>('status');

/** What `temporal workflow metadata` and the Web UI show for each handler. */
export const HANDLER_DESCRIPTIONS = {
  status: 'The rollout now: phase, step, green percent, per-arm numbers (samples and live), verdicts, reason.',
  pause: 'Hold the ratio; stop probing and advancing until resume. Input: {"reason": "…"} or "…" (optional).',
  resume: 'Continue a paused rollout (after a failed verdict under onFailure: pause, resume accepts the risk). No input.',
  abort: 'Roll back now: green to 0% at once, also mid-dwell. Input: {"reason": "…"} or "…" (optional).',
  promote: 'Send green to 100% now and complete (refused before preflight passes and after the end). Input: {"reason": "…"} (optional).',
  approve:
    'Approve the gated step the rollout waits at (refused when it waits for none). Input: {"by": "who", "reason": "why"} (both optional).',
  shadowMetrics:
    "A router's batch of shadow pairs (real requests mirrored to green, numbers only). Sent by `modelshift router`; not for people.",
  liveMetrics: "A router's batch of live outcomes: {batchId, blue, green} of ArmStats. Sent by `modelshift router`; not for people.",
} as const;

export const ROLLOUT_WORKFLOW_TYPE = 'rolloutWorkflow';
export const rolloutWorkflowId = (target: string): string => `rollout-${target}`;
export const targetOfWorkflowId = (workflowId: string): string => workflowId.replace(/^rollout-/, '');

/** Custom search attributes a rollout keeps current, so the Web UI, `list` and routers can filter on them. */
export const RolloutTarget = defineSearchAttributeKey('RolloutTarget', 'KEYWORD');
export const RolloutPhase = defineSearchAttributeKey('RolloutPhase', 'KEYWORD');
export const BlueModel = defineSearchAttributeKey('BlueModel', 'KEYWORD');
export const GreenModel = defineSearchAttributeKey('GreenModel', 'KEYWORD');
export const GreenPercent = defineSearchAttributeKey('GreenPercent', 'INT');
/** 1 for a first rollout of a target's spec, 2, 3 … for each `modelshift retry` of it (set at start, never upserted). */
export const RolloutAttempt = defineSearchAttributeKey('RolloutAttempt', 'INT');
export const ROLLOUT_SEARCH_ATTRIBUTES = [RolloutTarget, RolloutPhase, BlueModel, GreenModel, GreenPercent, RolloutAttempt];

/** The search attributes for a rollout of `spec` in `phase` at `greenPercent`: one builder for start and upsert. */
export function rolloutSearchAttributes(
  spec: Pick<RolloutSpec, 'target' | 'blue' | 'green'>,
  phase: Phase,
  greenPercent: number,
): SearchAttributePair[] {
  return [
    { key: RolloutTarget, value: spec.target },
    { key: RolloutPhase, value: phase },
    { key: BlueModel, value: spec.blue.model },
    { key: GreenModel, value: spec.green.model },
    { key: GreenPercent, value: Math.round(greenPercent) },
  ];
}

// ---------- activities: what the workflow sends them and what they return (numbers only) ----------

export interface PreflightInput {
  blue: ArmRef;
  green: ArmRef;
  /** guards.judge, when the spec has one (the shadow phase's judge): checked as an arm */
  judge?: ArmRef;
}

export interface PreflightResult {
  blue: { model: string; gateway: string };
  green: { model: string; gateway: string };
  judge?: { model: string; gateway: string };
}

export interface ProbeRoundInput {
  target: string;
  step: number;
  round: number;
  /** probe pairs in this round (each pair: one prompt to both arms at once) */
  pairs: number;
  concurrency: number;
  blue: ArmRef;
  green: ArmRef;
  prompts: SamplePrompt[];
  /** the round's first pair uses prompts[promptOffset % prompts.length], then the next ones in turn */
  promptOffset: number;
  requestsPerMinute: number;
  request: { maxTokens: number; temperature: number; timeoutMs: number };
  retry: RetryPolicy;
  /** guards.judge: grade `samplePercent` of the pairs both arms answered (blind, in an order drawn per pair) */
  judge?: ProbeJudge;
}

/** The judge as a probe round uses it: an arm (same key and origin policy) with its rubric and sampling share. */
export interface ProbeJudge extends ArmRef {
  rubric?: string;
  samplePercent: number;
}

export interface ProbeRoundResult {
  /** per pair: outcome codes, latencies, tokens, cost, checks (numbers only) */
  round: ProbeRound;
  /** Last error line per arm (key-free), for the status and the failure reason. */
  lastError?: { blue?: string; green?: string; judge?: string };
  durationMs: number;
}
