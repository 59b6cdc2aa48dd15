/**
 * The rollout workflow: moves traffic from blue to green step by step, judges green at every step,
 * and rolls back on its own (failed verdict) or on command (abort). Deterministic: all I/O is in
 * activities; decisions come from the pure modules in src/decision and ./rollout-state.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import { emptyArmStats, mergeArmStats } from '../decision/arm-stats';
import { evaluate, type Evaluation } from '../decision/verdict';
import type { RolloutSpec } from './spec';
import { BlueModel, GreenModel, GreenPercent, RolloutPhase, RolloutTarget } from '../temporal/search-attributes';
import {
  abortSignal,
  CLOSED_PHASES,
  liveMetricsSignal,
  pauseSignal,
  promoteUpdate,
  resumeSignal,
  statusQuery,
  type Phase,
  type RolloutStatus,
} from './contract';
import { combined, describeEvaluation, isLiveBatch, renderDetails, toStatus, type RolloutState } from './state';

export interface RolloutOptions {
  /** Continue-as-new once history passes this many events (default 2,000; also on the server's suggestion). */
  historyEventLimit?: number;
}

export interface RolloutInput {
  spec: RolloutSpec;
  options?: RolloutOptions;
  /** Carried across continue-as-new; absent on the first run. */
  state?: RolloutState;
}

export interface RolloutResult {
  target: string;
  phase: Phase;
  greenPercent: number;
  reason?: string;
  status: RolloutStatus;
}

const { preflight } = proxyActivities<typeof activities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '10s',
  // An interrupted activity is drained before the workflow closes, so its last events never race
  // the workflow's completion (which would fail that workflow task and the operator's update with it).
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 5, initialInterval: '1s', maximumInterval: '10s', nonRetryableErrorTypes: ['GatewayAuth', 'ModelNotFound', 'GatewayConfig'] },
});

/** Thrown by `interruptible` when the loop itself cancelled the work (abort, promote, pause). */
class CancelledByLoop extends Error {}

/**
 * Run `fn` in its own scope and cancel it as soon as `stop()` turns true (abort, promote, pause).
 * Whatever the cancelled work then throws (the activity may fail rather than report a clean
 * cancellation), the caller sees CancelledByLoop: a pause must never look like a sampling failure.
 */
async function interruptible<T>(fn: () => Promise<T>, stop: () => boolean): Promise<T> {
  let settled = false;
  let cancelled = false;
  const scope = new CancellationScope();
  void condition(() => settled || stop()).then(() => {
    if (settled) return;
    cancelled = true;
    scope.cancel();
  });
  try {
    return await scope.run(fn);
  } catch (err) {
    if (cancelled) throw new CancelledByLoop();
    throw err;
  } finally {
    settled = true;
  }
}

function initialState(spec: RolloutSpec): RolloutState {
  return {
    phase: 'preflight',
    stepIndex: -1,
    greenPercent: 0,
    round: 0,
    roundsAtStep: 0,
    samples: { blue: emptyArmStats(), green: emptyArmStats() },
    live: { blue: emptyArmStats(), green: emptyArmStats(), batches: 0, seenBatchIds: [] },
    fallbacksServed: 0,
    verdicts: [],
    preflightDone: false,
    dwellRemainingMs: undefined,
    startedAt: new Date().toISOString(),
    runs: 1,
  };
}

export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutResult> {
  const result = await runRollout(input);
  // Let a pending promote answer before the workflow closes: completing the workflow while an
  // accepted update is still open fails the workflow task (and the operator's promote call).
  await condition(allHandlersFinished);
  return result;
}

