/**
 * The rollout policy as a pure state machine over plain state — what the workflow, the verdict bench
 * and the tests all run. No Temporal, no I/O, no clock: every function takes what it needs (the spec,
 * the state, an evaluation, the time as a string) and returns a new state or a decision as data.
 *
 *   preflight ──pass──▶ [shadow ──Pass──▶] next-step ──▶ judging ──Pass──▶ dwelling ──elapsed──▶ next-step … ──▶ promoted
 *                                       │ Inconclusive: another round (up to guards.maxHoldPairs)
 *                                       └ Fail, or the hold limit: spec.onFailure (rollback | pause)
 *   Operator intents at any time: pause / resume (holds the stage), abort (rolled back, 0 %),
 *   promote (100 %). The first ending wins; a closed rollout ignores every later intent.
 *
 * The phase is derived from the state (phaseOf): an outcome if the rollout ended, `paused` while a
 * pause holds, otherwise `preflight` or `ramping` from the stage.
 */
import {
  boundArmStats,
  emptyArmStats,
  fromWireArmStats,
  mergeArmStats,
  summarize,
  type ArmStats,
  type WireArmStats,
} from '../decision/arm-stats';
import { NUM_BUCKETS } from '../decision/histogram';
import { addProbeRound, emptyEvidence, thresholdsFrom, type ProbeEvidence } from '../decision/paired';
import { differenceGuard } from '../decision/probe-guards';
import { evaluate, type Evaluation } from '../decision/verdict';
import { addShadowBatch, emptyShadowEvidence, evaluateShadow, shadowGreenSpendUsd, type ShadowEvidence } from '../decision/shadow';
import { JUDGE_CODES, OUTCOME_CODES, OUTPUT_CHECKS, type ProbeRound } from '../decision/paired';
import { MAX_SHADOW_PAIRS_PER_BATCH, type SampledOut, type ShadowRequest } from '../shadow/contract';
import { formatDuration } from '../spec/duration';
import { fmtUsd } from '../format';
import type { ArmSummary, LiveMetricsBatch, Phase, ProbeRoundResult, RolloutStatus, ShadowStats, VerdictRecord } from './contract';
import type { RolloutSpec } from './spec';
import {
  fmtWindow,
  nextOpening,
  NOTIFY_EVENTS_KEPT,
  windowOpen,
  type ApprovalRecord,
  type HookProgress,
  type NotifyEvent,
  type NotifyEventKind,
} from './controls';

/** Where the rollout is within its plan (the phase says whether it runs, holds or ended). */
export type Stage =
  /** the models and keys are not checked yet */
  | { kind: 'preflight' }
  /**
   * plan.shadow: before step 1 (green 0 %), routers mirror real requests to green and send the pairs'
   * numbers; each batch is judged; Pass with minPairs → step 1, Fail → onFailure. `since`: workflow ms.
   */
  | { kind: 'shadow'; since: number }
  /** move to the next step on the next turn: before the first step, or after a step's dwell */
  | { kind: 'next-step' }
  /** sample rounds at the current step until a verdict */
  | { kind: 'judging' }
  /** the step passed: wait `remainingMs` (live batches are judged as they come), then the next step */
  | { kind: 'dwelling'; remainingMs: number }
  /**
   * the step passed and dwelt, and its gate wants a human: hold (a watch round of probes every minute,
   * live batches judged; a Fail still applies onFailure) until an approval or the deadline
   */
  | { kind: 'awaiting-approval'; since: number; deadline?: number; lastWatchAt: number }
  /** the next step may start only inside the schedule window: hold the same way until it opens */
  | { kind: 'outside-window'; since: number; opensAt?: number; lastWatchAt: number };

export type Outcome = { phase: 'promoted' | 'rolled_back' | 'failed'; reason: string };
export type Arms = { blue: ArmStats; green: ArmStats };
const emptyArms = (): Arms => ({ blue: emptyArmStats(), green: emptyArmStats() });

export interface RolloutState {
  stage: Stage;
  /** Index into spec.steps; -1 before the first step. */
  stepIndex: number;
  greenPercent: number;
  /** Probe rounds over the whole rollout (they pick the prompts in turn). */
  round: number;
  roundsAtStep: number;
  /** Pairs judged in Inconclusive rounds at this step (waits and planned collection are not counted). */
  holdPairs: number;
  /** Workflow time (ms) at which the current wait began, while the step waits. */
  waitingSince?: number;
  /** Workflow time (ms) at which the current step began: the dwell is the step's minimum duration. */
  stepStartedAt?: number;
  /** Green's tail was found heavier than blue's before a promotion: it is judged on a larger record. */
  tailSuspect?: boolean;
  /** Paired probe evidence: the whole rollout, and the current step's own window. */
  probes: { record: ProbeEvidence; window: ProbeEvidence };
  /** The shadow phase's mirrored pairs (set once it began; kept after it for the status). */
  shadow?: ShadowState;
  /** Live traffic from routers, per arm (whole rollout, this step); `dropped`: batches refused in a flood. */
  live: { record: Arms; window: Arms; batches: number; seenBatchIds: string[]; dropped?: number };
  verdicts: VerdictRecord[];
  lastEvaluation?: Evaluation;
  lastError?: { blue?: string; green?: string; judge?: string };
  /** Set while a pause holds the rollout (an operator's, or the onFailure: pause policy's): why. */
  pause?: { reason: string };
  /** Set once the rollout ended; nothing changes it afterwards. */
  outcome?: Outcome;
  /** The last signal of an unknown name (a typo such as `abrot`): ignored, but said in the status. */
  ignoredSignal?: { name: string; count: number };
  startedAt: string;
  updatedAt?: string;
  /** Workflow runs so far (1 + continue-as-new count). */
  runs: number;
  /** Approvals given at gated steps (and proceeds on timeout), oldest first. */
  approvals?: ApprovalRecord[];
  /** Notification events not yet delivered to every hook, and each hook's progress (spec.notify). */
  notify?: { seq: number; events: NotifyEvent[]; hooks: HookProgress[] };
}

export interface ShadowState {
  evidence: ShadowEvidence;
  seenBatchIds: string[];
  /** batches refused in a flood (too many in one workflow task) */
  droppedBatches?: number;
  /** why mirroring stopped (the spend cap, the pair budget), once it did */
  stopped?: string;
}

export const VERDICTS_KEPT = 20;
export const BATCH_IDS_KEPT = 200;

export function initialState(startedAt: string): RolloutState {
  return {
    stage: { kind: 'preflight' },
    stepIndex: -1,
    greenPercent: 0,
    round: 0,
    roundsAtStep: 0,
    holdPairs: 0,
    probes: { record: emptyEvidence(), window: emptyEvidence() },
    live: { record: emptyArms(), window: emptyArms(), batches: 0, seenBatchIds: [] },
    verdicts: [],
    startedAt,
    runs: 1,
  };
}

/** The state a new run continues from (after continue-as-new), or a fresh one. */
export function resumeState(carried: RolloutState | undefined, startedAt: string): RolloutState {
  return carried ? { ...carried, runs: carried.runs + 1 } : initialState(startedAt);
}

