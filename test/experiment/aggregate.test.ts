import { describe, expect, it } from 'vitest';
import { DEFAULT_CATALOG } from '../../src/catalog/prices';
import { ExperimentAccumulator, histogram, histogramBounds, progressOf, reportOf } from '../../src/experiment/aggregate';
import { finishRound, initialRounds, requestStop, startRound } from '../../src/experiment/plan';
import { DEFAULT_TEST_CASES } from '../../src/experiment/prompts';
import { batch, input, sampleReport, settings } from './fixtures';

describe('experiment aggregation', () => {
  const r = sampleReport();
  const by = (m: string) => r.models.find((x) => x.model === m)!;

  it('counts requests, successes and errors per model', () => {
    expect(by('gpt-4.1')).toMatchObject({ requests: 104, successes: 100, failures: 4, errors: { timeout: 4 } });
    expect(by('gpt-4.1').successRate).toBeCloseTo(100 / 104, 12);
    // A whole failed batch counts its planned requests (2 prompts) as failures.
    expect(by('claude-sonnet-4.5')).toMatchObject({
      requests: 6,
      successes: 1,
      failures: 5,
      failedBatches: 1,
      lastError: 'activity timed out',
    });
    expect(by('claude-sonnet-4.5').errors).toMatchObject({ server: 3, batch_failed: 2 });
  });

  it('computes exact nearest-rank p50/p99 and the mean over successes', () => {
    expect(by('gpt-4.1')).toMatchObject({ p50LatencyMs: 50, p99LatencyMs: 99, minLatencyMs: 1, maxLatencyMs: 100, avgLatencyMs: 50.5 });
    expect(by('deepseek-v3.2')).toMatchObject({ p50LatencyMs: 5, p99LatencyMs: 10, avgLatencyMs: 5.5 });
    expect(by('mystery-model')).toMatchObject({ p50LatencyMs: 20, p99LatencyMs: 30 });
  });

  it('prices input and output tokens separately, per request and per success', () => {
    const g = by('gpt-4.1'); // 10k in × $2/M + 20k out × $8/M = 0.02 + 0.16
    expect(g.costUsd).toBeCloseTo(0.18, 12);
    expect(g.totalTokens).toBe(30_000);
    expect(g.costPerRequestUsd).toBeCloseTo(0.18 / 104, 12);
    expect(g.costPerSuccessUsd).toBeCloseTo(0.18 / 100, 12);
    expect(by('mystery-model')).toMatchObject({ priced: false, costUsd: 0 });
  });

  it('sorts by cost per request, unpriced models last', () => {
    const order = r.models.map((m) => m.model);
    expect(order).toEqual(['deepseek-v3.2', 'claude-sonnet-4.5', 'gpt-4.1', 'mystery-model']);
    const cpr = r.models.filter((m) => m.priced).map((m) => m.costPerRequestUsd!);
    expect(cpr).toEqual([...cpr].sort((a, b) => a - b));
  });

  it('builds histograms on shared bounds whose counts add up to the successes', () => {
    for (const m of r.models) {
      expect(m.histogram.counts.reduce((a, b) => a + b, 0)).toBe(m.successes);
      expect(m.histogram.boundsMs).toEqual(r.models[0].histogram.boundsMs);
    }
    expect(histogram([1, 2, 3, 10], [2, 4])).toEqual({ boundsMs: [2, 4], counts: [2, 1, 1] });
    expect(histogramBounds([[]])).toEqual([]);
  });

  it('reports null metrics for a model without requests', () => {
    const acc = new ExperimentAccumulator(['gpt-4.1']);
    const e = acc.report({ status: 'cancelled', rounds: 0, prompts: [], settings, startedAt: '', catalog: DEFAULT_CATALOG }).models[0];
    expect(e).toMatchObject({ requests: 0, successRate: null, p99LatencyMs: null, costPerRequestUsd: null });
    expect(JSON.parse(JSON.stringify(e)).p99LatencyMs).toBeNull();
  });

  it('refuses a result for a model that is not in the experiment', () => {
    const acc = new ExperimentAccumulator(['a']);
    expect(() => acc.add(batch('b', { requests: 1 }))).toThrow('experiment: result for unknown model b');
    expect(() => acc.addFailedBatch('b', 'x')).toThrow('experiment: result for unknown model b');
  });
});

describe('report and progress of the rounds so far', () => {
  const exp = input({ rounds: 3 }, ['gpt-4.1', 'deepseek-v3.2'], DEFAULT_TEST_CASES);

  it('reports the finished rounds under the current status, with the prompt names and settings', () => {
    const acc = new ExperimentAccumulator(['gpt-4.1', 'deepseek-v3.2']);
    acc.add(batch('gpt-4.1', { requests: 2, latenciesMs: [10, 20] }));
    const rounds = requestStop(finishRound(startRound(exp.settings, startRound(exp.settings, initialRounds()))));
    const report = reportOf(acc, rounds, exp, '2026-01-01T00:00:00.000Z');
    expect(report).toMatchObject({
      status: 'stopping',
      rounds: 1,
      prompts: DEFAULT_TEST_CASES.map((p) => p.name),
      settings: exp.settings,
      startedAt: '2026-01-01T00:00:00.000Z',
    });
    // deepseek-v3.2 has no requests yet: no cost per request, so it sorts last.
    expect(report.models.map((m) => [m.model, m.requests])).toEqual([
      ['gpt-4.1', 2],
      ['deepseek-v3.2', 0],
    ]);
    const progress = progressOf(rounds, exp.settings, report);
    expect(progress).toEqual({ status: 'stopping', round: 2, roundsPlanned: 3, batchesInFlight: 0, report });
  });

  it('has no planned rounds for an experiment that runs for a duration', () => {
    const timed = input({ durationMs: 60_000, intervalMs: 1000 });
    const acc = new ExperimentAccumulator(timed.models.map((m) => m.model));
    expect(progressOf(initialRounds(), timed.settings, reportOf(acc, initialRounds(), timed, '')).roundsPlanned).toBeNull();
  });
});
