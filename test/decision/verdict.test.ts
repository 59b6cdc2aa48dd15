import { describe, expect, it } from 'vitest';
import { recordOutcome } from '../../src/decision/arm-stats';
import { evaluate } from '../../src/decision/verdict';
import { type Guards } from '../../src/decision/guards-schema';
import { BLUE, type ArmModel } from '../../bench/verdicts';
import { arm, err, G, guard, ok } from './fixtures';

describe('evaluate — error rate and ceiling', () => {
  const cases: { name: string; blue: [number, number]; green: [number, number]; errorRate?: string; ceiling?: string; notFail?: boolean }[] = [
    { name: '0/200 blue vs 20/200 green → Fail', blue: [200, 0], green: [200, 20], errorRate: 'Fail' },
    { name: '1/10 green vs 0/90 blue → not Fail (the seed failed this)', blue: [90, 0], green: [10, 1], notFail: true },
    { name: '1/20 green vs 0/180 blue → not Fail', blue: [180, 0], green: [20, 1], notFail: true },
    { name: 'equal arms 10/1000 vs 90/9000 → Pass', blue: [9000, 90], green: [1000, 10], errorRate: 'Pass', ceiling: 'Pass' },
    { name: 'equal arms, few samples 2/100 vs 18/900 → Inconclusive', blue: [900, 18], green: [100, 2], errorRate: 'Inconclusive' },
    { name: 'below minSamples → Inconclusive', blue: [15, 0], green: [10, 0], errorRate: 'Inconclusive' },
    { name: '+10 pp: 11/100 vs 9/900 → Fail', blue: [900, 9], green: [100, 11], errorRate: 'Fail' },
    { name: 'both arms 30% errors → ceiling Fail, difference not', blue: [300, 90], green: [300, 90], errorRate: 'Inconclusive', ceiling: 'Fail' },
    { name: 'green 8/100 with blue 7/900: ceiling not yet significant → Inconclusive', blue: [900, 63], green: [100, 8], ceiling: 'Inconclusive' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const ev = evaluate({ blue: arm(c.blue[0], c.blue[1], 1), green: arm(c.green[0], c.green[1], 2), guards: G });
      if (c.errorRate) expect(guard(ev, 'errorRate').verdict, guard(ev, 'errorRate').detail).toBe(c.errorRate);
      if (c.ceiling) expect(guard(ev, 'errorCeiling').verdict, guard(ev, 'errorCeiling').detail).toBe(c.ceiling);
      if (c.notFail) expect(ev.verdict, ev.reason).not.toBe('Fail');
      if (c.errorRate === 'Fail' || c.ceiling === 'Fail') expect(ev.verdict).toBe('Fail');
    });
  }

  it('equal arms pass eventually (whole evaluation)', () => {
    const ev = evaluate({ blue: arm(9000, 90, 3), green: arm(1000, 10, 4), guards: G });
    expect(ev.verdict, ev.reason).toBe('Pass');
    expect(ev.reason).toBe('all guards pass');
  });

  it('detail lines carry the numbers', () => {
    const d = guard(evaluate({ blue: arm(200, 0), green: arm(200, 20, 2), guards: G }), 'errorRate').detail;
    expect(d).toContain('20/200');
    expect(d).toContain('0/200');
    expect(d).toMatch(/CS \[/);
    expect(d.includes('\n')).toBe(false);
  });
});

