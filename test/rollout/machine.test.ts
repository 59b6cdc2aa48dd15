/**
 * The rollout policy without a server: every transition of src/rollout/machine.ts, as the workflow
 * (and the verdict bench) run them.
 */
import { describe, expect, it } from 'vitest';
import { emptyArmStats, recordOutcome, toWireArmStats } from '../../src/decision/arm-stats';
import { emptyColumns, OUTCOME_CODES, type ProbeRound } from '../../src/decision/paired';
import type { Evaluation } from '../../src/decision/verdict';
import * as m from '../../src/rollout/machine';
import { parseSpec, type SpecInput } from '../../src/rollout/spec';
import { arm } from '../decision/fixtures';

const spec = (over: Partial<SpecInput> = {}) =>
  parseSpec({
    target: 't',
    blue: { model: 'b' },
    green: { model: 'g' },
    plan: { steps: [10, 50, 100], dwell: '30s', samplesPerStep: 100 },
    ...over,
  });

const evaluation = (verdict: Evaluation['verdict'], reason = `${verdict} because`): Evaluation => ({
  verdict,
  reason,
  guards:
    verdict === 'Fail'
      ? [{ guard: 'errorRate', verdict: 'Fail', scope: 'record', observed: 0.1, threshold: 0.02, detail: 'green errors 10%' }]
      : [],
  blue: {
    requests: 0,
    errors: 0,
    errorRate: 0,
    rateLimited: 0,
    p50LatencyMs: 0,
    p99LatencyMs: 0,
    avgLatencyMs: 0,
    costPerSuccessUsd: 0,
    checkFailRate: 0,
  },
  green: {
    requests: 0,
    errors: 0,
    errorRate: 0,
    rateLimited: 0,
    p50LatencyMs: 0,
    p99LatencyMs: 0,
    avgLatencyMs: 0,
    costPerSuccessUsd: 0,
    checkFailRate: 0,
  },
  pairs: { record: 0, window: 0 },
});

/** A state at step `stepIndex`, judging (preflight passed), the step begun at t = 0. */
function atStep(sp = spec(), stepIndex = 0): m.RolloutState {
  let s = m.preflightPassed(m.initialState('2026-01-01T00:00:00.000Z'));
  for (let i = 0; i <= stepIndex; i++) s = m.advance(sp, s, 0);
  return s;
}

/** A probe round of `n` pairs, every pair answered by both arms in 400 ms (green failing the first `gFail`). */
function probes(n = 100, gFail = 0): { round: ProbeRound } {
  const arm = (fail: number) => {
    const c = emptyColumns();
    for (let i = 0; i < n; i++) {
      c.code.push(i < fail ? OUTCOME_CODES.indexOf('server') : 0);
      c.ms.push(i < fail ? 0 : 400);
      c.microUsd.push(100);
      c.inputTokens.push(10);
      c.outputTokens.push(10);
      c.check.push(-1);
      c.retriedFailures.push(0);
    }
    return c;
  };
  return { round: { prompt: Array.from({ length: n }, (_, i) => i % 3), blue: arm(0), green: arm(gFail) } };
}
const round = (n = 100) => probes(n);

