/**
 * The rollout workflow: the Temporal side of ./machine — handlers, the loop, activities, timers and
 * what it publishes (search attributes, current details). Every decision is the machine's; this file
 * only runs them durably. Deterministic: all I/O is in activities, time comes from the workflow clock.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setDefaultSignalHandler,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities';
import {
  abortSignal,
  abortUpdate,
  approverFrom,
  approveUpdate,
  HANDLER_DESCRIPTIONS as DESCRIBE,
  liveMetricsSignal,
  shadowMetricsSignal,
  pauseSignal,
  pauseUpdate,
  promoteUpdate,
  reasonFrom,
  resumeSignal,
  resumeUpdate,
  rolloutSearchAttributes,
  statusQuery,
  type RolloutInput,
  type RolloutResult,
  type RolloutStatus,
  type ProbeRoundResult,
  type ArmRef,
} from './contract';
import * as m from './machine';
import type { RolloutSpec } from './spec';
import { renderDetails } from './web-ui';

const DEFAULT_HISTORY_EVENT_LIMIT = 2000;
/**
 * Past the history limit by this much (a signal flood), work in flight is interrupted so the run can
 * continue as new — well before the server's per-run limits (10,000 signals, 51,200 events).
 */
const HISTORY_PRESSURE_MARGIN = 4000;
/**
 * Live batches merged per workflow task; beyond this (a flood), batches are dropped and counted. Routers
 * send one batch per interval each, so a task normally carries a handful: the cap bounds the work of one
 * task, which must finish within the SDK's 5 s limit however many signals arrived at once.
 */
const LIVE_BATCHES_PER_TASK = 100;

const { preflight } = proxyActivities<typeof activities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '10s',
  // An interrupted activity is drained before the workflow closes, so its last events never race
  // the workflow's completion (which would fail that workflow task and the operator's update with it).
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    maximumAttempts: 5,
    initialInterval: '1s',
    maximumInterval: '10s',
    nonRetryableErrorTypes: ['GatewayAuth', 'ModelNotFound', 'GatewayConfig'],
  },
});

/** Webhooks: a down receiver is retried for about two minutes, then the event counts as failed for it. */
const { deliverNotification } = proxyActivities<typeof activities>({
  startToCloseTimeout: '20s',
  retry: {
    maximumAttempts: 8,
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    nonRetryableErrorTypes: ['NotifyConfig', 'NotifyRejected'],
  },
});

/** At the end, how long the rollout waits for its webhooks to have every event before it closes. */
const NOTIFY_DRAIN_MS = 2 * 60_000;

