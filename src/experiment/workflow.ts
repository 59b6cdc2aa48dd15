/**
 * The experiment workflow: the Temporal side of ./plan and ./aggregate — handlers, the round loop,
 * activities and timers. The same prompt set goes to every chosen model, round after round (a fixed
 * number of rounds, or rounds started every `intervalMs` until `durationMs` has passed); each round
 * runs one `runExperimentBatch` activity per model concurrently. The result is the report (metrics only).
 *
 * Progress: the `progress` query, and a Markdown table in the Web UI's current details.
 * Stopping: the `stop` signal starts no new round, lets batches in flight finish, and returns the
 * report (status "stopped"). Cancelling the workflow drops the batches in flight and returns the
 * report of every finished batch (status "cancelled").
 *
 * Deterministic: no clock reads (the deadline is a timer), no randomness, no I/O; activities are
 * called through proxyActivities and only their types are imported. Command order per round: the
 * interval timer, then one activity per model in input order (the stored histories replay on it).
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type * as experimentActivities from './activities';
import { ExperimentAccumulator, progressOf, reportOf } from './aggregate';
import { progressQuery, stopSignal, type ExperimentInput, type ExperimentModel, type ExperimentReport } from './contract';
import * as plan from './plan';
import { renderMarkdown } from './web-ui';

export async function experimentWorkflow(input: ExperimentInput): Promise<ExperimentReport> {
  const problem = plan.checkExperimentInput(input);
  if (problem) throw ApplicationFailure.nonRetryable(problem, 'BadExperimentInput');
  return new ExperimentRun(input).run();
}

/** Start a timer; `onFire` runs when it fires. Cancelled with the workflow, it never does (nothing awaits it). */
function startTimer(ms: number, onFire: () => void): void {
  sleep(ms).then(onFire, () => undefined);
}

/** One experiment run: its state in one place (rounds + measurements), one-line handlers, one loop. */
class ExperimentRun {
  private rounds = plan.initialRounds();
  private readonly acc: ExperimentAccumulator;
  private readonly startedAt = workflowInfo().startTime.toISOString();
  /** Per model, in input order: run its batch for a round. */
  private readonly batches: Array<(round: number) => Promise<void>>;

  constructor(private readonly input: ExperimentInput) {
    this.acc = new ExperimentAccumulator(input.models.map((m) => m.model));
    setHandler(progressQuery, () => progressOf(this.rounds, input.settings, this.report()));
    setHandler(stopSignal, () => void (this.rounds = plan.requestStop(this.rounds)));
    this.batches = input.models.map((m) => this.batchRunner(m));
  }

  private report(): ExperimentReport {
    return reportOf(this.acc, this.rounds, this.input, this.startedAt);
  }

  private publish(rounds = this.rounds, report = this.report()): void {
    setCurrentDetails(renderMarkdown(progressOf(rounds, this.input.settings, report)));
  }

  async run(): Promise<ExperimentReport> {
    const { settings } = this.input;
    this.publish();
    try {
      if (settings.durationMs !== undefined) startTimer(settings.durationMs, () => void (this.rounds = plan.passDeadline(this.rounds)));
      while (plan.mayStartRound(settings, this.rounds)) {
        await this.round();
        if (plan.lastPlannedRoundDone(settings, this.rounds)) break;
        await condition(() => plan.waitOver(this.rounds));
      }
      this.rounds = plan.ended(this.rounds, false);
    } catch (err) {
      if (!isCancellation(err)) throw err;
      this.rounds = plan.ended(this.rounds, true);
    }
    // Nothing below awaits, so a cancelled workflow still completes with what it measured.
    const final = this.report();
    this.publish({ ...this.rounds, batchesInFlight: 0 }, final);
    return final;
  }

  /** One round: its interval timer first, then every model's batch at once. */
  private async round(): Promise<void> {
    const { settings } = this.input;
    this.rounds = plan.startRound(settings, this.rounds);
    if (!this.rounds.intervalPassed) startTimer(settings.intervalMs, () => void (this.rounds = plan.passInterval(this.rounds)));
    this.publish();
    const round = this.rounds.round;
    await Promise.all(this.batches.map((run) => run(round)));
    this.rounds = plan.finishRound(this.rounds);
    this.publish();
  }

  /** Model `m`'s batch activity as a function of the round. */
  private batchRunner(m: ExperimentModel): (round: number) => Promise<void> {
    const { settings, prompts } = this.input;
    const limits = plan.batchLimits(m, settings, prompts.length);
    const { runExperimentBatch } = proxyActivities<typeof experimentActivities>({
      startToCloseTimeout: limits.startToCloseMs,
      heartbeatTimeout: '10s',
      retry: { maximumAttempts: 3, initialInterval: '1s', nonRetryableErrorTypes: ['GatewayConfig'] },
    });
    return async (round) => {
      this.rounds = plan.batchStarted(this.rounds);
      try {
        this.acc.add(await runExperimentBatch(plan.batchInput(m, limits, settings, prompts, round)));
      } catch (err) {
        this.batchFailed(m.model, err);
      } finally {
        this.rounds = plan.batchEnded(this.rounds);
      }
    };
  }

  /** A batch that failed as a whole counts its planned requests as failed; cancellation and a gateway misconfiguration end the run. */
  private batchFailed(model: string, err: unknown): void {
    if (isCancellation(err)) throw err;
    const cause = err instanceof ActivityFailure ? err.cause : err;
    // A gateway misconfiguration (no base URL, no key) fails every batch: fail fast and say so.
    if (cause instanceof ApplicationFailure && cause.type === 'GatewayConfig')
      throw ApplicationFailure.nonRetryable(cause.message, 'GatewayConfig');
    const firstLine = (cause instanceof Error ? cause.message : String(cause)).split('\n')[0];
    this.acc.addFailedBatch(model, firstLine.slice(0, 300), this.input.prompts.length);
  }
}