async function runRollout(input: RolloutInput): Promise<RolloutResult> {
  const { spec } = input;
  const state: RolloutState = input.state ? { ...input.state, runs: input.state.runs + 1 } : initialState(spec);
  const historyLimit = input.options?.historyEventLimit ?? 2000;

  // Operator intents, acted on by the main loop (and interrupting any wait at once).
  let paused = state.phase === 'paused';
  let pauseReason: string | undefined = state.pauseReason;
  let abortReason: string | undefined;
  let promoteRequested = false;
  let liveBatchesSinceEval = 0;
  // Declared before the handlers: a signal sent with the start (signalWithStart) runs its handler
  // the moment it is registered, and may publish.
  let published = '';

  const closed = () => CLOSED_PHASES.includes(state.phase);
  const interrupted = () => abortReason !== undefined || promoteRequested;
  const status = () => toStatus(spec, state);

  setHandler(statusQuery, status);
  setHandler(pauseSignal, (args) => {
    if (closed()) return;
    paused = true;
    pauseReason = args?.reason ?? 'paused by operator';
    state.pauseReason = pauseReason;
    setPhase('paused'); // visible at once; the loop stops sampling as soon as the batch in flight is cancelled
  });
  setHandler(resumeSignal, () => {
    if (!paused) return;
    paused = false;
    pauseReason = undefined;
    state.pauseReason = undefined;
    setPhase(state.preflightDone ? 'ramping' : 'preflight');
  });
  setHandler(abortSignal, (args) => {
    if (closed() || abortReason !== undefined) return;
    abortReason = `aborted by operator${args?.reason ? `: ${args.reason}` : ''}`;
    close('rolled_back', 0, abortReason); // the ratio is 0 at once; the loop then drains work in flight
  });
  setHandler(liveMetricsSignal, (batch) => {
    // A malformed batch (a hand-sent signal, a router of another version) is dropped, never merged:
    // an exception here would fail every workflow task and wedge the rollout, abort included.
    if (!isLiveBatch(batch)) {
      log.warn('ignoring a malformed liveMetrics batch', { batchId: (batch as { batchId?: unknown } | undefined)?.batchId });
      return;
    }
    if (closed() || state.live.seenBatchIds.includes(batch.batchId)) return;
    state.live.seenBatchIds = [...state.live.seenBatchIds.slice(-199), batch.batchId];
    state.live.blue = mergeArmStats(state.live.blue, batch.blue);
    state.live.green = mergeArmStats(state.live.green, batch.green);
    state.live.batches++;
    liveBatchesSinceEval++;
  });
  setHandler(
    promoteUpdate,
    (args) => {
      promoteRequested = true;
      close('promoted', 100, `promoted by operator${args?.reason ? `: ${args.reason}` : ''}`);
      return status();
    },
    {
      validator: (_args) => {
        if (CLOSED_PHASES.includes(state.phase)) {
          throw new Error(`rollout-${spec.target} is already ${state.phase}; nothing to promote`);
        }
        if (!state.preflightDone) {
          throw new Error(`rollout-${spec.target} has not passed preflight yet (${spec.green.model} is unchecked); promote after it starts ramping`);
        }
      },
    },
  );

  /** Current details always; search attributes only when phase or ratio changed (each upsert is a history event). */
  function publish(): void {
    const key = `${state.phase}|${Math.round(state.greenPercent)}`;
    if (key !== published) {
      published = key;
      upsertSearchAttributes([
        { key: RolloutTarget, value: spec.target },
        { key: RolloutPhase, value: state.phase },
        { key: BlueModel, value: spec.blue.model },
        { key: GreenModel, value: spec.green.model },
        { key: GreenPercent, value: Math.round(state.greenPercent) },
      ]);
    }
    state.updatedAt = new Date().toISOString();
    setCurrentDetails(renderDetails(spec, state));
  }

  /** Enter a closed phase once (the first decision wins: an abort is not overwritten by a later verdict). */
  function close(phase: Phase, greenPercent: number, reason: string): void {
    if (closed()) return;
    state.phase = phase;
    state.greenPercent = greenPercent;
    state.reason = reason;
    publish();
    log.info(`rollout ${spec.target} ${phase}: ${reason}`);
  }
  const finish = (phase: Phase, greenPercent: number, reason: string): RolloutResult => {
    close(phase, greenPercent, reason);
    return { target: spec.target, phase: state.phase, greenPercent: state.greenPercent, reason: state.reason, status: status() };
  };
  const rollback = (reason: string) => finish('rolled_back', 0, reason);
  const promote = (reason: string) => finish('promoted', 100, reason);
  /** Apply whatever the operator asked for; returns a result when the rollout ended. */
  const actOnIntents = (): RolloutResult | undefined => {
    if (abortReason !== undefined) return rollback(abortReason);
    if (promoteRequested) return promote('promoted by operator');
    return undefined;
  };
  function setPhase(p: Phase): void {
    if (state.phase !== p && !closed()) {
      state.phase = p;
      publish();
    }
  }
  /** Hold while paused (the resume handler restores the phase); returns when resumed or interrupted. */
  const holdWhilePaused = async () => {
    if (!paused) return;
    state.pauseReason = pauseReason;
    setPhase('paused');
    await condition(() => !paused || interrupted());
  };
  const shouldContinueAsNew = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > historyLimit;

  publish();

  // Preflight: both models exist and keys are accepted, before any traffic moves.
  if (!state.preflightDone) {
    try {
      const pre = await interruptible(
        () =>
          preflight.executeWithOptions({ summary: `preflight: ${spec.blue.model} and ${spec.green.model} exist, keys accepted` }, [
            { blue: spec.blue, green: spec.green },
          ]),
        interrupted,
      );
      log.info('preflight passed', { ...pre });
    } catch (err) {
      const intent = actOnIntents();
      if (intent) return intent;
      if (isCancellation(err)) throw err;
      const cause = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
      return finish('failed', 0, `preflight failed: ${cause?.message ?? (err as Error).message}`);
    }
    const endedInPreflight = actOnIntents();
    if (endedInPreflight) return endedInPreflight;
    state.preflightDone = true;
    if (!paused) setPhase('ramping'); // a pause that came during preflight holds
  }

  const { runSampleBatch } = proxyActivities<typeof activities>({
    startToCloseTimeout: Math.max(120_000, spec.samplesPerStep * spec.request.timeoutMs),
    heartbeatTimeout: '10s',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { maximumAttempts: 10, initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: ['GatewayAuth', 'GatewayConfig'] },
  });

  // One loop, one decision per turn. Operator intents come first in every turn: nothing advances while
  // paused, abort and promote end the rollout, and continue-as-new happens only here, with no batch in flight.
  for (;;) {
    await holdWhilePaused();
    const ended = actOnIntents();
    if (ended) return ended;
    if (shouldContinueAsNew()) {
      await condition(allHandlersFinished);
      const endedNow = actOnIntents();
      if (endedNow) return endedNow;
      if (paused) continue; // a pause that arrived while handlers finished: hold first
      return continueAsNew<typeof rolloutWorkflow>({ spec, options: input.options, state });
    }

    if (state.stepIndex < 0 || state.dwellRemainingMs === 0) {
      // Advance to the next step.
      if (state.stepIndex + 1 >= spec.steps.length) return promote(`all ${spec.steps.length} steps passed; green serves 100%`);
      state.stepIndex++;
      state.greenPercent = spec.steps[state.stepIndex];
      state.roundsAtStep = 0;
      state.dwellRemainingMs = undefined;
      state.lastEvaluation = undefined;
      publish();
      continue;
    }

    if (state.dwellRemainingMs === undefined) {
      // Judge the step: one sample round; Inconclusive brings another (up to maxHoldRounds).
      state.round++;
      state.roundsAtStep++;
      let batch: Awaited<ReturnType<typeof runSampleBatch>>;
      try {
        batch = await interruptible(
          () =>
            runSampleBatch.executeWithOptions(
              { summary: `step ${state.stepIndex + 1}/${spec.steps.length} round ${state.roundsAtStep}: ${spec.samplesPerStep} samples at ${state.greenPercent}% green` },
              [
                {
                  target: spec.target,
                  step: state.stepIndex + 1,
                  round: state.round,
                  // Samples keep a blue control share even at high ratios (spec.blueControlPercent).
                  greenPercent: Math.min(state.greenPercent, 100 - (spec.blueControlPercent ?? 20)),
                  count: spec.samplesPerStep,
                  concurrency: spec.concurrency,
                  blue: spec.blue,
                  green: spec.green,
                  prompts: spec.prompts,
                  requestsPerMinute: spec.rateLimit.requestsPerMinute,
                  request: spec.request,
                  retry: spec.retry,
                  fallback: spec.fallback,
                  seed: (state.round * 2654435761) >>> 0,
                },
              ],
            ),
          () => interrupted() || paused,
        );
      } catch (err) {
        if (err instanceof CancelledByLoop) {
          // Paused, aborted or promoted mid-round: the round did not count; the next turn decides.
          state.round--;
          state.roundsAtStep--;
          continue;
        }
        if (isCancellation(err)) throw err;
        const cause = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
        return rollback(`sampling failed: ${cause?.message ?? (err as Error).message}`);
      }
      const endedDuringBatch = actOnIntents();
      if (endedDuringBatch) return endedDuringBatch;
      state.samples.blue = mergeArmStats(state.samples.blue, batch.blue);
      state.samples.green = mergeArmStats(state.samples.green, batch.green);
      state.fallbacksServed += batch.fallbacksServed;
      state.lastError = batch.lastError ?? state.lastError;
      const verdictEnd = await judge();
      if (verdictEnd) return verdictEnd;
      continue;
    }

    // Dwell at this step: abort/promote end it at once, pause stops the clock, live batches are judged.
    const startMs = Date.now();
    liveBatchesSinceEval = 0;
    await condition(() => interrupted() || paused || liveBatchesSinceEval > 0, state.dwellRemainingMs, {
      summary: `dwell ${Math.round(state.dwellRemainingMs / 1000)}s at ${state.greenPercent}% green (step ${state.stepIndex + 1}/${spec.steps.length})`,
    });
    state.dwellRemainingMs = Math.max(0, state.dwellRemainingMs - (Date.now() - startMs));
    if (liveBatchesSinceEval > 0 && !interrupted()) {
      const verdictEnd = await judge({ duringDwell: true });
      if (verdictEnd) return verdictEnd;
    }
  }

  /**
   * Evaluate green against blue (samples + live traffic) and apply the policy:
   * Pass → dwell; Fail → onFailure; Inconclusive → hold (another round) up to maxHoldRounds, then onFailure.
   * Returns a result when the rollout ended.
   */
  async function judge(opts: { duringDwell?: boolean } = {}): Promise<RolloutResult | undefined> {
    const { blue, green } = combined(state);
    // The spend cap is what the rollout itself spends (its samples), not the users' live traffic.
    const evaluation: Evaluation = evaluate({ blue, green, guards: spec.guards, greenSpendUsd: state.samples.green.costUsd });
    state.lastEvaluation = evaluation;
    // Every round's verdict is kept; a live batch during a dwell only when it fails (else the list
    // would fill with repeats of the dwell's Pass and push the step's verdicts out).
    if (!opts.duringDwell || evaluation.verdict === 'Fail') {
      state.verdicts = [
        ...state.verdicts.slice(-19),
        { step: state.stepIndex + 1, greenPercent: state.greenPercent, round: state.roundsAtStep, at: new Date().toISOString(), evaluation },
      ];
    }
    publish();
    if (evaluation.verdict === 'Pass') {
      if (!opts.duringDwell) state.dwellRemainingMs = spec.dwellMs;
      return undefined;
    }
    if (evaluation.verdict === 'Inconclusive') {
      if (opts.duringDwell) return undefined; // keep dwelling; the next step's rounds gather more evidence
      if (state.roundsAtStep < spec.guards.maxHoldRounds) return undefined;
      return onFailure(`no verdict after ${state.roundsAtStep} rounds at ${state.greenPercent}%: ${evaluation.reason}`);
    }
    return onFailure(`failed verdict at ${state.greenPercent}% green: ${describeEvaluation(evaluation)}`);
  }

  async function onFailure(reason: string): Promise<RolloutResult | undefined> {
    if (spec.onFailure === 'rollback') return rollback(reason);
    // Policy `pause`: hold the ratio for a human. Resume accepts the risk (dwell, then the next step);
    // abort rolls back.
    paused = true;
    pauseReason = reason;
    state.pauseReason = reason;
    setPhase('paused');
    state.dwellRemainingMs = spec.dwellMs;
    return undefined;
  }
}
