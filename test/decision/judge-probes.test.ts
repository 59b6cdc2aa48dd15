/**
 * The LLM judge on probe pairs (guards.judge without or beside a shadow phase): its grades are a paired
 * difference on the whole record (src/decision/probe-guards.ts judgeGuard), added to the verdict once the
 * judge was asked; a sampled secondary signal, it fails or holds green on its estimate but does not need
 * confidence to promote.
 */
import { describe, expect, it } from 'vitest';
import { SCENARIOS, type Scenario } from '../../bench/verdicts';
import { addJudgeCodes, emptyJudge, JUDGE_CODES, NOT_ASKED } from '../../src/decision/paired';
import { JUDGE_MIN_PAIRS } from '../../src/decision/probe-guards';
import * as m from '../../src/rollout/machine';
import type { RolloutSpec } from '../../src/rollout/spec';
import { guard, recorded } from './fixtures';

const eq = SCENARIOS.find((s) => s.id === 'eq') as Scenario;
const code = (c: (typeof JUDGE_CODES)[number]) => JUDGE_CODES.indexOf(c);

/** The eq scenario's record at `stepIndex`, with the judge on and the given grades. */
function withJudge(pairs: number, stepIndex: number, grades: { n: number; gOnly: number; bOnly: number; asked?: number } | undefined) {
  const { spec, state } = recorded(eq, pairs, { stepIndex });
  const judged: RolloutSpec = {
    ...spec,
    guards: { ...spec.guards, judge: { model: 'deepseek-v3.2', maxLossRate: 0.1, samplePercent: 20 } },
  };
  const record = grades ? { ...state.probes.record, judge: { asked: grades.n, ...grades }, judgeMicroUsd: 1234 } : state.probes.record;
  const s = { ...state, probes: { ...state.probes, record } };
  return { spec: judged, ev: m.evaluateState(judged, s) };
}

describe('the judge on probe pairs', () => {
  it('counts its codes: not asked skipped, no verdict asked only, green lost / won / tied', () => {
    const c = addJudgeCodes(emptyJudge(), [NOT_ASKED, code('none'), code('blue'), code('blue'), code('green'), code('tie')]);
    expect(c).toEqual({ asked: 5, n: 4, gOnly: 2, bOnly: 1 });
  });

  it('a judge that prefers blue far more often fails green; the reason names the judge and its numbers', () => {
    const { ev } = withJudge(400, 0, { n: 100, gOnly: 40, bOnly: 3 });
    expect(ev.verdict).toBe('Fail');
    const g = guard(ev, 'judge');
    expect(g.verdict).toBe('Fail');
    expect(g.detail).toMatch(
      /^the judge preferred blue in 40, green in 3, tied 57 of 100 judged pairs: net loss rate \+37\.00 pp, 95% CS \[\+\d/,
    );
    expect(g.detail).toContain('judge spend $0.0012');
  });

  it('an equal judge (ties, a few either way) does not hold a step before the last, and promotes at the last with 30 judged pairs', () => {
    const last = recorded(eq, 0).spec.steps.length - 1;
    const early = withJudge(400, 0, { n: 20, gOnly: 1, bOnly: 1 });
    expect(guard(early.ev, 'judge').verdict).toBe('Inconclusive');
    expect(early.ev.verdict).not.toBe('Fail');
    expect(early.ev.reason).not.toMatch(/judge/);
    // the last step: the same record without a judge promotes; with too few judged pairs the judge holds it (collecting)
    const base = withJudge(3000, last, undefined);
    expect(base.ev.verdict).toBe('Pass');
    const short = withJudge(3000, last, { n: JUDGE_MIN_PAIRS - 1, gOnly: 1, bOnly: 1 });
    expect(short.ev.verdict).toBe('Inconclusive');
    expect(short.ev.collecting).toBe(true);
    expect(short.ev.reason).toMatch(/the judge preferred blue in 1, green in 1, tied 27 of 29/);
    const enough = withJudge(3000, last, { n: 60, gOnly: 3, bOnly: 2 });
    expect(guard(enough.ev, 'judge').verdict).toBe('Inconclusive'); // not confident: a sampled signal needs no confidence to promote
    expect(enough.ev.verdict).toBe('Pass');
  });

  it('a judge estimate outside tolerance holds the step (counted against the hold budget), short of a confident Fail', () => {
    const { ev } = withJudge(400, 0, { n: 40, gOnly: 8, bOnly: 1 });
    expect(guard(ev, 'judge').verdict).toBe('Inconclusive');
    expect(guard(ev, 'judge').within).toBe(false);
    expect(ev.verdict).toBe('Inconclusive');
    expect(ev.collecting).toBeUndefined();
  });

  it('at the last step a judge that finds green worse (outside tolerance, 30+ judged) holds on the hold budget, not as collecting', () => {
    const last = recorded(eq, 0).spec.steps.length - 1;
    const { ev } = withJudge(3000, last, { n: 30, gOnly: 7, bOnly: 0 });
    expect(ev.verdict).toBe('Inconclusive');
    expect(ev.collecting).toBeUndefined();
    expect(ev.reason).toMatch(/the judge preferred blue in 7, green in 0/);
  });

  it('a judge that does not answer (most calls without a verdict) spends the hold budget and says so', () => {
    const last = recorded(eq, 0).spec.steps.length - 1;
    const { ev } = withJudge(3000, last, { n: 5, gOnly: 0, bOnly: 0, asked: 100 });
    expect(ev.verdict).toBe('Inconclusive');
    expect(ev.collecting).toBeUndefined();
    expect(ev.reason).toMatch(/the judge answered only 5 of 100 asked/);
  });

  it('before 30 judged pairs an estimate outside tolerance does not hold a step (one lost of two is noise)', () => {
    const { ev } = withJudge(400, 0, { n: 2, gOnly: 1, bOnly: 0 });
    expect(guard(ev, 'judge').within).toBe(false);
    expect(ev.reason).not.toMatch(/judge/);
  });

  it('the judge on but not yet asked (a round carried its column, no pair sampled): the guard is there, and holds the last step', () => {
    const last = recorded(eq, 0).spec.steps.length - 1;
    const { ev } = withJudge(3000, last, { n: 0, gOnly: 0, bOnly: 0, asked: 0 });
    expect(guard(ev, 'judge')).toBeDefined();
    expect(ev.verdict).toBe('Inconclusive');
    expect(ev.collecting).toBe(true);
  });

  it('no judge guard without a judge column: records from runs before it graded probes judge as they did', () => {
    const { ev } = withJudge(400, 0, undefined);
    expect(ev.guards.some((g) => g.guard === 'judge')).toBe(false);
    // and rounds without judge codes keep the evidence's shape (no judge fields): what older runs carried
    expect('judge' in recorded(eq, 100).state.probes.record).toBe(false);
  });
});