describe('rollout machine: the plan', () => {
  it('starts in preflight at 0 % and moves to the first step only after preflight passes', () => {
    const sp = spec();
    const s0 = m.initialState('now');
    expect(m.phaseOf(s0)).toBe('preflight');
    expect(m.next(s0)).toEqual({ kind: 'preflight' });
    const s1 = m.preflightPassed(s0);
    expect(m.phaseOf(s1)).toBe('ramping');
    expect(m.next(s1)).toEqual({ kind: 'advance' });
    const s2 = m.advance(sp, s1, 0);
    expect(s2).toMatchObject({ stepIndex: 0, greenPercent: 10, roundsAtStep: 0, stage: { kind: 'judging' } });
    expect(m.next(s2)).toEqual({ kind: 'sample' });
  });

  it('a failed preflight ends the rollout failed at 0 %', () => {
    const s = m.preflightFailed(m.initialState('now'), 'green: model `x` does not exist');
    expect(m.phaseOf(s)).toBe('failed');
    expect(s.greenPercent).toBe(0);
    expect(m.reasonOf(s)).toBe('preflight failed: green: model `x` does not exist');
    expect(m.next(s)).toEqual({ kind: 'ended' });
  });

  it('Pass → dwell for the spec dwell, then the next step; after the last step → promoted at 100 %', () => {
    const sp = spec();
    let s = atStep(sp, 2);
    const d = m.decide(sp, s, evaluation('Pass'), false, 0);
    expect(d.kind).toBe('dwell');
    s = m.applyDecision(sp, s, d, 0);
    expect(m.next(s)).toEqual({ kind: 'dwell', ms: 30_000 });
    s = m.dwelt(s, 10_000);
    expect(m.next(s)).toEqual({ kind: 'dwell', ms: 20_000 });
    s = m.dwelt(s, 25_000);
    expect(m.next(s)).toEqual({ kind: 'advance' });
    s = m.advance(sp, s, 0);
    expect(m.phaseOf(s)).toBe('promoted');
    expect(s.greenPercent).toBe(100);
    expect(m.reasonOf(s)).toBe('all 3 steps passed; green serves 100%');
  });

  it('a zero dwell goes straight to the next step', () => {
    const sp = spec({ plan: { steps: [50, 100], dwell: 0 } });
    const s = m.applyDecision(sp, atStep(sp), { kind: 'dwell', reason: '' }, 0);
    expect(m.next(s)).toEqual({ kind: 'advance' });
  });

  it('Inconclusive holds the step for another round until guards.maxHoldPairs pairs, then applies onFailure', () => {
    const sp = spec({ guards: { maxHoldPairs: 300 } });
    let s = atStep(sp);
    for (let r = 1; r <= 2; r++) {
      s = m.recordRound(sp, s, round());
      const d = m.decide(sp, s, evaluation('Inconclusive', 'collecting'), false, 0);
      expect(d).toEqual({ kind: 'hold', reason: 'collecting' });
      s = m.applyDecision(sp, s, d, 0);
      expect(s.holdPairs).toBe(100 * r);
      expect(m.next(s)).toEqual({ kind: 'sample' });
    }
    s = m.recordRound(sp, s, round());
    const d = m.decide(sp, s, evaluation('Inconclusive', 'collecting'), false, 0);
    expect(d).toEqual({ kind: 'rollback', reason: 'no verdict after 300 pairs at 10% (3 rounds): collecting' });
    s = m.applyDecision(sp, s, d, 0);
    expect(m.phaseOf(s)).toBe('rolled_back');
    expect(s.greenPercent).toBe(0);
  });

  it('collecting planned evidence does not spend the hold budget', () => {
    const sp = spec({ guards: { maxHoldPairs: 100 } });
    let s = m.recordRound(sp, atStep(sp), round());
    const d = m.decide(sp, s, { ...evaluation('Inconclusive', 'this step has 100 of the 200 pairs'), collecting: true }, false, 0);
    expect(d).toEqual({ kind: 'hold', reason: 'this step has 100 of the 200 pairs', collecting: true });
    s = m.applyDecision(sp, s, d, 0);
    expect(s.holdPairs).toBe(0);
  });

  it('a wait (capacity, shared outage) runs on the wait budget in time, then applies onFailure', () => {
    const sp = spec({ guards: { maxWait: '10m' } });
    let s = m.recordRound(sp, atStep(sp), round());
    const waiting = { ...evaluation('Inconclusive', '429s: green 40%'), wait: 'capacity' as const };
    let d = m.decide(sp, s, waiting, false, 1_000);
    expect(d).toEqual({ kind: 'wait', reason: "waiting for green's capacity (429s): 429s: green 40%", since: 1_000 });
    s = m.applyDecision(sp, s, d, 1_000);
    expect(s.holdPairs).toBe(0);
    d = m.decide(sp, s, waiting, false, 5 * 60_000);
    expect(d.kind).toBe('wait');
    d = m.decide(sp, s, waiting, false, 11 * 60_000);
    expect(d).toEqual({ kind: 'rollback', reason: "waited 11m at 10% for green's capacity (429s): 429s: green 40%" });
  });

  it('Fail rolls back at once with the failing guards in the reason', () => {
    const sp = spec();
    const s = m.recordRound(sp, atStep(sp, 1), round());
    const d = m.decide(sp, s, evaluation('Fail'), false, 0);
    expect(d).toEqual({ kind: 'rollback', reason: 'failed verdict at 50% green: errorRate: green errors 10%' });
  });

  it('onFailure: pause holds the ratio for a human; resume accepts the risk: dwell, then the next step', () => {
    const sp = spec({ onFailure: 'pause' });
    let s = m.recordRound(sp, atStep(sp, 1), round());
    const d = m.decide(sp, s, evaluation('Fail'), false, 0);
    expect(d.kind).toBe('pause');
    s = m.applyDecision(sp, s, d, 0);
    expect(m.phaseOf(s)).toBe('paused');
    expect(s.greenPercent).toBe(50);
    expect(m.reasonOf(s)).toMatch(/^failed verdict at 50% green/);
    expect(m.next(s)).toEqual({ kind: 'paused' });
    s = m.resume(s);
    expect(m.next(s)).toEqual({ kind: 'dwell', ms: 30_000 });
  });

  it('a live batch while dwelling: Pass and Inconclusive keep dwelling (not recorded); Fail ends it and is recorded', () => {
    const sp = spec();
    let s = m.applyDecision(sp, m.recordRound(sp, atStep(sp), round()), { kind: 'dwell', reason: '' }, 0);
    s = m.recordEvaluation(s, evaluation('Pass'), 'at', false);
    const before = s.verdicts.length;
    for (const v of ['Pass', 'Inconclusive'] as const) {
      const d = m.decide(sp, s, evaluation(v), true, 0);
      expect(d.kind).toBe('stay');
      const after = m.applyDecision(sp, m.recordEvaluation(s, evaluation(v), 'at', true), d, 0);
      expect(after.verdicts.length).toBe(before);
      expect(after.stage).toEqual(s.stage);
    }
    const failed = m.recordEvaluation(s, evaluation('Fail'), 'at', true);
    expect(failed.verdicts.length).toBe(before + 1);
    expect(m.decide(sp, failed, evaluation('Fail'), true, 0).kind).toBe('rollback');
  });

  it('keeps the last 20 verdicts only', () => {
    let s = atStep();
    for (let i = 0; i < 30; i++) s = m.recordEvaluation({ ...s, roundsAtStep: i }, evaluation('Inconclusive'), `t${i}`, false);
    expect(s.verdicts).toHaveLength(m.VERDICTS_KEPT);
    expect(s.verdicts.at(-1)!.at).toBe('t29');
  });

  it('probe rounds take the prompts in turn across rounds', () => {
    const sp = spec({ plan: { steps: [50, 100], probesPerRound: 7 } });
    const s = atStep(sp, 1);
    expect(m.nextRound(sp, s)).toEqual({ round: 1, roundAtStep: 1, step: 2, promptOffset: 0 });
    expect(m.nextRound(sp, m.recordRound(sp, s, probes(7)))).toEqual({ round: 2, roundAtStep: 2, step: 2, promptOffset: 7 });
  });

  it('judge evaluates probes and live traffic, and counts only the probes against the spend cap', () => {
    const sp = spec({ guards: { cost: { spendCapUsd: 0.001 } } });
    let s = m.recordRound(sp, atStep(sp), round(200));
    const big = arm(200, 0, 9);
    s = m.acceptLiveBatch(s, { batchId: 'r1', blue: toWireArmStats(big), green: toWireArmStats(big) }).state;
    const e = m.evaluateState(sp, s);
    expect(e.pairs.record).toBe(200);
    expect(s.live.window.green.requests).toBe(200);
    const cap = e.guards.find((g) => g.guard === 'spendCap')!;
    expect(cap.observed).toBeCloseTo(s.probes.record.arms.green.costUsd, 12);
    expect(cap.observed).toBeCloseTo(200 * 100e-6, 12);
  });

  it('a new step starts its own window (probes and live); the record carries on', () => {
    const sp = spec();
    const s = m.recordRound(sp, atStep(sp), round());
    const next = m.advance(sp, m.applyDecision(sp, s, { kind: 'dwell', reason: '' }, 0), 30_000);
    expect(next.probes.record.pairs).toBe(100);
    expect(next.probes.window.pairs).toBe(0);
    expect(next.stepStartedAt).toBe(30_000);
  });
});