const probeActivities = (spec: RolloutSpec) =>
  proxyActivities<typeof activities>({
    startToCloseTimeout: Math.max(120_000, spec.probesPerRound * spec.request.timeoutMs),
    heartbeatTimeout: '10s',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { maximumAttempts: 10, initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: ['GatewayAuth', 'GatewayConfig'] },
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

/** The activity's ApplicationFailure behind an error, if any. */
const applicationFailure = (err: unknown) =>
  err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
/** The failure's own message: an activity's ApplicationFailure, or the error itself. */
const failureMessage = (err: unknown): string => (applicationFailure(err) ?? (err as Error)).message;

export async function rolloutWorkflow(input: RolloutInput): Promise<RolloutResult> {
  const run = new RolloutRun(input);
  const result = await run.run();
  // Let a pending promote answer before the workflow closes: completing the workflow while an
  // accepted update is still open fails the workflow task (and the operator's promote call).
  await condition(allHandlersFinished);
  return result;
}

/** guards.judge as an arm (model, gateway, key variable): preflight checks it, probe rounds call it. */
function judgeArm(spec: RolloutSpec): ArmRef | undefined {
  const j = spec.guards.judge;
  return (
    j && {
      model: j.model,
      ...(j.baseURL ? { baseURL: j.baseURL } : {}),
      ...(j.apiKeyEnv ? { apiKeyEnv: j.apiKeyEnv } : {}),
    }
  );
}

/** One workflow run of a rollout: its state in one place, one-line handlers, one loop. */
class RolloutRun {
  private readonly spec: RolloutSpec;
  private state: m.RolloutState;
  /** The search attributes last upserted (each upsert is a history event: only on change). */
  private published = '';

  /** Workflow time of the task being processed (constant within a task) and the live batches merged in it. */
  private task = { at: -1, merged: 0 };
  /** New behaviour of this version (live inbox, continue-as-new under history pressure); false when replaying older runs. */
  private readonly pressureAware: boolean;
  /** Probe rounds ask guards.judge about a sample of their pairs. */
  private readonly probeJudge: boolean;

  constructor(private readonly input: RolloutInput) {
    this.spec = input.spec;
    this.state = m.resumeState(input.state, new Date().toISOString());
    this.pressureAware = patched('history-pressure-v1');
    // guards.judge grades probe pairs too (rollouts started before this version keep the shadow-only judge)
    this.probeJudge = this.spec.guards.judge !== undefined && patched('probe-judge-v1');
    // Handlers before anything else: a signal sent with the start (signalWithStart) runs its handler
    // the moment it is registered.
    setHandler(statusQuery, () => this.status(), { description: DESCRIBE.status });
    setHandler(pauseSignal, (a) => this.apply(m.pause(this.state, reasonFrom(a))), { description: DESCRIBE.pause });
    setHandler(resumeSignal, () => this.apply(m.resume(this.state)), { description: DESCRIBE.resume });
    setHandler(abortSignal, (a) => this.apply(m.abort(this.state, reasonFrom(a))), { description: DESCRIBE.abort });
    setHandler(liveMetricsSignal, (batch) => this.receiveLive(batch), { description: DESCRIBE.liveMetrics });
    setHandler(shadowMetricsSignal, (batch) => this.receiveShadow(batch), { description: DESCRIBE.shadowMetrics });
    setDefaultSignalHandler((name) => this.ignoreSignal(name));
    // The same intents as updates: acknowledged with the new status, refused (with the reason) when they cannot apply.
    const checked = (intent: 'pause' | 'resume' | 'abort' | 'promote') => ({
      validator: (..._args: any[]) => this.refuse(m.intentRefusal(this.spec, this.state, intent)),
      description: DESCRIBE[intent],
    });
    setHandler(pauseUpdate, (a) => this.applyAndAnswer(m.pause(this.state, reasonFrom(a))), checked('pause'));
    setHandler(resumeUpdate, () => this.applyAndAnswer(m.resume(this.state)), checked('resume'));
    setHandler(abortUpdate, (a) => this.applyAndAnswer(m.abort(this.state, reasonFrom(a))), checked('abort'));
    setHandler(promoteUpdate, (a) => this.applyAndAnswer(m.promote(this.state, reasonFrom(a))), checked('promote'));
    setHandler(approveUpdate, (a) => this.applyAndAnswer(this.approved(a)), {
      validator: (_a) => this.refuse(m.approvalRefusal(this.spec, this.state)),
      description: DESCRIBE.approve,
    });
  }

  private status(): RolloutStatus {
    return m.toStatus(this.spec, this.state);
  }

  private applyAndAnswer(next: m.RolloutState): RolloutStatus {
    this.apply(next);
    return this.status();
  }

  private refuse(why: string | undefined): void {
    if (why) throw new Error(why);
  }

  private readonly closed = () => m.isClosed(this.state);
  private readonly paused = () => this.state.pause !== undefined;

  private approved(input: unknown): m.RolloutState {
    const { by, reason } = approverFrom(input);
    log.info(`rollout ${this.spec.target}: step ${this.state.stepIndex + 1} approved by ${by}${reason ? `: ${reason}` : ''}`);
    return m.approve(this.state, by, reason, new Date().toISOString());
  }

  /** Take a new state and publish it; an ending is logged once; webhooks get the events between the two. */
  private apply(next: m.RolloutState): void {
    const wasClosed = this.closed();
    if (this.spec.notify?.length)
      next = m.enqueueEvents(this.spec, next, m.eventsBetween(this.spec, this.state, next, new Date().toISOString()));
    this.state = next;
    this.publish();
    if (!wasClosed && next.outcome) log.info(`rollout ${this.spec.target} ${next.outcome.phase}: ${next.outcome.reason}`);
  }

  private ignoreSignal(name: string): void {
    log.warn(`ignoring signal "${name.slice(0, 100)}": this rollout knows pause, resume, abort and liveMetrics`);
    this.state = m.signalIgnored(this.state, name);
  }

  private receiveLive(batch: unknown): void {
    const now = Date.now(); // the workflow clock: the same for every job of one task
    if (now !== this.task.at) this.task = { at: now, merged: 0 };
    if (this.pressureAware && ++this.task.merged > LIVE_BATCHES_PER_TASK) {
      this.state = m.liveDropped(this.state, 1);
      return;
    }
    const { state, result } = m.acceptLiveBatch(this.state, batch);
    if (result === 'malformed')
      log.warn('ignoring a malformed liveMetrics batch', { batchId: (batch as { batchId?: unknown } | undefined)?.batchId });
    this.state = state;
  }

  /** A router's shadow pairs: the same per-task bound as live batches (shared), the same dedupe by batchId. */
  private receiveShadow(batch: unknown): void {
    const now = Date.now();
    if (now !== this.task.at) this.task = { at: now, merged: 0 };
    if (++this.task.merged > LIVE_BATCHES_PER_TASK) {
      this.state = m.shadowDropped(this.state, 1);
      return;
    }
    const { state, result } = m.acceptShadowBatch(this.spec, this.state, batch);
    if (result === 'malformed')
      log.warn('ignoring a malformed shadowMetrics batch', {
        batchId: String((batch as { batchId?: unknown } | undefined)?.batchId ?? '').slice(0, 200),
      });
    this.state = state;
  }

  /** Current details always; search attributes only when phase or ratio changed. */
  private publish(): void {
    const phase = m.phaseOf(this.state);
    const key = `${phase}|${Math.round(this.state.greenPercent)}`;
    if (key !== this.published) {
      this.published = key;
      upsertSearchAttributes(rolloutSearchAttributes(this.spec, phase, this.state.greenPercent));
    }
    this.state = { ...this.state, updatedAt: new Date().toISOString() };
    setCurrentDetails(renderDetails(this.spec, this.state));
  }

  private result(): RolloutResult {
    const { spec, state } = this;
    return {
      target: spec.target,
      phase: m.phaseOf(state),
      greenPercent: state.greenPercent,
      reason: m.reasonOf(state),
      status: m.toStatus(spec, state),
    };
  }

  private historyLimit(): number {
    return this.input.options?.historyEventLimit ?? DEFAULT_HISTORY_EVENT_LIMIT;
  }

  private shouldContinueAsNew(): boolean {
    const info = workflowInfo();
    return info.continueAsNewSuggested || info.historyLength > this.historyLimit();
  }

  /** History far past the limit (a flood of signals): interrupt waits and rounds so the run continues as new now. */
  private readonly underPressure = (): boolean =>
    this.pressureAware && workflowInfo().historyLength > this.historyLimit() + HISTORY_PRESSURE_MARGIN;

  /**
   * One loop, one action per turn. An ending and a pause come first in every turn: nothing advances
   * while paused, and continue-as-new happens only here, with no activity in flight.
   */
  async run(): Promise<RolloutResult> {
    this.publish();
    // Webhooks are delivered beside the loop, one hook at a time in order: a down receiver never slows the rollout.
    const hooks = (this.spec.notify ?? []).map((_, i) => this.deliver(i));
    const result = await this.loop();
    if (hooks.length && m.isClosed(this.state)) {
      await condition(() => m.notifyDrained(this.spec, this.state), NOTIFY_DRAIN_MS);
    }
    this.deliveryStopped = true;
    return result;
  }

  private deliveryStopped = false;

  /** Deliver hook `i`'s events in order, each with the activity's retries; a failure is recorded, never thrown. */
  private async deliver(i: number): Promise<void> {
    const { spec } = this;
    const hook = spec.notify![i];
    for (;;) {
      await condition(() => this.deliveryStopped || m.nextEventFor(spec, this.state, i) !== undefined);
      const event = m.nextEventFor(spec, this.state, i);
      if (this.deliveryStopped || !event) return;
      const rollout = { workflowId: workflowInfo().workflowId, target: spec.target, blue: spec.blue.model, green: spec.green.model };
      let error: string | undefined;
      try {
        await deliverNotification.executeWithOptions({ summary: `notify ${event.kind} #${event.seq} (webhook ${i + 1})` }, [
          { hook, event, rollout },
        ]);
      } catch (err) {
        if (isCancellation(err)) return;
        error = failureMessage(err);
        log.warn(`webhook ${i + 1} did not take event ${event.seq} (${event.kind}): ${error}`);
      }
      this.state = m.eventDone(this.state, i, event.seq, error);
    }
  }

  /**
   * One loop, one action per turn. An ending and a pause come first in every turn: nothing advances
   * while paused, and continue-as-new happens only here, with no activity in flight.
   */
  private async loop(): Promise<RolloutResult> {
    // Preflight runs even when a pause came with the start: the pause holds after it.
    if (this.state.stage.kind === 'preflight' && !this.closed()) await this.preflight();
    for (;;) {
      const next = m.next(this.state);
      if (next.kind === 'ended') return this.result();
      if (next.kind === 'paused' && !this.underPressure()) {
        await condition(() => !this.paused() || this.closed() || this.underPressure());
        continue;
      }
      if (this.shouldContinueAsNew()) {
        await condition(allHandlersFinished);
        if (this.closed() || (this.paused() && !this.underPressure())) continue; // an ending or a pause that came meanwhile goes first
        return continueAsNew<typeof rolloutWorkflow>({
          spec: this.spec,
          options: this.input.options,
          state: this.state,
          ...(this.input.retryOf ? { retryOf: this.input.retryOf } : {}),
        });
      }
      if (next.kind === 'paused') continue; // under pressure: the next turn continues as new
      if (next.kind === 'preflight') await this.preflight();
      else if (next.kind === 'shadow') await this.shadowPhase();
      else if (next.kind === 'advance') this.apply(m.advanceOrHold(this.spec, this.state, Date.now()));
      else if (next.kind === 'sample') await this.probeRound(false);
      else if (next.kind === 'dwell') await this.dwell(next.ms);
      else if (next.kind === 'hold') await this.hold(next.for);
    }
  }

  /** Both models exist and keys are accepted, before any traffic moves. A pause during it holds after it. */
  private async preflight(): Promise<void> {
    const { spec } = this;
    try {
      const judge = judgeArm(spec);
      const summary = `preflight: ${spec.blue.model} and ${spec.green.model}${judge ? ` (and the judge ${judge.model})` : ''} exist, keys accepted`;
      const pre = await interruptible(
        () => preflight.executeWithOptions({ summary }, [{ blue: spec.blue, green: spec.green, ...(judge ? { judge } : {}) }]),
        this.closed,
      );
      log.info('preflight passed', { ...pre });
    } catch (err) {
      if (this.closed()) return;
      if (isCancellation(err)) throw err;
      return this.apply(m.preflightFailed(this.state, failureMessage(err)));
    }
    if (!this.closed()) this.apply(m.preflightPassed(this.state, this.spec, Date.now()));
  }

  /**
   * The shadow phase: green serves no user; routers mirror real requests to it and signal the pairs'
   * numbers. Wait for a batch (or plan.shadow.maxDuration), then judge what came. An ending, a pause or
   * history pressure interrupts the wait.
   */
  private async shadowPhase(): Promise<void> {
    const { spec } = this;
    // mirroring stopped by a batch merged while paused: no router sends another, so judge what came now
    if (this.state.shadow?.stopped && patched('shadow-stopped-judge-v1'))
      return this.apply(m.judgeShadow(spec, this.state, new Date().toISOString()));
    const seen = this.state.shadow?.evidence.batches ?? 0;
    const wake = () => this.closed() || this.paused() || (this.state.shadow?.evidence.batches ?? 0) > seen || this.underPressure();
    const ms = m.shadowWaitMs(spec, this.state, Date.now());
    const pairs = this.state.shadow?.evidence.pairs.pairs ?? 0;
    if (ms === undefined) await condition(wake);
    else
      await condition(wake, ms, {
        summary: `shadow phase: ${pairs} of ${spec.shadow?.minPairs} mirrored pairs (green serves 0% of users)`,
      });
    if (this.closed() || this.paused()) return;
    this.apply(m.shadowTick(spec, this.state, Date.now()));
    if ((this.state.shadow?.evidence.batches ?? 0) > seen && !this.closed())
      this.apply(m.judgeShadow(spec, this.state, new Date().toISOString()));
  }

  /**
   * Hold the step for an approval or the schedule window. Guards keep running: a watch round of probes
   * every minute and every live batch are judged (a Fail applies onFailure); the approval's deadline and
   * the window's opening are kept by the workflow clock.
   */
  private async hold(what: 'approval' | 'window'): Promise<void> {
    const { spec } = this;
    const stage = this.state.stage;
    const seen = this.state.live.batches;
    const ms = m.holdWaitMs(spec, this.state, Date.now(), this.state.stepIndex >= 0);
    const summary =
      what === 'approval'
        ? `waiting for approval of step ${this.state.stepIndex + 1} (${this.state.greenPercent}%)`
        : `outside the schedule window at ${this.state.greenPercent}% green`;
    await condition(
      () => this.closed() || this.paused() || this.state.stage !== stage || this.state.live.batches > seen || this.underPressure(),
      ms,
      { summary },
    );
    if (this.closed() || this.paused() || this.state.stage !== stage) return;
    const now = Date.now();
    this.apply(m.holdTick(spec, this.state, now));
    if (this.closed() || this.paused() || this.state.stage.kind !== stage.kind) return;
    if (this.state.live.batches > seen) this.judge(this.state, true);
    if (!this.closed() && m.watchDue(spec, this.state, now)) {
      this.state = m.watched(this.state, now);
      await this.probeRound(true);
    }
  }

  /**
   * One probe round at the current step, then its verdict (`watch`: a round while the step holds — only a
   * Fail changes anything). Paused, aborted or promoted mid-round: the round does not count.
   */
  private async probeRound(watch: boolean): Promise<void> {
    const { spec } = this;
    const r = m.nextRound(spec, this.state);
    const summary = `step ${r.step}/${spec.steps.length} round ${r.roundAtStep}: ${spec.probesPerRound} probe pairs (green serves ${this.state.greenPercent}% of users)`;
    const input = {
      target: spec.target,
      step: r.step,
      round: r.round,
      pairs: spec.probesPerRound,
      concurrency: spec.concurrency,
      blue: spec.blue,
      green: spec.green,
      prompts: spec.prompts,
      promptOffset: r.promptOffset,
      requestsPerMinute: spec.rateLimit.requestsPerMinute,
      request: spec.request,
      retry: spec.retry,
      ...(this.probeJudge && spec.guards.judge
        ? { judge: { ...judgeArm(spec)!, rubric: spec.guards.judge.rubric, samplePercent: spec.guards.judge.samplePercent } }
        : {}),
    };
    let result: ProbeRoundResult;
    try {
      const { runProbeRound } = probeActivities(spec);
      result = await interruptible(
        () => runProbeRound.executeWithOptions({ summary }, [input]),
        () => this.closed() || this.paused() || this.underPressure(),
      );
    } catch (err) {
      if (err instanceof CancelledByLoop) return;
      if (isCancellation(err)) throw err;
      if (applicationFailure(err)?.type === 'BadCheck') return this.apply(m.specFailed(this.state, failureMessage(err)));
      return this.apply(m.samplingFailed(this.state, failureMessage(err)));
    }
    if (this.closed()) return;
    this.judge(m.recordRound(spec, this.state, result), watch);
  }

  /** Dwell at this step: an ending or a pause interrupts it, the time left is kept; a live batch is judged. */
  private async dwell(ms: number): Promise<void> {
    const { spec, state } = this;
    const startMs = Date.now();
    const seen = state.live.batches;
    await condition(() => this.closed() || this.paused() || this.state.live.batches > seen || this.underPressure(), ms, {
      summary: `dwell ${Math.round(ms / 1000)}s at ${state.greenPercent}% green (step ${state.stepIndex + 1}/${spec.steps.length})`,
    });
    this.state = m.dwelt(this.state, Date.now() - startMs);
    if (this.state.live.batches > seen && !this.closed()) this.judge(this.state, true);
  }

  private judge(state: m.RolloutState, duringDwell: boolean): void {
    this.apply(m.judge(this.spec, state, new Date().toISOString(), Date.now(), duringDwell).state);
  }
}