describe('evaluate — 429s, latency, cost, checks', () => {
  it('429-heavy green → Inconclusive with greenRateLimitedHold, 429s are not errors', () => {
    const green = arm(200, 0, 5);
    for (let i = 0; i < 100; i++) recordOutcome(green, err('rate_limited'));
    const ev = evaluate({ blue: arm(1800, 18, 6), green, guards: G });
    expect(green.errors).toBe(0);
    expect(green.rateLimited).toBe(100);
    expect(ev.verdict).toBe('Inconclusive');
    expect(ev.greenRateLimitedHold).toBe(true);
    expect(guard(ev, 'errorRate').verdict).not.toBe('Fail');
    expect(guard(ev, 'rateLimit').verdict).toBe('Inconclusive');
  });

  it('latency tail regression (green p99 ×2, p50 same) → latencyP99 Fail', () => {
    const slow: ArmModel = { ...BLUE, latency: { p50: 450, p99: 2400 } };
    const ev = evaluate({ blue: arm(5000, 0, 7), green: arm(3000, 0, 8, slow), guards: G });
    expect(guard(ev, 'latencyP99').verdict, guard(ev, 'latencyP99').detail).toBe('Fail');
    expect(guard(ev, 'latencyP50').verdict).not.toBe('Fail');
    expect(ev.verdict).toBe('Fail');
  });

  it('whole-distribution slowdown ×1.5 → latencyP50 Fail', () => {
    const slow: ArmModel = { ...BLUE, latency: { p50: 675, p99: 1800 } };
    const ev = evaluate({ blue: arm(2000, 0, 9), green: arm(500, 0, 10, slow), guards: G });
    expect(guard(ev, 'latencyP50').verdict, guard(ev, 'latencyP50').detail).toBe('Fail');
  });

  it('outliers do not fail latency: equal arms + 3 green requests at 60 s', () => {
    const green = arm(3000, 0, 11);
    for (let i = 0; i < 3; i++) recordOutcome(green, ok(60_000));
    const ev = evaluate({ blue: arm(9000, 0, 12), green, guards: G });
    expect(guard(ev, 'latencyP99').verdict, guard(ev, 'latencyP99').detail).toBe('Pass');
    expect(guard(ev, 'latencyP50').verdict).toBe('Pass');
    expect(ev.verdict, ev.reason).toBe('Pass');
  });

  it('cost +50% per success → cost Fail; equal cost → Pass; spend cap', () => {
    const pricey: ArmModel = { ...BLUE, priceIn: 0.75, priceOut: 2.25 };
    expect(guard(evaluate({ blue: arm(900, 0, 13), green: arm(100, 0, 14, pricey), guards: G }), 'cost').verdict).toBe('Fail');
    expect(guard(evaluate({ blue: arm(900, 0, 13), green: arm(300, 0, 14), guards: G }), 'cost').verdict).toBe('Pass');
    const capped: Guards = { ...G, cost: { ...G.cost, spendCapUsd: 0.01 } };
    const ev = evaluate({ blue: arm(900, 0, 13), green: arm(300, 0, 14), guards: capped, greenSpendUsd: 0.02 });
    expect(guard(ev, 'spendCap').verdict).toBe('Fail');
    expect(ev.verdict).toBe('Fail');
  });

  it('cost: identical per-request costs at tiny n never Fail before minSamples; an unpriced blue is not compared', () => {
    const fixed = (n: number, cost: number) => {
      const s = arm(0, 0);
      for (let i = 0; i < n; i++) recordOutcome(s, { ...ok(), costUsd: cost });
      return s;
    };
    // Two requests each, zero variance, green 30% dearer: no verdict yet (was a "confident" Fail).
    expect(guard(evaluate({ blue: fixed(2, 0.001), green: fixed(2, 0.0013), guards: G }), 'cost').verdict).toBe('Inconclusive');
    // With enough samples the same difference is judged.
    expect(guard(evaluate({ blue: fixed(400, 0.001), green: fixed(400, 0.0013), guards: G }), 'cost').verdict).toBe('Fail');
    const unpriced = guard(evaluate({ blue: fixed(50, 0), green: fixed(50, 0.002), guards: G }), 'cost');
    expect(unpriced.verdict).toBe('Pass');
    expect(unpriced.detail).toMatch(/blue has no recorded cost/);
  });

  it('golden checks: green failing 30% vs blue 5% → Fail; none recorded → guard absent', () => {
    const blue = arm(0, 0);
    const green = arm(0, 0);
    for (let i = 0; i < 200; i++) recordOutcome(blue, { ...ok(), check: { passed: i % 20 !== 0 } });
    for (let i = 0; i < 200; i++) recordOutcome(green, { ...ok(), check: { passed: i % 10 >= 3 } });
    expect(guard(evaluate({ blue, green, guards: G }), 'checks').verdict).toBe('Fail');
    expect(evaluate({ blue: arm(900, 9), green: arm(100, 1), guards: G }).guards.some((r) => r.guard === 'checks')).toBe(false);
  });

  it('overall: any Fail → Fail, even while rate-limited', () => {
    const green = arm(200, 20, 2);
    for (let i = 0; i < 100; i++) recordOutcome(green, err('rate_limited'));
    const ev = evaluate({ blue: arm(200, 0), green, guards: G });
    expect(ev.verdict).toBe('Fail');
    expect(ev.greenRateLimitedHold).toBeUndefined();
  });

  it('evaluation is plain JSON and deterministic', () => {
    const input = { blue: arm(900, 9, 1), green: arm(100, 3, 2), guards: G };
    const a = evaluate(input);
    expect(JSON.parse(JSON.stringify(a))).toEqual(a);
    expect(evaluate(JSON.parse(JSON.stringify(input)))).toEqual(a);
  });
});