describe('rollout machine: operator intents', () => {
  it('a pause during preflight holds after preflight (preflight still runs, the phase says paused)', () => {
    let s = m.pause(m.initialState('now'), 'change freeze');
    expect(m.phaseOf(s)).toBe('paused');
    expect(s.stage.kind).toBe('preflight');
    s = m.preflightPassed(s);
    expect(m.phaseOf(s)).toBe('paused');
    expect(m.next(s)).toEqual({ kind: 'paused' });
    s = m.resume(s);
    expect(m.phaseOf(s)).toBe('ramping');
    expect(m.next(s)).toEqual({ kind: 'advance' });
  });

  it('resume in preflight returns to preflight; resume without a pause changes nothing', () => {
    const s = m.initialState('now');
    expect(m.resume(s)).toBe(s);
    expect(m.phaseOf(m.resume(m.pause(s)))).toBe('preflight');
  });

  it('abort mid-dwell: rolled back at 0 % at once, the reason kept; later intents change nothing', () => {
    const sp = spec();
    const dwelling = m.applyDecision(sp, atStep(sp, 1), { kind: 'dwell', reason: '' }, 0);
    const s = m.abort(dwelling, 'bad vibes');
    expect(m.phaseOf(s)).toBe('rolled_back');
    expect(s.greenPercent).toBe(0);
    expect(m.reasonOf(s)).toBe('aborted by operator: bad vibes');
    expect(m.next(s)).toEqual({ kind: 'ended' });
    expect(m.promote(s)).toBe(s);
    expect(m.pause(s)).toBe(s);
    expect(m.abort(s, 'again')).toBe(s);
    expect(m.reasonOf(m.abort(dwelling))).toBe('aborted by operator');
  });

  it('abort while paused ends the rollout (the pause does not outlive it)', () => {
    const s = m.abort(m.pause(atStep()));
    expect(m.phaseOf(s)).toBe('rolled_back');
    expect(m.next(s)).toEqual({ kind: 'ended' });
  });

  it('promote: 100 % at once; refused before preflight passes and after the rollout ended', () => {
    const sp = spec();
    expect(m.promoteRefusal(sp, m.initialState('now'))).toMatch(/has not passed preflight yet \(g is unchecked\)/);
    const s = atStep(sp);
    expect(m.promoteRefusal(sp, s)).toBeUndefined();
    const promoted = m.promote(s, 'looks good');
    expect(m.phaseOf(promoted)).toBe('promoted');
    expect(promoted.greenPercent).toBe(100);
    expect(m.reasonOf(promoted)).toBe('promoted by operator: looks good');
    expect(m.promoteRefusal(sp, promoted)).toBe('rollout-t is already promoted; nothing to promote');
    expect(m.promoteRefusal(sp, m.abort(s))).toBe('rollout-t is already rolled_back; nothing to promote');
  });

  it('a verdict after an abort does not overwrite it (the first ending wins)', () => {
    const sp = spec();
    const aborted = m.abort(m.recordRound(sp, atStep(sp), round()));
    const after = m.applyDecision(sp, aborted, { kind: 'rollback', reason: 'failed verdict' }, 0);
    expect(m.reasonOf(after)).toBe('aborted by operator');
  });
});

