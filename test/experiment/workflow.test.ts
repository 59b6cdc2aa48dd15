// End to end on a real Temporal dev server, the project's worker (src/workflows.ts bundle + activities)
// and the simulated gateway: the experiment measures what the simulator was configured to produce.
// Tests assert behaviour, not speed: latency is checked against the simulator's configured delay from
// below (a response cannot beat it, however busy the machine), against the other models and the
// zero-latency control measured in the same rounds, and against the batch's own lifetime in the
// history; pacing is checked on the timers in the history, not on wall-clock counts.
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CATALOG } from '../../src/catalog/prices';
import { ExperimentClient } from '../../src/experiment/client';
import { SEED_MODELS } from '../../src/experiment/command';
import type { BatchResult } from '../../src/experiment/contract';
import { DEFAULT_TEST_CASES } from '../../src/experiment/prompts';
import { percentile } from '../../src/stats/percentile';
import { useHarness } from '../helpers/harness';
import { CONTROL, input, PROFILES, PROMPTS, SIM_OPTIONS, SLOW, waitFor } from './fixtures';

const h = useHarness({ sim: SIM_OPTIONS, queue: 'experiment' });
const experiments = () => new ExperimentClient(h.t.client, h.taskQueue);

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];
const events = async (workflowId: string): Promise<HistoryEvent[]> => (await experiments().handle(workflowId).fetchHistory()).events ?? [];
/** int64 fields arrive as Long objects (or numbers). */
const num = (x: unknown): number =>
  x && typeof x === 'object' && 'toNumber' in x ? (x as { toNumber(): number }).toNumber() : Number(x ?? 0);
