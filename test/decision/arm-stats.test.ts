import { describe, expect, it } from 'vitest';
import { emptyArmStats, mergeArmStats, recordOutcome, summarize, type Outcome } from '../../src/decision/arm-stats';
import { histogramQuantile } from '../../src/decision/histogram';
import { percentile } from '../../src/stats/percentile';
import { BLUE, mulberry32 } from '../../bench/verdicts';
import { arm, draw, err, ok } from './fixtures';

describe('arm stats', () => {
  const outcomes: Outcome[] = [];
  const rng = mulberry32(9);
  for (let i = 0; i < 500; i++) outcomes.push(draw(rng, { ...BLUE, errorRate: 0.05 }));
  outcomes.push(
    err('rate_limited'),
    err('timeout'),
    { ...ok(), check: { passed: false } },
    { ...err('check_failed') },
    { ...ok(), check: { passed: true } },
  );

  it('record then merge equals recording everything (merge does not mutate)', () => {
    const all = emptyArmStats();
    outcomes.forEach((o) => recordOutcome(all, o));
    const a = emptyArmStats();
    const b = emptyArmStats();
    outcomes.forEach((o, i) => recordOutcome(i % 3 === 0 ? a : b, o));
    const aCopy = JSON.parse(JSON.stringify(a));
    const m = mergeArmStats(a, b);
    expect(a).toEqual(aCopy);
    expect(m.requests).toBe(all.requests);
    expect(m.latency.counts).toEqual(all.latency.counts);
    expect(m.errorsByClass).toEqual(all.errorsByClass);
    expect(m.costUsd).toBeCloseTo(all.costUsd, 12);
    expect(mergeArmStats(emptyArmStats(), all)).toEqual(all);
  });

  it('classifies 429s, check failures and errors', () => {
    const s = emptyArmStats();
    const r = recordOutcome(s, err('rate_limited'));
    expect(r).toBe(s); // documented: mutates and returns the same object
    recordOutcome(s, err('timeout'));
    recordOutcome(s, err('check_failed'));
    recordOutcome(s, { ...ok(), check: { passed: false } });
    recordOutcome(s, { ...ok(), check: { passed: true } });
    expect(s).toMatchObject({ requests: 5, successes: 3, errors: 1, rateLimited: 1, checks: { passed: 1, failed: 2 } });
    expect(s.errorsByClass).toEqual({ rate_limited: 1, timeout: 1, check_failed: 1 });
    expect(s.latency.count).toBe(3);
    const sum = summarize(s);
    expect(sum.errorRate).toBeCloseTo(1 / 4, 12); // 429 excluded from the denominator
    expect(sum.checkFailRate).toBeCloseTo(2 / 3, 12);
  });

  it('histogram quantiles are within one bucket (±6%) of the exact nearest-rank percentile', () => {
    const rng2 = mulberry32(3);
    const s = emptyArmStats();
    const lat: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const o = draw(rng2, { ...BLUE, errorRate: 0 });
      lat.push(o.latencyMs);
      recordOutcome(s, o);
    }
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = percentile(lat, q);
      expect(Math.abs(histogramQuantile(s.latency, q) / exact - 1)).toBeLessThan(0.06);
    }
    expect(JSON.stringify(s).length).toBeLessThan(2000); // compact, fixed size
  });

  it('empty stats summarize to zeros (no NaN in JSON)', () => {
    expect(Object.values(summarize(emptyArmStats())).every((v) => v === 0)).toBe(true);
  });
});

describe('bounded arm stats', () => {
  it('halving keeps the stats consistent and the rates; bounding stops at the cap', async () => {
    const { boundArmStats, halveArmStats } = await import('../../src/decision/arm-stats');
    const s = arm(5000, 250, 4);
    recordOutcome(s, { ok: false, errorClass: 'rate_limited', latencyMs: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 });
    const h = halveArmStats(s);
    expect(h.requests).toBe(h.successes + h.errors + h.rateLimited);
    expect(h.latency.count).toBe(h.successes);
    expect(h.latency.counts.reduce((a, b) => a + b, 0)).toBe(h.latency.count);
    expect(summarize(h).errorRate).toBeCloseTo(summarize(s).errorRate, 2);
    const b = boundArmStats(s, 600);
    expect(b.requests).toBeLessThanOrEqual(600);
    expect(b.requests).toBeGreaterThan(250);
    expect(boundArmStats(s, 10_000)).toBe(s);
  });
});