describe('rollout machine: live batches', () => {
  const live = () => {
    const s = emptyArmStats();
    recordOutcome(s, { ok: true, latencyMs: 100, inputTokens: 1, outputTokens: 1, costUsd: 0 });
    return s;
  };

  it('merges a batch once (by id), drops malformed ones and ignores batches after the end', () => {
    let s = atStep();
    const b = { batchId: 'router-1', blue: live(), green: live() };
    let r = m.acceptLiveBatch(s, b);
    expect(r.result).toBe('merged');
    s = r.state;
    expect(s.live.batches).toBe(1);
    expect(s.live.record.green.requests).toBe(1);
    expect(s.live.window.green.requests).toBe(1);
    r = m.acceptLiveBatch(s, b);
    expect(r.result).toBe('duplicate');
    expect(r.state).toBe(s);
    for (const bad of [
      undefined,
      null,
      'x',
      {},
      { batchId: 'x', blue: {}, green: {} },
      { ...b, batchId: '' },
      { ...b, green: { ...live(), requests: -1 } },
    ]) {
      expect(m.acceptLiveBatch(s, bad).result).toBe('malformed');
    }
    expect(m.acceptLiveBatch(m.abort(s), { ...b, batchId: 'router-2' }).result).toBe('closed');
  });

  it('remembers the last 200 batch ids', () => {
    let s = atStep();
    for (let i = 0; i < 250; i++) s = m.acceptLiveBatch(s, { batchId: `b${i}`, blue: live(), green: live() }).state;
    expect(s.live.seenBatchIds).toHaveLength(m.BATCH_IDS_KEPT);
    expect(s.live.batches).toBe(250);
  });
});

describe('rollout machine: continue-as-new', () => {
  it('the next run continues from the carried state with its run count raised', () => {
    const sp = spec();
    const s = m.applyDecision(sp, m.recordRound(sp, atStep(sp, 1), round()), { kind: 'dwell', reason: '' }, 0);
    const carried = JSON.parse(JSON.stringify(s)) as m.RolloutState; // as it travels in the input
    const next = m.resumeState(carried, 'later');
    expect(next).toEqual({ ...s, runs: s.runs + 1 });
    expect(m.resumeState(undefined, 'now')).toEqual(m.initialState('now'));
  });
});