// ---------- views ----------

/** The judge's grades of probe pairs for the status, once it was asked. */
function probeJudge(e: ProbeEvidence): Pick<RolloutStatus['probes'], 'judge'> {
  const j = e.judge;
  if (!j) return {};
  return { judge: { asked: j.asked, judged: j.n, greenLost: j.gOnly, greenWon: j.bOnly, spendUsd: (e.judgeMicroUsd ?? 0) / 1e6 } };
}

export function phaseOf(s: RolloutState): Phase {
  if (s.outcome) return s.outcome.phase;
  if (s.pause) return 'paused';
  return s.stage.kind === 'preflight' ? 'preflight' : s.stage.kind === 'shadow' ? 'shadow' : 'ramping';
}

export const isClosed = (s: RolloutState): boolean => s.outcome !== undefined;

/** Why the rollout ended or holds, in one line. */
export const reasonOf = (s: RolloutState): string | undefined => s.outcome?.reason ?? s.pause?.reason;

/** Probes plus live traffic per arm, for display (the verdict judges them apart: probes paired, live per arm). */
export function combined(s: RolloutState): Arms {
  const p = s.probes.record.arms;
  return { blue: mergeArmStats(p.blue, s.live.record.blue), green: mergeArmStats(p.green, s.live.record.green) };
}

const armSummary = (model: string, s: ArmStats): ArmSummary => ({ model, ...summarize(s) });

export function toStatus(spec: RolloutSpec, s: RolloutState): RolloutStatus {
  const all = combined(s);
  return {
    target: spec.target,
    phase: phaseOf(s),
    step: s.stepIndex + 1,
    totalSteps: spec.steps.length,
    greenPercent: s.greenPercent,
    blue: spec.blue,
    green: spec.green,
    reason: reasonOf(s),
    arms: { blue: armSummary(spec.blue.model, all.blue), green: armSummary(spec.green.model, all.green) },
    live: {
      blue: armSummary(spec.blue.model, s.live.record.blue),
      green: armSummary(spec.green.model, s.live.record.green),
      batches: s.live.batches,
      dropped: s.live.dropped ?? 0,
    },
    probes: {
      rounds: s.round,
      pairs: s.probes.record.pairs,
      sent: s.probes.record.sent,
      stepPairs: s.probes.window.pairs,
      table: s.probes.record.table,
      substituted: s.probes.record.substituted,
      spendUsd: { blue: s.probes.record.arms.blue.costUsd, green: s.probes.record.arms.green.costUsd },
      ...probeJudge(s.probes.record),
    },
    ...(s.lastError ? { lastError: s.lastError } : {}),
    ...(s.stage.kind === 'shadow' && spec.shadow ? { shadow: shadowRequest(spec, s) } : {}),
    ...(s.shadow && spec.shadow ? { shadowStats: shadowStats(spec, s.shadow) } : {}),
    ...waitingOf(spec, s),
    ...(s.approvals?.length ? { approvals: s.approvals } : {}),
    ...(spec.notify?.length ? { notifications: notificationsOf(spec, s) } : {}),
    verdicts: s.verdicts,
    updatedAt: s.updatedAt ?? s.startedAt,
    ...(s.ignoredSignal ? { ignoredSignal: s.ignoredSignal } : {}),
  };
}

/** What routers mirror while the phase runs (the status's `shadow`, read by src/shadow/orders.ts). */
export function shadowRequest(spec: RolloutSpec, s: RolloutState): ShadowRequest {
  const j = spec.guards.judge;
  return {
    percent: spec.shadow!.percent,
    // a pause holds the phase: routers stop mirroring (no green spend) until resume
    ...(s.shadow?.stopped || s.pause ? { stopped: true } : {}),
    ...(j
      ? {
          judgePercent: j.samplePercent,
          judge: {
            model: j.model,
            ...(j.baseURL ? { baseURL: j.baseURL } : {}),
            ...(j.apiKeyEnv ? { apiKeyEnv: j.apiKeyEnv } : {}),
            ...(j.rubric ? { rubric: j.rubric } : {}),
          },
        }
      : {}),
  };
}

export function shadowStats(spec: RolloutSpec, sh: ShadowState): ShadowStats {
  const e = sh.evidence;
  const checks: ShadowStats['checks'] = {};
  for (const c of OUTPUT_CHECKS)
    if (e.output[c].n > 0) checks[c] = { n: e.output[c].n, greenOnly: e.output[c].gOnly, blueOnly: e.output[c].bOnly };
  const judgeUsd = e.judgeMicroUsd / 1e6;
  return {
    pairs: e.pairs.pairs,
    minPairs: spec.shadow?.minPairs ?? 0,
    sent: e.pairs.sent,
    batches: e.batches,
    dropped: e.dropped,
    skipped: e.skipped,
    checks,
    judge: { judged: e.judge.n, greenLost: e.judge.gOnly, greenWon: e.judge.bOnly, spendUsd: judgeUsd },
    spendUsd: { green: shadowGreenSpendUsd(e), blue: e.pairs.arms.blue.costUsd + (e.sampledOut?.blueMicroUsd ?? 0) / 1e6, judge: judgeUsd },
    ...(e.sampledOut?.pairs ? { sampledOut: e.sampledOut.pairs } : {}),
    ...(spec.shadow?.maxSpendUsd !== undefined ? { maxSpendUsd: spec.shadow.maxSpendUsd } : {}),
    ...(sh.stopped ? { stopped: sh.stopped } : {}),
  };
}

function waitingOf(spec: RolloutSpec, s: RolloutState): Pick<RolloutStatus, 'waiting' | 'hold'> {
  const hold = holdText(spec, s);
  if (s.stage.kind === 'awaiting-approval') return { waiting: 'approval', ...(hold ? { hold } : {}) };
  if (s.stage.kind === 'outside-window') return { waiting: 'window', ...(hold ? { hold } : {}) };
  return s.waitingSince !== undefined && s.lastEvaluation?.wait ? { waiting: s.lastEvaluation.wait } : {};
}

