/**
 * A/B experiment across models: the same prompt set to every chosen model, round after round
 * (a fixed number of rounds, or rounds started every `intervalMs` until `durationMs` has passed).
 * Each round runs one activity per model concurrently; each activity sends all prompts to its model
 * within that model's concurrency and rate limits. The result is the report (metrics only).
 *
 * Progress: the `progress` query, and a Markdown table in the Web UI's current details.
 * Stopping: the `stop` signal starts no new round, lets batches in flight finish, and returns the
 * report (status "stopped"). Cancelling the workflow drops the batches in flight and returns the
 * report of every finished batch (status "cancelled").
 *
 * Deterministic: no clock reads (the deadline is a timer), no randomness, no I/O; activities are
 * called through proxyActivities and only their types are imported.
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
import { ExperimentAccumulator } from './aggregate';
import { batchLimits, checkExperimentInput, plannedRounds } from './plan';
import { renderMarkdown } from './web-ui';
import type { ExperimentInput, ExperimentProgress, ExperimentReport, ExperimentStatus } from './contract';
import { progressQuery, stopSignal } from './contract';

export async function experimentWorkflow(input: ExperimentInput): Promise<ExperimentReport> {
  const problem = checkExperimentInput(input);
  if (problem) throw ApplicationFailure.nonRetryable(problem, 'BadExperimentInput');

  const { settings, prompts } = input;
  const models = input.models.map((m) => m.model);
  const acc = new ExperimentAccumulator(models);
  const startedAt = workflowInfo().startTime.toISOString();
  const promptNames = prompts.map((p) => p.name);
  const roundsPlanned = settings.rounds ?? null;

  let status: ExperimentStatus = 'running';
  let round = 0; // rounds started
  let roundsDone = 0;
  let inFlight = 0;
  let stopRequested = false;
  let deadlinePassed = false;

  const report = (): ExperimentReport =>
    acc.report({ status, rounds: roundsDone, prompts: promptNames, settings, startedAt, catalog: input.catalog });
  const progress = (): ExperimentProgress => ({ status, round, roundsPlanned, batchesInFlight: inFlight, report: report() });
  const publish = () => setCurrentDetails(renderMarkdown(progress()));

  setHandler(progressQuery, progress);
  setHandler(stopSignal, () => {
    stopRequested = true;
    if (status === 'running') status = 'stopping';
  });

  const runners = input.models.map((m) => {
    const limits = batchLimits(m, settings, prompts.length);
    const { runExperimentBatch } = proxyActivities<typeof experimentActivities>({
      startToCloseTimeout: limits.startToCloseMs,
      heartbeatTimeout: '10s',
      retry: { maximumAttempts: 3, initialInterval: '1s', nonRetryableErrorTypes: ['GatewayConfig'] },
    });
    return async (r: number): Promise<void> => {
      inFlight++;
      try {
        const result = await runExperimentBatch({
          round: r,
          target: { model: m.model, baseURL: m.baseURL, apiKeyEnv: m.apiKeyEnv },
          prompts,
          concurrency: limits.concurrency,
          rpm: limits.rpm,
          temperature: settings.temperature,
          maxTokens: settings.maxTokens,
          timeoutMs: settings.timeoutMs,
          attempts: settings.attempts,
        });
        acc.add(result);
      } catch (err) {
        if (isCancellation(err)) throw err;
        const cause = err instanceof ActivityFailure ? err.cause : err;
        // A gateway misconfiguration (no base URL, no key) fails every batch: fail fast and say so.
        if (cause instanceof ApplicationFailure && cause.type === 'GatewayConfig') {
          throw ApplicationFailure.nonRetryable(cause.message, 'GatewayConfig');
        }
        acc.addFailedBatch(m.model, (cause instanceof Error ? cause.message : String(cause)).split('\n')[0].slice(0, 300), prompts.length);
      } finally {
        inFlight--;
      }
    };
  });

  publish();
  try {
    if (settings.durationMs !== undefined) {
      sleep(settings.durationMs).then(
        () => void (deadlinePassed = true),
        () => undefined, // cancelled with the workflow
      );
    }
    const total = plannedRounds(settings);
    for (;;) {
      if (stopRequested || deadlinePassed || (roundsPlanned !== null && round >= roundsPlanned) || round >= total) break;
      round++;
      let paced = settings.intervalMs <= 0;
      if (!paced) sleep(settings.intervalMs).then(() => void (paced = true), () => undefined);
      publish();
      await Promise.all(runners.map((run) => run(round)));
      roundsDone++;
      publish();
      const last = roundsPlanned !== null && round >= roundsPlanned;
      if (last) break;
      await condition(() => paced || stopRequested || deadlinePassed);
    }
    status = stopRequested ? 'stopped' : 'completed';
  } catch (err) {
    if (!isCancellation(err)) throw err;
    status = 'cancelled';
  }
  // Nothing below awaits, so a cancelled workflow still completes with what it measured.
  const final = report();
  setCurrentDetails(renderMarkdown({ status, round, roundsPlanned, batchesInFlight: 0, report: final }));
  return final;
}