const timeMs = (e: HistoryEvent | undefined) => num(e?.eventTime?.seconds) * 1000 + Math.floor((e?.eventTime?.nanos ?? 0) / 1e6);
const durationMs = (d: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  num(d?.seconds) * 1000 + Math.round((d?.nanos ?? 0) / 1e6);
const byEventId = (history: HistoryEvent[]) => new Map(history.map((e) => [num(e.eventId), e]));

/** Each completed batch's result, with the time from its activity's scheduling to its completion (server clock). */
async function batchResults(workflowId: string): Promise<Array<BatchResult & { lifetimeMs: number }>> {
  const history = await events(workflowId);
  const byId = byEventId(history);
  const out: Array<BatchResult & { lifetimeMs: number }> = [];
  for (const e of history) {
    const done = e.activityTaskCompletedEventAttributes;
    const p = done?.result?.payloads?.[0]?.data;
    if (!done || !p) continue;
    const scheduled = byId.get(num(done.scheduledEventId));
    out.push({ ...(JSON.parse(Buffer.from(p).toString('utf8')) as BatchResult), lifetimeMs: timeMs(e) - timeMs(scheduled) });
  }
  return out;
}

describe('experiment workflow on the simulator', () => {
  it(
    'measures the configured error rates, latencies and tokens per model; p99 is exact on the reported data',
    { timeout: 150_000 },
    async () => {
      h.sim.reset();
      const rounds = 20;
      const workflowId = `exp-sim-${Date.now()}`;
      const models = [...SEED_MODELS, CONTROL];
      await experiments().start(input({ rounds }, models), { workflowId, workflowExecutionTimeout: '2m' });
      const report = await experiments().result(workflowId);
      const control = report.models.find((m) => m.model === CONTROL)!;
      expect(control).toMatchObject({ priced: false, costUsd: 0, successRate: 1 });
      expect(report.models.at(-1)!.model).toBe(CONTROL); // unpriced sorts last
      expect(report.status).toBe('completed');
      expect(report.rounds).toBe(rounds);
      const stats = h.sim.stats();
      const batches = await batchResults(workflowId);
      expect(batches).toHaveLength(rounds * (SEED_MODELS.length + 1)); // one activity per (round, model)

      for (const m of report.models.filter((x) => x.model !== CONTROL)) {
        const prof = PROFILES[m.model as keyof typeof PROFILES];
        const n = rounds * PROMPTS.length;
        // Counts agree exactly with what the simulator served.
        expect(m.requests).toBe(n);
        expect(stats[m.model].requests).toBe(n);
        expect(m.successes).toBe(stats[m.model].ok);
        expect(m.errors.server ?? 0).toBe(stats[m.model].serverError);
        // Error rate within sampling error (4 standard deviations of a binomial proportion, min 2 points).
        const sd = Math.sqrt((prof.errorRate * (1 - prof.errorRate)) / n);
        expect(Math.abs(1 - m.successRate! - prof.errorRate)).toBeLessThanOrEqual(Math.max(0.02, 4 * sd));
        // Fixed completion length → output tokens exact.
        expect(m.outputTokens).toBe(m.successes * prof.completionTokens);
        // Latency = the simulator's delay + local overhead. Load only adds to it, so the lower bounds hold
        // on a busy machine; the upper side is checked relative to the same run (below), not in milliseconds.
        if (typeof prof.latencyMs === 'number') {
          expect(m.p50LatencyMs!).toBeGreaterThanOrEqual(prof.latencyMs);
        } else {
          expect(m.p50LatencyMs!).toBeGreaterThan(prof.latencyMs.p50 * 0.75);
          expect(m.p99LatencyMs!).toBeGreaterThan(prof.latencyMs.p99 * 0.6);
        }
        // The report's percentiles are exact nearest-rank on the latencies the activities reported.
        const lat = batches.filter((b) => b.model === m.model).flatMap((b) => b.latenciesMs);
        expect(lat).toHaveLength(m.successes);
        expect(m.p99LatencyMs).toBe(percentile(lat, 0.99));
        expect(m.p50LatencyMs).toBe(percentile(lat, 0.5));
        // Cost from the catalog: input and output priced separately.
        const e = DEFAULT_CATALOG.models[m.model];
        expect(m.costUsd).toBeCloseTo((m.inputTokens * e.inputPerM + m.outputTokens * e.outputPerM) / 1e6, 12);
        expect(m.costPerRequestUsd).toBeCloseTo(m.costUsd / m.requests, 15);
      }
      // Each latency is one request's: none is longer than the batch activity that measured it (scheduled →
      // completed on the server's clock, 1 ms for its resolution). Load-independent: load lengthens both.
      for (const b of batches) for (const l of b.latenciesMs) expect(l).toBeLessThanOrEqual(b.lifetimeMs + 1);
      const cpr = report.models.filter((m) => m.priced).map((m) => m.costPerRequestUsd!);
      expect(cpr).toEqual([...cpr].sort((a, b) => a - b));
      // History holds metrics only: no model output.
      const historyText = JSON.stringify(batches);
      expect(historyText).not.toMatch(/content|choices|simulated response/i);
    },
  );

  it('measures each request alone: no wait for a concurrency slot, the delay the simulator applied', { timeout: 120_000 }, async () => {
    // One request in flight per model: a batch's requests run one after another, so if a latency included
    // waiting for the slot (or the batch so far), a batch's latencies would add up to far more than the
    // batch lasted. Checked against the batch's lifetime on the server's clock: load lengthens both sides.
    const workflowId = `exp-serial-${Date.now()}`;
    await experiments().start(input({ rounds: 3, concurrency: 1 }, [CONTROL, SLOW], PROMPTS.slice(0, 5)), { workflowId });
    const report = await experiments().result(workflowId);
    expect(report.status).toBe('completed');
    const batches = await batchResults(workflowId);
    expect(batches).toHaveLength(6);
    for (const b of batches) {
      expect(b.latenciesMs).toHaveLength(5);
      expect(b.latenciesMs.reduce((s, l) => s + l, 0)).toBeLessThanOrEqual(b.lifetimeMs + 1);
    }
    // Never below the configured delay (1 ms for timer resolution), and the zero-latency control, measured
    // in the same rounds, reads faster than the 200 ms model.
    const slow = report.models.find((m) => m.model === SLOW)!;
    const control = report.models.find((m) => m.model === CONTROL)!;
    expect(slow.minLatencyMs!).toBeGreaterThanOrEqual(199);
    expect(control.p50LatencyMs!).toBeLessThan(slow.p50LatencyMs!);
  });

  it('answers the progress query and stops on the stop signal with what it measured', { timeout: 120_000 }, async () => {
    const handle = await experiments().start(input({ rounds: 1000, intervalMs: 200 }, ['deepseek-v3.2', 'gpt-4.1'], DEFAULT_TEST_CASES), {
      workflowId: `exp-stop-${Date.now()}`,
    });
    const id = handle.workflowId;
    const p = await waitFor(
      () => experiments().progress(id),
      (x) => x.report.rounds >= 2,
    );
    expect(p.report.rounds).toBeGreaterThanOrEqual(2);
    expect(p.roundsPlanned).toBe(1000);
    // The Web UI's current details: a Markdown table with one row per model.
    const meta = (await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string };
    expect(meta.currentDetails).toMatch(/^\*\*Experiment (running|stopping)\*\* — round \d+ of 1000/);
    expect(meta.currentDetails).toContain('| deepseek-v3.2 |');
    expect(meta.currentDetails).toContain('| gpt-4.1 |');
    await experiments().stop(id, 'test');
    const report = await experiments().result(id);
    expect(report.status).toBe('stopped');
    expect(report.rounds).toBeGreaterThanOrEqual(2);
    expect(report.rounds).toBeLessThan(1000);
    for (const m of report.models) expect(m.requests).toBe(report.rounds * DEFAULT_TEST_CASES.length);
    const desc = await handle.describe();
    expect(desc.status.name).toBe('COMPLETED');
    // After the end, the progress query still answers (from the closed workflow) with the final counts.
    const after = await experiments().progress(id);
    expect(after).toMatchObject({ status: 'stopped', batchesInFlight: 0 });
    expect(after.report.rounds).toBe(report.rounds);
  });

  it('can be cancelled and still returns the report of finished batches', { timeout: 120_000 }, async () => {
    const handle = await experiments().start(
      input({ durationMs: 10 * 60_000, intervalMs: 300 }, ['gemini-2.5-flash'], DEFAULT_TEST_CASES),
      {
        workflowId: `exp-cancel-${Date.now()}`,
      },
    );
    const p = await waitFor(
      () => experiments().progress(handle.workflowId),
      (x) => x.report.rounds >= 1,
    );
    expect(p.roundsPlanned).toBeNull();
    await experiments().cancel(handle.workflowId);
    const report = await experiments().result(handle.workflowId);
    expect(report.status).toBe('cancelled');
    expect(report.rounds).toBeGreaterThanOrEqual(1);
    expect(report.models[0].requests).toBeGreaterThanOrEqual(DEFAULT_TEST_CASES.length);
  });

  it('runs for a duration: rounds every interval until the deadline', { timeout: 120_000 }, async () => {
    const workflowId = `exp-duration-${Date.now()}`;
    await experiments().start(input({ durationMs: 2000, intervalMs: 500 }, ['gemini-2.5-flash'], DEFAULT_TEST_CASES), { workflowId });
    const report = await experiments().result(workflowId);
    expect(report.status).toBe('completed');
    expect(report.rounds).toBeGreaterThanOrEqual(1);
    expect(report.rounds).toBeLessThanOrEqual(4); // ceil(2000 / 500)
    // The pacing, from the history rather than the wall clock (a busy machine slows rounds, not the logic):
    // one 2 s deadline timer first; per round one 500 ms interval timer and one batch; a round starts only
    // after the previous round's interval fired; and fewer than 4 rounds only because the deadline fired.
    const history = await events(workflowId);
    const at = (e: HistoryEvent) => history.indexOf(e);
    const started = history.filter((e) => e.timerStartedEventAttributes);
    const fired = new Map(history.filter((e) => e.timerFiredEventAttributes).map((e) => [e.timerFiredEventAttributes!.timerId!, at(e)]));
    const ms = (e: HistoryEvent) => durationMs(e.timerStartedEventAttributes!.startToFireTimeout);
    expect(started.map(ms)).toEqual([2000, ...Array<number>(report.rounds).fill(500)]);
    expect(history.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(report.rounds);
    const [deadline, ...intervals] = started;
    for (let k = 1; k < intervals.length; k++) {
      expect(fired.get(intervals[k - 1].timerStartedEventAttributes!.timerId!)).toBeLessThan(at(intervals[k]));
    }
    if (report.rounds < 4) {
      const deadlineFired = fired.get(deadline.timerStartedEventAttributes!.timerId!);
      expect(deadlineFired).toBeDefined();
      expect(intervals.every((e) => at(e) < deadlineFired!)).toBe(true);
    }
  });

  it(
    'fails fast on a gateway misconfiguration; the client reads "experiment failed: <innermost cause>"',
    { timeout: 120_000 },
    async () => {
      process.env.WORKER_KEY_ENVS = 'MODELSHIFT_TEST_NO_SUCH_KEY'; // allowed on this worker, but not set
      const { workflowId } = await experiments().start({
        ...input({ rounds: 3 }, ['gpt-4.1'], DEFAULT_TEST_CASES),
        models: [{ model: 'gpt-4.1', apiKeyEnv: 'MODELSHIFT_TEST_NO_SUCH_KEY' }],
      });
      await expect(experiments().result(workflowId)).rejects.toThrow(/^experiment failed: gpt-4\.1: MODELSHIFT_TEST_NO_SUCH_KEY: not set/);
      // One batch, not retried (GatewayConfig is non-retryable), and no further rounds.
      const history = await events(workflowId);
      expect(history.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(1);
      expect(history.filter((e) => e.activityTaskFailedEventAttributes)).toHaveLength(1);
    },
  );

  it('refuses bad input as a non-retryable failure naming the field', { timeout: 120_000 }, async () => {
    const { workflowId } = await experiments().start(input({ rounds: 0 }, ['gpt-4.1'], DEFAULT_TEST_CASES));
    await expect(experiments().result(workflowId)).rejects.toThrow('experiment failed: settings.rounds: expected a whole number >= 1');
  });
});