/** Where a hook sends, for display: its URL's origin, or the variable holding a secret URL. */
// (no URL class in workflow code: the origin by pattern; the spec has checked the URL)
const hookTarget = (h: NonNullable<RolloutSpec['notify']>[number]) =>
  h.url ? (/^https?:\/\/[^/?#]+/i.exec(h.url)?.[0] ?? 'webhook') : `$${h.urlEnv}`;

function notificationsOf(spec: RolloutSpec, s: RolloutState): NonNullable<RolloutStatus['notifications']> {
  return (spec.notify ?? []).map((h, i) => {
    const p = s.notify?.hooks[i] ?? { next: 1, delivered: 0, failed: 0 };
    const pending = (s.notify?.events ?? []).filter((e) => e.seq >= p.next && h.events.includes(e.kind)).length;
    return { target: hookTarget(h), delivered: p.delivered, failed: p.failed, pending, ...(p.lastError ? { lastError: p.lastError } : {}) };
  });
}

/** The failing guards' details, or the evaluation's reason, on one line. */
export function describeEvaluation(e: Evaluation): string {
  const failing = e.guards.filter((g) => g.verdict === 'Fail');
  return failing.length ? failing.map((g) => `${g.guard}: ${g.detail}`).join('; ') : e.reason;
}

// ---------- operator intents ----------

function end(s: RolloutState, phase: Outcome['phase'], greenPercent: number, reason: string): RolloutState {
  if (s.outcome) return s; // the first ending wins
  return { ...s, outcome: { phase, reason }, greenPercent };
}

const withReason = (what: string, reason?: string) => `${what}${reason ? `: ${reason}` : ''}`;

export function pause(s: RolloutState, reason?: string): RolloutState {
  return s.outcome ? s : { ...s, pause: { reason: reason ?? 'paused by operator' } };
}

export function resume(s: RolloutState): RolloutState {
  return s.pause ? { ...s, pause: undefined } : s;
}

/** Roll back now: green to 0 % at once, whatever the stage (work in flight is then drained). */
export const abort = (s: RolloutState, reason?: string): RolloutState =>
  end(s, 'rolled_back', 0, withReason('aborted by operator', reason));

/** Green to 100 % now (only once preflight passed: see promoteRefusal). */
export const promote = (s: RolloutState, reason?: string): RolloutState =>
  end(s, 'promoted', 100, withReason('promoted by operator', reason));

/** Why an operator's update is refused right now, or undefined when it is accepted (the updates' validator). */
export function intentRefusal(spec: RolloutSpec, s: RolloutState, intent: 'pause' | 'resume' | 'abort' | 'promote'): string | undefined {
  if (intent === 'promote') return promoteRefusal(spec, s);
  if (s.outcome) return `rollout-${spec.target} is already ${s.outcome.phase}; nothing to ${intent}`;
  if (intent === 'resume' && !s.pause) return `rollout-${spec.target} is not paused; nothing to resume`;
  return undefined;
}

/** Why a promote is refused right now, or undefined when it is accepted (the update's validator). */
export function promoteRefusal(spec: RolloutSpec, s: RolloutState): string | undefined {
  if (s.outcome) return `rollout-${spec.target} is already ${s.outcome.phase}; nothing to promote`;
  if (s.stage.kind === 'preflight') {
    return `rollout-${spec.target} has not passed preflight yet (${spec.green.model} is unchecked); promote after it starts ramping`;
  }
  return undefined;
}

// ---------- live traffic ----------

/** Largest live batch accepted: 1,000,000 requests (200,000 req/s for a 5 s interval). */
export const MAX_LIVE_BATCH_REQUESTS = 1_000_000;
/** Live evidence per arm is decayed by halves above this (decision inputs stay bounded on long rollouts). */
export const MAX_LIVE_REQUESTS = 1_000_000;
/** Every outcome but 'ok' (OUTCOME_CODES is the one list of them). */
const ERROR_CLASSES = new Set<string>(OUTCOME_CODES.filter((c) => c !== 'ok'));

const whole = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const amount = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/**
 * One arm of a live batch, checked before it is merged: signals come from outside. Counts are whole,
 * bounded and consistent with each other (requests = successes + errors + 429s, one latency per success,
 * the histogram adding up), so no batch can push the verdict's arithmetic out of range.
 */
function isArmStats(x: unknown): boolean {
  const a = x as Record<string, any> | null;
  if (!a || typeof a !== 'object') return false;
  if (!['requests', 'successes', 'errors', 'rateLimited', 'inputTokens', 'outputTokens'].every((k) => whole(a[k]))) return false;
  if (!amount(a.costUsd) || (a.costSqUsd !== undefined && !amount(a.costSqUsd))) return false;
  if (a.requests > MAX_LIVE_BATCH_REQUESTS || a.requests !== a.successes + a.errors + a.rateLimited) return false;
  const byClass = a.errorsByClass;
  if (!byClass || typeof byClass !== 'object' || !Object.entries(byClass).every(([k, v]) => ERROR_CLASSES.has(k) && whole(v))) return false;
  const classified = Object.values(byClass as Record<string, number>).reduce((s, v) => s + v, 0);
  if (classified < a.errors + a.rateLimited || classified > a.requests) return false;
  if (!a.checks || !whole(a.checks.passed) || !whole(a.checks.failed) || a.checks.passed + a.checks.failed > a.requests) return false;
  const h = a.latency;
  if (!h || !Array.isArray(h.counts) || h.counts.length !== NUM_BUCKETS || !h.counts.every(whole)) return false;
  if (!whole(h.count) || h.count !== a.successes || h.counts.reduce((s: number, c: number) => s + c, 0) !== h.count) return false;
  // latencies: finite, at most ~3 hours each on average
  return amount(h.sumMs) && h.sumMs <= h.count * 1e7 && amount(h.minMs) && amount(h.maxMs) && h.minMs <= h.maxMs;
}

/** A checked live batch (dense histograms), or undefined: signals come from outside. */
export function parseLiveBatch(b: unknown): { batchId: string; blue: ArmStats; green: ArmStats } | undefined {
  const x = b as Partial<LiveMetricsBatch> | null;
  if (!x || typeof x !== 'object' || typeof x.batchId !== 'string' || x.batchId.length === 0 || x.batchId.length > 200) return undefined;
  const arm = (w: unknown) => (w && typeof w === 'object' && (w as WireArmStats).latency ? fromWireArmStats(w as WireArmStats) : undefined);
  const blue = arm(x.blue);
  const green = arm(x.green);
  return blue && green && isArmStats(blue) && isArmStats(green) ? { batchId: x.batchId, blue, green } : undefined;
}

export const isLiveBatch = (b: unknown): boolean => parseLiveBatch(b) !== undefined;

/** A signal no handler knows: nothing changes but the note in the status (a typo must not pass unseen). */
export function signalIgnored(s: RolloutState, name: string): RolloutState {
  const n = name.slice(0, 100);
  return { ...s, ignoredSignal: { name: n, count: s.ignoredSignal?.name === n ? s.ignoredSignal.count + 1 : 1 } };
}

/** Batches refused because too many arrived at once: counted, shown in the status. */
export function liveDropped(s: RolloutState, n: number): RolloutState {
  return { ...s, live: { ...s.live, dropped: (s.live.dropped ?? 0) + n } };
}

export type LiveBatchResult = 'merged' | 'duplicate' | 'closed' | 'malformed';

/**
 * Merge one router's live batch. A malformed batch (a hand-sent signal, a router of another version) is
 * dropped, never merged: a throw in the handler would fail every workflow task and wedge the rollout.
 */
export function acceptLiveBatch(s: RolloutState, raw: unknown): { state: RolloutState; result: LiveBatchResult } {
  const batch = parseLiveBatch(raw);
  if (!batch) return { state: s, result: 'malformed' };
  if (s.outcome) return { state: s, result: 'closed' };
  if (s.live.seenBatchIds.includes(batch.batchId)) return { state: s, result: 'duplicate' };
  const merge = (a: Arms): Arms => ({
    blue: boundArmStats(mergeArmStats(a.blue, batch.blue), MAX_LIVE_REQUESTS),
    green: boundArmStats(mergeArmStats(a.green, batch.green), MAX_LIVE_REQUESTS),
  });
  const live = {
    record: merge(s.live.record),
    window: merge(s.live.window),
    batches: s.live.batches + 1,
    dropped: s.live.dropped,
    seenBatchIds: [...s.live.seenBatchIds.slice(-(BATCH_IDS_KEPT - 1)), batch.batchId],
  };
  return { state: { ...s, live }, result: 'merged' };
}

// ---------- the plan ----------

/** What the workflow does next. `pause` and an ending come before the stage. */
export type Next =
  | { kind: 'ended' }
  | { kind: 'paused' }
  | { kind: 'preflight' }
  /** the shadow phase: wait for routers' batches (and maxDuration) */
  | { kind: 'shadow' }
  | { kind: 'advance' }
  | { kind: 'sample' }
  | { kind: 'dwell'; ms: number }
  | { kind: 'hold'; for: 'approval' | 'window' };

export function next(s: RolloutState): Next {
  if (s.outcome) return { kind: 'ended' };
  if (s.pause) return { kind: 'paused' };
  switch (s.stage.kind) {
    case 'preflight':
      return { kind: 'preflight' };
    case 'shadow':
      return { kind: 'shadow' };
    case 'next-step':
      return { kind: 'advance' };
    case 'judging':
      return { kind: 'sample' };
    case 'dwelling':
      return { kind: 'dwell', ms: s.stage.remainingMs };
    case 'awaiting-approval':
      return { kind: 'hold', for: 'approval' };
    case 'outside-window':
      return { kind: 'hold', for: 'window' };
  }
}

/** Preflight passed: the shadow phase when the plan has one (at workflow time `nowMs`), else the first step. */
export function preflightPassed(s: RolloutState, spec?: RolloutSpec, nowMs = 0): RolloutState {
  if (s.stage.kind !== 'preflight') return s;
  if (spec?.shadow)
    return { ...s, stage: { kind: 'shadow', since: nowMs }, shadow: s.shadow ?? { evidence: emptyShadowEvidence(), seenBatchIds: [] } };
  return { ...s, stage: { kind: 'next-step' } };
}

export const preflightFailed = (s: RolloutState, why: string): RolloutState => end(s, 'failed', 0, `preflight failed: ${why}`);

/** Move to the next step (at workflow time `nowMs`), or promote when the last one passed. */
export function advance(spec: RolloutSpec, s: RolloutState, nowMs: number): RolloutState {
  if (s.stepIndex + 1 >= spec.steps.length) return end(s, 'promoted', 100, `all ${spec.steps.length} steps passed; green serves 100%`);
  const stepIndex = s.stepIndex + 1;
  return {
    ...s,
    stepIndex,
    greenPercent: spec.steps[stepIndex],
    roundsAtStep: 0,
    holdPairs: 0,
    waitingSince: undefined,
    stepStartedAt: nowMs,
    stage: { kind: 'judging' },
    lastEvaluation: undefined,
    // each step is also judged on its own: a regression that appears here is not diluted by earlier steps
    probes: { record: s.probes.record, window: emptyEvidence() },
    live: { ...s.live, window: emptyArms() },
  };
}

// ---------- release controls: approval gates and the schedule window ----------

/**
 * While a step holds for an approval or the window, a watch round of probes runs once a dwell, at least
 * once a minute and at most once a second: guards keep judging green at the ratio it serves.
 */
export const watchIntervalMs = (spec: RolloutSpec): number => Math.min(60_000, Math.max(1_000, spec.dwellMs));

const gateAt = (spec: RolloutSpec, stepIndex: number) => spec.gates?.find((g) => g.stepIndex === stepIndex);
const approvedAt = (s: RolloutState, stepIndex: number) => (s.approvals ?? []).some((a) => a.step === stepIndex + 1);

/**
 * Leave the current step: to a hold if its gate wants an approval not yet given, or if the next step may
 * not start outside the schedule window; otherwise to the next step (or the promotion).
 */
export function advanceOrHold(spec: RolloutSpec, s: RolloutState, nowMs: number): RolloutState {
  const gate = s.stepIndex >= 0 ? gateAt(spec, s.stepIndex) : undefined;
  if (gate && !approvedAt(s, s.stepIndex)) {
    return { ...s, stage: { kind: 'awaiting-approval', since: nowMs, deadline: nowMs + gate.timeoutMs, lastWatchAt: nowMs } };
  }
  if (spec.window && !windowOpen(spec.window, nowMs)) {
    const opensAt = nextOpening(spec.window, nowMs);
    return { ...s, stage: { kind: 'outside-window', since: nowMs, ...(opensAt !== undefined ? { opensAt } : {}), lastWatchAt: nowMs } };
  }
  return advance(spec, s, nowMs);
}

/** How long the hold may sleep before something is due: the deadline, the window's opening, the next watch round. */
export function holdWaitMs(spec: RolloutSpec, s: RolloutState, nowMs: number, watch: boolean): number {
  const st = s.stage;
  const due: number[] = [];
  if (watch && (st.kind === 'awaiting-approval' || st.kind === 'outside-window')) due.push(st.lastWatchAt + watchIntervalMs(spec));
  if (st.kind === 'awaiting-approval' && st.deadline !== undefined) due.push(st.deadline);
  if (st.kind === 'outside-window') due.push(st.opensAt ?? nowMs + 60_000);
  return Math.max(0, Math.min(...due, nowMs + 24 * 3_600_000) - nowMs);
}

/** Is a watch round due (guards keep running on probes while a step holds)? */
export const watchDue = (spec: RolloutSpec, s: RolloutState, nowMs: number): boolean =>
  (s.stage.kind === 'awaiting-approval' || s.stage.kind === 'outside-window') &&
  s.stepIndex >= 0 &&
  nowMs - s.stage.lastWatchAt >= watchIntervalMs(spec);

export function watched(s: RolloutState, nowMs: number): RolloutState {
  return s.stage.kind === 'awaiting-approval' || s.stage.kind === 'outside-window'
    ? { ...s, stage: { ...s.stage, lastWatchAt: nowMs } }
    : s;
}

/** The clock moved on during a hold: the window opened, or the approval's deadline passed (its policy applies). */
export function holdTick(spec: RolloutSpec, s: RolloutState, nowMs: number): RolloutState {
  const st = s.stage;
  if (s.outcome) return s;
  if (st.kind === 'outside-window') {
    if (!spec.window || windowOpen(spec.window, nowMs)) return { ...s, stage: { kind: 'next-step' } };
    if (st.opensAt !== undefined && nowMs >= st.opensAt) return { ...s, stage: { ...st, opensAt: nextOpening(spec.window, nowMs) } };
    return s;
  }
  if (st.kind !== 'awaiting-approval' || st.deadline === undefined || nowMs < st.deadline) return s;
  const gate = gateAt(spec, s.stepIndex);
  const waited = formatDuration(nowMs - st.since);
  const what = `no approval for step ${s.stepIndex + 1} (${s.greenPercent}%) within ${waited}`;
  switch (gate?.onTimeout ?? 'rollback') {
    case 'rollback':
      return end(s, 'rolled_back', 0, `${what} (onTimeout: rollback)`);
    case 'pause':
      // held for a human without a deadline now: approve moves on, abort rolls back
      return {
        ...s,
        pause: { reason: `${what} (onTimeout: pause): approve to continue, abort to roll back` },
        stage: { ...st, deadline: undefined },
      };
    case 'proceed':
      return {
        ...s,
        approvals: [
          ...(s.approvals ?? []),
          {
            step: s.stepIndex + 1,
            greenPercent: s.greenPercent,
            by: 'timeout',
            reason: `${what} (onTimeout: proceed)`,
            at: new Date(nowMs).toISOString(),
          },
        ],
        stage: { kind: 'next-step' },
      };
  }
}

/** Why an approval is refused right now (the update's validator), or undefined. */
export function approvalRefusal(spec: RolloutSpec, s: RolloutState): string | undefined {
  if (s.outcome) return `rollout-${spec.target} is already ${s.outcome.phase}; nothing to approve`;
  if (s.stage.kind !== 'awaiting-approval') {
    const gated = (spec.gates ?? []).map((g) => `step ${g.stepIndex + 1} (${spec.steps[g.stepIndex]}%)`);
    return gated.length
      ? `rollout-${spec.target} is not waiting for an approval (it is at step ${s.stepIndex + 1}; gates: ${gated.join(', ')})`
      : `rollout-${spec.target} has no approval gates; nothing to approve`;
  }
  return undefined;
}

/** A human approved the step the rollout waits at: recorded (who, why, when), then the next step (the window permitting). */
export function approve(s: RolloutState, by: string, reason: string | undefined, at: string): RolloutState {
  if (s.stage.kind !== 'awaiting-approval' || s.outcome) return s;
  const record: ApprovalRecord = { step: s.stepIndex + 1, greenPercent: s.greenPercent, by, ...(reason ? { reason } : {}), at };
  const fromTimeout = s.pause?.reason.startsWith(`no approval for step ${s.stepIndex + 1} `);
  return { ...s, approvals: [...(s.approvals ?? []), record], stage: { kind: 'next-step' }, ...(fromTimeout ? { pause: undefined } : {}) };
}

/** What the step holds for, in one line (status, watch, Web UI). */
export function holdText(spec: RolloutSpec, s: RolloutState): string | undefined {
  const st = s.stage;
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (st.kind === 'awaiting-approval') {
    const gate = gateAt(spec, s.stepIndex);
    const until = st.deadline !== undefined ? `, until ${iso(st.deadline)} (then ${gate?.onTimeout ?? 'rollback'})` : '';
    return `waiting for approval of step ${s.stepIndex + 1} (${s.greenPercent}%) since ${iso(st.since)}${until}: npx modelshift approve ${spec.target} --reason "…"`;
  }
  if (st.kind === 'outside-window' && spec.window) {
    return `outside the schedule window (${fmtWindow(spec.window)}): the next step starts ${st.opensAt !== undefined ? `at ${iso(st.opensAt)}` : 'when it opens'}`;
  }
  return undefined;
}

// ---------- notifications ----------

/** The events between two states of the rollout (a phase change, a verdict that acts, an approval request, the end). */
export function eventsBetween(spec: RolloutSpec, prev: RolloutState, next: RolloutState, at: string): Omit<NotifyEvent, 'seq'>[] {
  const base = (kind: NotifyEventKind) => ({
    kind,
    at,
    phase: phaseOf(next),
    step: next.stepIndex + 1,
    totalSteps: spec.steps.length,
    greenPercent: next.greenPercent,
    ...(reasonOf(next) ? { reason: reasonOf(next) } : {}),
  });
  const out: Omit<NotifyEvent, 'seq'>[] = [];
  if (next.outcome && !prev.outcome) {
    out.push(base('end'));
    return out;
  }
  if (phaseOf(next) !== phaseOf(prev)) out.push(base('phase'));
  const v = next.verdicts.at(-1);
  // a Fail always; a Pass once per step (watch rounds while a step holds pass again and again: not news)
  const news = (r: VerdictRecord) =>
    r.evaluation.verdict === 'Fail' || !prev.verdicts.some((p) => p.step === r.step && p.evaluation.verdict === 'Pass');
  if (v && v !== prev.verdicts.at(-1) && v.evaluation.verdict !== 'Inconclusive' && news(v)) {
    const e = v.evaluation;
    out.push({
      ...base('verdict'),
      step: v.step,
      greenPercent: v.greenPercent,
      verdict: {
        verdict: e.verdict,
        reason: (e.verdict === 'Fail' ? describeEvaluation(e) : e.reason).slice(0, 500),
        errorRate: { blue: e.blue.errorRate, green: e.green.errorRate },
        pairs: next.probes.record.pairs,
      },
    });
  }
  if (next.stage.kind === 'awaiting-approval' && prev.stage.kind !== 'awaiting-approval') {
    const gate = gateAt(spec, next.stepIndex);
    out.push({
      ...base('approval'),
      approval: {
        step: next.stepIndex + 1,
        greenPercent: next.greenPercent,
        ...(next.stage.deadline !== undefined ? { deadline: new Date(next.stage.deadline).toISOString() } : {}),
        onTimeout: gate?.onTimeout ?? 'rollback',
      },
    });
  }
  return out;
}

/** Queue events for every hook (kept: the last NOTIFY_EVENTS_KEPT; a hook further behind misses the oldest, counted as failed). */
export function enqueueEvents(spec: RolloutSpec, s: RolloutState, events: Omit<NotifyEvent, 'seq'>[]): RolloutState {
  if (!spec.notify?.length || !events.length) return s;
  const n = s.notify ?? { seq: 0, events: [], hooks: spec.notify.map(() => ({ next: 1, delivered: 0, failed: 0 })) };
  const added = events.map((e, i) => ({ ...e, seq: n.seq + i + 1 }));
  const all = [...n.events, ...added];
  const kept = all.slice(-NOTIFY_EVENTS_KEPT);
  const dropped = all.slice(0, all.length - kept.length);
  // a hook that had not received a dropped event it wants counts it as failed and moves past it
  const hooks = !dropped.length
    ? n.hooks
    : n.hooks.map((h, i) => {
        const missed = dropped.filter((e) => e.seq >= h.next && spec.notify![i].events.includes(e.kind)).length;
        return { ...h, next: Math.max(h.next, dropped.at(-1)!.seq + 1), failed: h.failed + missed };
      });
  return { ...s, notify: { seq: n.seq + added.length, events: kept, hooks } };
}

/** The next event hook `i` wants (skipping those it did not subscribe to), or undefined when it is up to date. */
export function nextEventFor(spec: RolloutSpec, s: RolloutState, i: number): NotifyEvent | undefined {
  const n = s.notify;
  const hook = spec.notify?.[i];
  if (!n || !hook) return undefined;
  return n.events.find((e) => e.seq >= n.hooks[i].next && hook.events.includes(e.kind));
}

/** Hook `i` is done with event `seq` (delivered, or given up on after its retries). */
export function eventDone(s: RolloutState, i: number, seq: number, error?: string): RolloutState {
  const n = s.notify;
  if (!n) return s;
  const hooks = n.hooks.map((h, j) => {
    if (j !== i) return h;
    const failed = h.failed + (error ? 1 : 0);
    return {
      next: Math.max(h.next, seq + 1),
      delivered: h.delivered + (error ? 0 : 1),
      failed,
      ...(error ? { lastError: error.slice(0, 300) } : h.lastError ? { lastError: h.lastError } : {}),
    };
  });
  // drop events every hook is past
  const low = Math.min(...hooks.map((h) => h.next));
  return { ...s, notify: { ...n, hooks, events: n.events.filter((e) => e.seq >= low) } };
}

/** Every hook has had every event it wants. */
export function notifyDrained(spec: RolloutSpec, s: RolloutState): boolean {
  return (spec.notify ?? []).every((_, i) => nextEventFor(spec, s, i) === undefined);
}

/**
 * The step passed: stay until it has lasted `dwell` (measured from the step's start — probes stop once it
 * passed, live traffic is still judged), then the next step. `fromNow`: the whole dwell from now (after a
 * resume that accepted a failed verdict).
 */
function startDwell(spec: RolloutSpec, s: RolloutState, nowMs: number, fromNow = false): RolloutState {
  const elapsed = fromNow || s.stepStartedAt === undefined ? 0 : Math.max(0, nowMs - s.stepStartedAt);
  const remainingMs = spec.dwellMs - elapsed;
  return { ...s, stage: remainingMs > 0 ? { kind: 'dwelling', remainingMs } : { kind: 'next-step' } };
}

/** Time spent dwelling (a pause or a live batch interrupts the wait; the rest is kept). */
export function dwelt(s: RolloutState, elapsedMs: number): RolloutState {
  if (s.stage.kind !== 'dwelling') return s;
  const remainingMs = Math.max(0, s.stage.remainingMs - elapsedMs);
  return { ...s, stage: remainingMs > 0 ? { kind: 'dwelling', remainingMs } : { kind: 'next-step' } };
}

/** The round about to run at the current step (numbers for the probe activity's input). */
export function nextRound(spec: RolloutSpec, s: RolloutState): { round: number; roundAtStep: number; step: number; promptOffset: number } {
  return { round: s.round + 1, roundAtStep: s.roundsAtStep + 1, step: s.stepIndex + 1, promptOffset: s.round * spec.probesPerRound };
}

/** A finished probe round: its pairs join the record and this step's window (thresholds from the record before it). */
export function recordRound(spec: RolloutSpec, s: RolloutState, result: Pick<ProbeRoundResult, 'round' | 'lastError'>): RolloutState {
  const g = spec.guards;
  const ctx = {
    thresholds: thresholdsFrom(s.probes.record, g.latency.tailQuantile),
    tolerance: { p50: g.latency.p50Tolerance ?? 0, tail: g.latency.tailTolerance },
  };
  return {
    ...s,
    round: s.round + 1,
    roundsAtStep: s.roundsAtStep + 1,
    probes: { record: addProbeRound(s.probes.record, result.round, ctx), window: addProbeRound(s.probes.window, result.round, ctx) },
    lastError: result.lastError ? { ...s.lastError, ...result.lastError } : s.lastError,
  };
}

export const samplingFailed = (s: RolloutState, why: string): RolloutState => end(s, 'rolled_back', 0, `probing failed: ${why}`);

/** The spec cannot be run as written (a check that cannot run): failed at 0 %, not a verdict on green. */
export const specFailed = (s: RolloutState, why: string): RolloutState => end(s, 'failed', 0, `spec error: ${why}`);

// ---------- judging ----------

/** What a verdict means for the rollout. */
export type Decision =
  /** the step passed: dwell, then the next step */
  | { kind: 'dwell'; reason: string }
  /** a live batch while dwelling that does not fail: keep dwelling */
  | { kind: 'stay'; reason: string }
  /** no verdict yet: another round at this step (`collecting`: planned evidence, not counted against the hold budget) */
  | { kind: 'hold'; reason: string; collecting?: boolean }
  /** waiting for capacity or a healthy gateway: another round, on the step's wait budget (time), not its hold budget */
  | { kind: 'wait'; reason: string; since: number }
  | { kind: 'rollback'; reason: string }
  /** onFailure: pause — hold the ratio for a human (resume accepts the risk, abort rolls back) */
  | { kind: 'pause'; reason: string };

/** Green against blue on everything recorded so far: paired probes and live traffic, whole rollout and this step. */
export function evaluateState(spec: RolloutSpec, s: RolloutState): Evaluation {
  return evaluate({
    probes: s.probes,
    live: { record: s.live.record, window: s.live.window },
    guards: spec.guards,
    // The spend cap is what the rollout itself spends (its probes), not the users' live traffic.
    greenSpendUsd: s.probes.record.arms.green.costUsd,
    promptNames: spec.prompts.map((p, i) => `prompt ${i + 1} "${(p.messages.at(-1)?.content ?? '').slice(0, 40)}"`),
    final: s.stepIndex === spec.steps.length - 1,
    tailSuspect: s.tailSuspect,
  });
}

const WAIT_FOR = { capacity: "green's capacity (429s)", gateway: 'the gateway (both arms failing, or refused with 429)' } as const;

/**
 * The policy: Pass → dwell; Fail → onFailure; a wait (capacity, shared outage) → another round, up to
 * guards.maxWaitMs at this step; Inconclusive → another round, up to maxHoldPairs at this step; either
 * budget spent → onFailure. While dwelling (a live batch), only a Fail changes anything.
 */
export function decide(spec: RolloutSpec, s: RolloutState, e: Evaluation, duringDwell: boolean, nowMs: number): Decision {
  const failure = (reason: string): Decision => ({ kind: spec.onFailure === 'rollback' ? 'rollback' : 'pause', reason });
  if (e.verdict === 'Fail') return failure(`failed verdict at ${s.greenPercent}% green: ${describeEvaluation(e)}`);
  if (duringDwell) return { kind: 'stay', reason: e.reason };
  if (e.verdict === 'Pass') return { kind: 'dwell', reason: e.reason };
  if (e.wait) {
    const since = s.waitingSince ?? nowMs;
    if (nowMs - since >= spec.guards.maxWaitMs) {
      return failure(`waited ${formatDuration(nowMs - since)} at ${s.greenPercent}% for ${WAIT_FOR[e.wait]}: ${e.reason}`);
    }
    return { kind: 'wait', reason: `waiting for ${WAIT_FOR[e.wait]}: ${e.reason}`, since };
  }
  // Collecting planned evidence does not spend the hold budget, but a step never judges more than four
  // hold budgets of pairs in all.
  const g = spec.guards;
  if (e.collecting && s.probes.window.pairs < 4 * g.maxHoldPairs) return { kind: 'hold', reason: e.reason, collecting: true };
  const held = s.holdPairs + s.probes.window.last.pairs;
  if (held < g.maxHoldPairs) return { kind: 'hold', reason: e.reason };
  return failure(`no verdict after ${held} pairs at ${s.greenPercent}% (${s.roundsAtStep} rounds): ${e.reason}`);
}

/**
 * Keep the evaluation: every round's verdict goes into the list; a live batch during a dwell only when
 * it fails (else the list would fill with repeats of the dwell's Pass and push the step's verdicts out).
 */
export function recordEvaluation(s: RolloutState, e: Evaluation, at: string, duringDwell: boolean): RolloutState {
  const keep = !duringDwell || e.verdict === 'Fail';
  const record: VerdictRecord = { step: s.stepIndex + 1, greenPercent: s.greenPercent, round: s.roundsAtStep, at, evaluation: e };
  return {
    ...s,
    lastEvaluation: e,
    verdicts: keep ? [...s.verdicts.slice(-(VERDICTS_KEPT - 1)), record] : s.verdicts,
    ...(e.tailSuspect ? { tailSuspect: true } : {}),
  };
}

export function applyDecision(spec: RolloutSpec, s: RolloutState, d: Decision, nowMs: number): RolloutState {
  switch (d.kind) {
    case 'dwell':
      return startDwell(spec, { ...s, waitingSince: undefined }, nowMs);
    case 'stay':
      return s;
    case 'hold':
      return { ...s, holdPairs: d.collecting ? s.holdPairs : s.holdPairs + s.probes.window.last.pairs, waitingSince: undefined };
    case 'wait':
      return { ...s, waitingSince: d.since };
    case 'rollback':
      return end(s, 'rolled_back', 0, d.reason);
    case 'pause':
      // resume accepts the risk: the step's dwell, then the next step
      return startDwell(spec, { ...s, pause: { reason: d.reason }, waitingSince: undefined }, nowMs, true);
  }
}

/** Evaluate, record and apply in one: what the workflow does after a round or a live batch. */
export function judge(
  spec: RolloutSpec,
  s: RolloutState,
  at: string,
  nowMs: number,
  duringDwell: boolean,
): { state: RolloutState; decision: Decision } {
  const e = evaluateState(spec, s);
  const recorded = recordEvaluation(s, e, at, duringDwell);
  const decision = decide(spec, recorded, e, duringDwell, nowMs);
  return { state: applyDecision(spec, recorded, decision, nowMs), decision };
}

/**
 * The fewest judged pairs a step needs to pass even when green equals blue exactly (no errors): the
 * error guard's Pass on a perfect record, the step window's minimum, minSamples; for the last step, the
 * pairs a promotion needs. A plan whose step budget (guards.maxHoldPairs) is below this can
 * never promote (spec planProblems).
 */
export function pairsToPass(spec: RolloutSpec): number {
  const g = spec.guards;
  const per = spec.probesPerRound;
  for (let n = per; n <= 1_000_000; n += per) {
    if (
      n >= g.minSamples &&
      differenceGuard('errorRate', '', { n, gOnly: 0, bOnly: 0 }, g.maxErrorRateIncrease, g, 'record').verdict === 'Pass'
    ) {
      return Math.max(n, g.windowMinPairs, g.minSamples);
    }
  }
  return Infinity;
}

// ---------- the shadow phase (plan.shadow) ----------

const BIG = 1e9;
const wholeUpTo = (x: unknown, max: number): x is number => whole(x) && (x as number) <= max;
const column = (x: unknown, n: number, ok: (v: unknown) => boolean): x is number[] => Array.isArray(x) && x.length === n && x.every(ok);
const ternary = (v: unknown) => v === -1 || v === 0 || v === 1;

/**
 * A checked shadow batch (numbers only, bounded), or undefined: signals come from outside. Every column
 * has one entry per pair, at most MAX_SHADOW_PAIRS_PER_BATCH pairs, codes in range, amounts whole and
 * finite; unknown fields are left behind (only what is checked is merged).
 */
export function parseShadowBatch(
  b: unknown,
): { batchId: string; round: ProbeRound; dropped: number; skipped: number; sampledOut?: SampledOut } | undefined {
  const x = b as Record<string, any> | null;
  if (!x || typeof x !== 'object' || typeof x.batchId !== 'string' || x.batchId.length === 0 || x.batchId.length > 200) return undefined;
  if (!wholeUpTo(x.dropped, BIG) || !wholeUpTo(x.skipped, BIG)) return undefined;
  const r = x.round as Record<string, any> | null;
  if (!r || typeof r !== 'object' || !Array.isArray(r.prompt) || r.prompt.length > MAX_SHADOW_PAIRS_PER_BATCH) return undefined;
  const n = r.prompt.length;
  const arm = (a: Record<string, any> | null | undefined): ProbeRound['blue'] | undefined => {
    if (!a || typeof a !== 'object') return undefined;
    const cols = {
      code: a.code,
      ms: a.ms,
      microUsd: a.microUsd,
      inputTokens: a.inputTokens,
      outputTokens: a.outputTokens,
      check: a.check ?? new Array(n).fill(-1),
      retriedFailures: a.retriedFailures ?? new Array(n).fill(0),
    };
    if (!column(cols.code, n, (v) => wholeUpTo(v, OUTCOME_CODES.length - 1))) return undefined;
    if (!column(cols.ms, n, (v) => wholeUpTo(v, 1e8)) || !column(cols.microUsd, n, (v) => wholeUpTo(v, BIG))) return undefined;
    if (!column(cols.inputTokens, n, (v) => wholeUpTo(v, BIG)) || !column(cols.outputTokens, n, (v) => wholeUpTo(v, BIG))) return undefined;
    if (!column(cols.check, n, ternary) || !column(cols.retriedFailures, n, (v) => wholeUpTo(v, 100))) return undefined;
    return cols as ProbeRound['blue'];
  };
  const blue = arm(r.blue);
  const green = arm(r.green);
  if (!blue || !green || !column(r.prompt, n, (v) => v === 0)) return undefined;
  const round: ProbeRound = { prompt: new Array(n).fill(0), blue, green };
  if (r.output !== undefined) {
    if (!r.output || typeof r.output !== 'object') return undefined;
    round.output = {};
    for (const [k, v] of Object.entries(r.output as Record<string, any>)) {
      if (!(OUTPUT_CHECKS as readonly string[]).includes(k) || !v || !column(v.blue, n, ternary) || !column(v.green, n, ternary))
        return undefined;
      round.output[k as (typeof OUTPUT_CHECKS)[number]] = { blue: v.blue, green: v.green };
    }
  }
  if (r.judge !== undefined) {
    if (!column(r.judge, n, (v) => wholeUpTo(v, JUDGE_CODES.length - 1))) return undefined;
    round.judge = r.judge;
  }
  if (r.judgeMicroUsd !== undefined) {
    if (!wholeUpTo(Math.round(Number(r.judgeMicroUsd)), BIG) || !amount(r.judgeMicroUsd)) return undefined;
    round.judgeMicroUsd = r.judgeMicroUsd;
  }
  if (r.unpriced && typeof r.unpriced === 'object')
    round.unpriced = { ...(r.unpriced.blue === true ? { blue: true } : {}), ...(r.unpriced.green === true ? { green: true } : {}) };
  const so = x.sampledOut as Record<string, unknown> | undefined;
  if (so !== undefined && (!so || !wholeUpTo(so.pairs, BIG) || !wholeUpTo(so.greenMicroUsd, BIG) || !wholeUpTo(so.blueMicroUsd, BIG)))
    return undefined;
  const sampledOut = so && {
    pairs: so.pairs as number,
    greenMicroUsd: so.greenMicroUsd as number,
    blueMicroUsd: so.blueMicroUsd as number,
  };
  return { batchId: x.batchId, round, dropped: x.dropped, skipped: x.skipped, ...(sampledOut ? { sampledOut } : {}) };
}

export type ShadowBatchResult = 'merged' | 'duplicate' | 'closed' | 'malformed' | 'not-shadow';

/** The most mirrored pairs the phase judges without a verdict before onFailure (and mirroring stops). */
export const shadowPairBudget = (spec: RolloutSpec): number => Math.max(4 * (spec.shadow?.minPairs ?? 0), spec.guards.maxHoldPairs);

/**
 * Merge one router's shadow batch into the phase's evidence (only while the phase runs: a late batch
 * after it is not counted). A repeated batchId is dropped; a malformed batch too (never a throw).
 * Mirroring stops (status `shadow.stopped`) once green's shadow spend reached plan.shadow.maxSpendUsd or
 * the phase has its pair budget.
 */
export function acceptShadowBatch(spec: RolloutSpec, s: RolloutState, raw: unknown): { state: RolloutState; result: ShadowBatchResult } {
  const batch = parseShadowBatch(raw);
  if (!batch) return { state: s, result: 'malformed' };
  if (s.outcome) return { state: s, result: 'closed' };
  if (s.stage.kind !== 'shadow' || !s.shadow || !spec.shadow) return { state: s, result: 'not-shadow' };
  if (s.shadow.seenBatchIds.includes(batch.batchId)) return { state: s, result: 'duplicate' };
  const g = spec.guards;
  const evidence = addShadowBatch(s.shadow.evidence, batch, {
    tailQuantile: g.latency.tailQuantile,
    p50Tolerance: g.latency.p50Tolerance ?? 0,
    tailTolerance: g.latency.tailTolerance,
  });
  const spend = shadowGreenSpendUsd(evidence);
  const cap = spec.shadow.maxSpendUsd;
  const stopped =
    s.shadow.stopped ??
    (cap !== undefined && spend >= cap
      ? `green's shadow spend ${fmtUsd(spend)} reached plan.shadow.maxSpendUsd ${fmtUsd(cap)}`
      : evidence.pairs.pairs >= shadowPairBudget(spec)
        ? `the phase's budget of ${shadowPairBudget(spec)} mirrored pairs is spent`
        : undefined);
  const shadow: ShadowState = {
    ...s.shadow,
    evidence,
    seenBatchIds: [...s.shadow.seenBatchIds.slice(-(BATCH_IDS_KEPT - 1)), batch.batchId],
    ...(stopped ? { stopped } : {}),
  };
  return { state: { ...s, shadow }, result: 'merged' };
}

/** Shadow batches refused because too many arrived at once: counted, shown in the status. */
export function shadowDropped(s: RolloutState, n: number): RolloutState {
  return s.shadow ? { ...s, shadow: { ...s.shadow, droppedBatches: (s.shadow.droppedBatches ?? 0) + n } } : s;
}

export function evaluateShadowState(spec: RolloutSpec, s: RolloutState): Evaluation {
  return evaluateShadow({
    evidence: s.shadow?.evidence ?? emptyShadowEvidence(),
    guards: spec.guards,
    plan: { minPairs: spec.shadow?.minPairs ?? 0, maxLengthIncrease: spec.shadow?.maxLengthIncrease ?? 0.5 },
  });
}

/** The phase failed (a Fail, no verdict within its budget): onFailure — roll back, or pause (resume accepts the risk: step 1). */
function shadowFailure(spec: RolloutSpec, s: RolloutState, reason: string): RolloutState {
  if (spec.onFailure === 'rollback') return end(s, 'rolled_back', 0, reason);
  return { ...s, pause: { reason }, stage: { kind: 'next-step' } };
}

/**
 * Judge the phase after new batches: Fail → onFailure; Pass (with minPairs) → step 1; no verdict once
 * mirroring stopped (spend cap, pair budget) → onFailure; otherwise keep mirroring. The verdict list keeps
 * one Inconclusive of the phase at a time (each batch replaces it), every Pass and Fail.
 */
export function judgeShadow(spec: RolloutSpec, s: RolloutState, at: string): RolloutState {
  if (s.outcome || s.stage.kind !== 'shadow' || !s.shadow) return s;
  const e = evaluateShadowState(spec, s);
  const record: VerdictRecord = { step: 0, greenPercent: 0, round: s.shadow.evidence.batches, at, evaluation: e };
  const last = s.verdicts.at(-1);
  const kept = last && last.step === 0 && last.evaluation.verdict === 'Inconclusive' ? s.verdicts.slice(0, -1) : s.verdicts;
  const recorded: RolloutState = { ...s, lastEvaluation: e, verdicts: [...kept.slice(-(VERDICTS_KEPT - 1)), record] };
  const pairs = s.shadow.evidence.pairs.pairs;
  if (e.verdict === 'Fail')
    return shadowFailure(
      spec,
      recorded,
      `failed verdict in the shadow phase (green served 0% of users; ${pairs} mirrored pairs): ${describeEvaluation(e)}`,
    );
  if (e.verdict === 'Pass') return { ...recorded, stage: { kind: 'next-step' } };
  if (s.shadow.stopped)
    return shadowFailure(
      spec,
      recorded,
      `no verdict in the shadow phase after ${pairs} of ${spec.shadow?.minPairs} mirrored pairs: mirroring stopped (${s.shadow.stopped}): ${e.reason}`,
    );
  return recorded;
}

/** How long the phase may still wait for batches (plan.shadow.maxDuration), or undefined: no limit. */
export function shadowWaitMs(spec: RolloutSpec, s: RolloutState, nowMs: number): number | undefined {
  if (s.stage.kind !== 'shadow' || spec.shadow?.maxDurationMs === undefined) return undefined;
  return Math.max(0, s.stage.since + spec.shadow.maxDurationMs - nowMs);
}

/** The clock moved on in the phase: past maxDuration without a verdict, onFailure applies. */
export function shadowTick(spec: RolloutSpec, s: RolloutState, nowMs: number): RolloutState {
  if (s.outcome || s.stage.kind !== 'shadow' || spec.shadow?.maxDurationMs === undefined) return s;
  if (nowMs - s.stage.since < spec.shadow.maxDurationMs) return s;
  const pairs = s.shadow?.evidence.pairs.pairs ?? 0;
  const none = (s.shadow?.evidence.batches ?? 0) === 0 ? '; no router sent mirrored pairs (is a router in front of this target?)' : '';
  return shadowFailure(
    spec,
    s,
    `no verdict in the shadow phase within ${formatDuration(spec.shadow.maxDurationMs)} (plan.shadow.maxDuration): ${pairs} of ${spec.shadow.minPairs} mirrored pairs${none}`,
  );
}
