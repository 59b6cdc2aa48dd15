/**
 * The verdict on paired probes and live traffic (src/decision/verdict.ts, ./probe-guards.ts), on records
 * drawn from the bench's scenarios: what each guard concludes, in which scope, and how they combine.
 */
import { describe, expect, it } from 'vitest';
import { BLUE, SCENARIOS, type Scenario } from '../../bench/verdicts';
import { evaluate } from '../../src/decision/verdict';
import { emptyEvidence } from '../../src/decision/paired';
import * as m from '../../src/rollout/machine';
import { arm, G, guard, recorded } from './fixtures';

const scenario = (id: string): Scenario => SCENARIOS.find((s) => s.id === id)!;
const judged = (sc: Scenario, pairs: number, opts: { seed?: number; stepIndex?: number } = {}) => {
  const { spec, state } = recorded(sc, pairs, opts);
  return m.evaluateState(spec, state);
};

describe('errors, judged on discordant pairs', () => {
  it('+10 pp errors fail on the error-rate guard; the reason carries the numbers', () => {
    const ev = judged(scenario('e10'), 400);
    expect(ev.verdict).toBe('Fail');
    const g = guard(ev, 'errorRate');
    expect(g.verdict).toBe('Fail');
    expect(g.detail).toMatch(/^error rate: green − blue \+\d+\.\d+ pp over 400 pairs, 95% CS \[/);
  });

  it('identical arms at 1 % do not fail, and pass with confidence on a large record', () => {
    for (const seed of [1, 2, 3]) expect(guard(judged(scenario('eq'), 400, { seed }), 'errorRate').verdict).not.toBe('Fail');
    expect(guard(judged(scenario('eq'), 2000), 'errorRate').verdict).toBe('Pass');
  });

  it('a shared outage (both arms failing together) moves neither the error guard nor the ceiling', () => {
    const outage: Scenario = { ...scenario('eq'), world: { outage: { everySecs: 60, secs: 30 } } }; // half of all pairs fail on both arms
    for (const seed of [1, 2, 3]) {
      const ev = judged(outage, 600, { stepIndex: 3, seed });
      expect(guard(ev, 'errorRate').verdict).not.toBe('Fail');
      expect(guard(ev, 'errorCeiling').verdict).toBe('Pass');
    }
    // while it lasts, the step waits (the gateway's fault, not green's), on the wait budget
    const down = judged({ ...scenario('eq'), world: { outage: { everySecs: 600, secs: 600 } } }, 100);
    expect(down.wait).toBe('gateway');
    expect(guard(down, 'gatewayHealth', 'window').detail).toMatch(/waiting for the gateway: a shared outage, not green/);
  });

  it('the ceiling judges what green adds over blue: 8 % base errors on both arms pass it', () => {
    const ev = judged(scenario('eq-8'), 1000);
    expect(guard(ev, 'errorCeiling').verdict).toBe('Pass');
    const bad = judged({ ...scenario('eq'), green: { ...BLUE, errorRate: 0.4 } }, 100);
    expect(guard(bad, 'errorCeiling').verdict).toBe('Fail');
  });

  it('a substituting gateway (another model answers) fails green', () => {
    const ev = judged(scenario('subst'), 100);
    expect(ev.verdict).toBe('Fail');
    const { state } = recorded(scenario('subst'), 100);
    expect(state.probes.record.substituted).toBe(100);
  });
});

describe('latency, judged on exceedances of blue’s thresholds', () => {
  it('latency ×1.5 fails the p50 guard', () => {
    const ev = judged(scenario('lat-1.5'), 300);
    expect(guard(ev, 'latencyP50').verdict).toBe('Fail');
  });

  it('heavy tails on both arms (lognormal σ = 1, 5 % Pareto) neither fail nor hold the tail', () => {
    for (const id of ['eq-heavy', 'eq-pareto']) {
      const g = guard(judged(scenario(id), 600), 'latencyTail');
      expect(g.verdict, g.detail).toBe('Pass');
    }
  });

  it('before promoting, a suspect tail is held and judged on latency.tailDecisionPairs pairs', () => {
    const sc = scenario('p99');
    const firsts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((seed) => {
      const { spec, state } = recorded(sc, 800, { stepIndex: 3, seed });
      return m.evaluateState(spec, state);
    });
    expect(firsts.filter((e) => e.tailSuspect).length).toBeGreaterThanOrEqual(8);
    const first = firsts.find((e) => e.tailSuspect)!;
    expect(first.verdict).toBe('Inconclusive');
    expect(first.collecting).toBe(true);
    expect(first.reason).toMatch(/tail looks heavier than blue's: judging it on 3200 pairs before promoting/);
    const { spec } = recorded(sc, 0, { stepIndex: 3 });
    // on the decision record, a +30 % p99 fails
    const decided = (id: string) =>
      [11, 12, 13, 14, 15].map((seed) => {
        const big = recorded(scenario(id), 3700, { stepIndex: 3, seed });
        return guard(m.evaluateState(spec, { ...big.state, tailSuspect: true }), 'latencyTail').verdict;
      });
    expect(decided('p99').filter((v) => v === 'Fail').length).toBeGreaterThanOrEqual(4);
    // …and a suspect tail within tolerance (+15 %) is cleared on it
    expect(decided('tol-lat').filter((v) => v === 'Pass').length).toBeGreaterThanOrEqual(4);
  });
});

describe('golden checks and cost', () => {
  it('one prompt of five breaking its check fails the per-prompt guard while the pooled one does not', () => {
    const ev = judged(scenario('prompt'), 800);
    expect(guard(ev, 'promptChecks').verdict).toBe('Fail');
    expect(guard(ev, 'promptChecks').detail).toMatch(/1 failing, e\.g\. prompt 1 "prompt 0"/);
    expect(guard(ev, 'checks').verdict).not.toBe('Fail');
  });

  it('cost +50 % fails; 40 % cheaper passes', () => {
    expect(guard(judged(scenario('cost'), 200), 'cost').verdict).toBe('Fail');
    expect(guard(judged(scenario('tol-cheap'), 600), 'cost').verdict).toBe('Pass');
  });

  it('an unpriced arm is not compared, and the guard says so', () => {
    const g = guard(judged({ ...scenario('eq'), green: { ...BLUE, priceIn: 0, priceOut: 0 } }, 200), 'cost');
    expect(g.verdict).toBe('Pass');
    expect(g.unpriced).toBe(true);
    expect(g.detail).toMatch(/not compared — an arm is unpriced/);
  });
});

describe('waits: capacity and gateway health', () => {
  it("heavy 429s on green make the step wait for green's capacity (429s are not errors)", () => {
    const ev = judged({ ...scenario('eq'), green: { ...BLUE, rateLimited: 0.9 } }, 300);
    expect(ev.verdict).toBe('Inconclusive');
    expect(ev.wait).toBe('capacity');
    expect(guard(ev, 'errorRate').verdict).not.toBe('Fail');
  });

  it("429s on both arms alike are the gateway's limit: judged on when moderate, a gateway wait when most pairs are refused", () => {
    // (the per-attempt 429 chance; with 3 tries 0.6 leaves ~22 % of pairs refused on each arm, 0.9 ~73 %)
    const some = judged({ ...scenario('eq'), blue: { ...BLUE, rateLimited: 0.6 }, green: { ...BLUE, rateLimited: 0.6 } }, 300);
    expect(guard(some, 'rateLimit', 'window').verdict).toBe('Pass');
    expect(guard(some, 'rateLimit', 'window').detail).toMatch(/both arms limited alike/);
    expect(some.wait).toBeUndefined();
    const most = judged({ ...scenario('eq'), blue: { ...BLUE, rateLimited: 0.9 }, green: { ...BLUE, rateLimited: 0.9 } }, 300);
    expect(most.wait).toBe('gateway');
    expect(guard(most, 'rateLimit', 'window').detail).toMatch(/waiting for the gateway's rate limit/);
  });
});

describe('steps: the window, the last step, live traffic', () => {
  it('an early step advances on estimates within tolerance; the last step needs confidence and its promotion pairs', () => {
    const early = judged(scenario('eq'), 150, { stepIndex: 0 });
    expect(early.verdict).toBe('Pass');
    expect(early.reason).toMatch(/within tolerance \(the last step needs them confident\)/);
    const last = judged(scenario('eq'), 300, { stepIndex: 3 });
    expect(last.verdict).toBe('Inconclusive');
    expect(last.collecting).toBe(true);
  });

  it("a step's own window fails a regression that appears there (not diluted by the earlier steps)", () => {
    const { spec, state } = recorded(scenario('eq'), 1500);
    const late: Scenario = { ...scenario('eq'), green: { ...BLUE, errorRate: 0.3 } };
    let s = m.advance(spec, state, 0);
    const more = recorded(late, 300, { spec, stepIndex: 0 });
    s = { ...s, probes: { record: s.probes.record, window: more.state.probes.record } };
    const ev = m.evaluateState(spec, s);
    expect(ev.verdict).toBe('Fail');
    expect(ev.guards.some((g) => g.scope === 'window' && g.verdict === 'Fail')).toBe(true);
  });

  it('live traffic is judged per step, confident routes only', () => {
    const probes = { record: emptyEvidence(), window: emptyEvidence() };
    const badLive = { blue: arm(5000, 50, 1), green: arm(2000, 400, 2) };
    const ev = evaluate({ probes, live: { record: badLive, window: badLive }, guards: G });
    expect(ev.guards.find((g) => g.guard === 'liveErrorRate')?.verdict).toBe('Fail');
    expect(ev.guards.find((g) => g.guard === 'liveErrorRate')?.scope).toBe('live window');
    // the whole record alone (green mostly at a later, busier step) is not judged
    const fine = { blue: arm(5000, 50, 1), green: arm(2000, 20, 2) };
    expect(
      evaluate({ probes, live: { record: badLive, window: fine }, guards: G }).guards.some(
        (g) => g.guard === 'liveErrorRate' && g.verdict === 'Fail',
      ),
    ).toBe(false);
  });

  it('is plain JSON and deterministic', () => {
    const a = judged(scenario('e4'), 300);
    const b = judged(scenario('e4'), 300);
    expect(JSON.parse(JSON.stringify(a))).toEqual(b);
  });
});
