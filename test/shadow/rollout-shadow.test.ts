/**
 * The rollout's shadow phase as pure logic (src/rollout/machine.ts, src/decision/shadow.ts): spec, batches
 * (checked, deduplicated, bounded), the verdict per batch, and the phase's transitions.
 */
import { describe, expect, it } from 'vitest';
import { JUDGE_CODES, OUTCOME_CODES, type ProbeRound } from '../../src/decision/paired';
import { addShadowBatch, emptyShadowEvidence, evaluateShadow } from '../../src/decision/shadow';
import * as m from '../../src/rollout/machine';
import { parseSpec, pricingProblems } from '../../src/rollout/spec';
import { MAX_SHADOW_PAIRS_PER_BATCH, type ShadowBatch } from '../../src/shadow/contract';
import { statusText } from '../../src/rollout/render';
import { renderDetails, staticDetails } from '../../src/rollout/web-ui';

const base = { target: 'sh', blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } };
const spec = (plan: object = {}, guards: object = {}, extra: object = {}) =>
  parseSpec({ ...base, plan: { steps: [50, 100], shadow: { percent: 10, minPairs: 200, ...plan } }, guards, ...extra });

interface PairOpts {
  n: number;
  /** share of pairs where green's JSON check fails (blue's passes) */
  greenJsonBroken?: number;
  greenOutTokens?: number;
  judge?: Array<(typeof JUDGE_CODES)[number]>;
  greenMicroUsd?: number;
  judgeMicroUsd?: number;
  greenCode?: (typeof OUTCOME_CODES)[number];
}
function round(o: PairOpts): ProbeRound {
  const arm = (out: number, micro: number, code = 0) => ({
    code: Array(o.n).fill(code),
    ms: Array(o.n).fill(100),
    microUsd: Array(o.n).fill(micro),
    inputTokens: Array(o.n).fill(20),
    outputTokens: Array(o.n).fill(out),
    check: Array(o.n).fill(-1),
    retriedFailures: Array(o.n).fill(0),
  });
  const broken = Math.round((o.greenJsonBroken ?? 0) * o.n);
  return {
    prompt: Array(o.n).fill(0),
    blue: arm(40, 100),
    green: arm(o.greenOutTokens ?? 40, o.greenMicroUsd ?? 100, OUTCOME_CODES.indexOf(o.greenCode ?? 'ok')),
    output: {
      json: { blue: Array(o.n).fill(1), green: Array.from({ length: o.n }, (_, i) => (i < broken ? 0 : 1)) },
      toolCall: { blue: Array(o.n).fill(-1), green: Array(o.n).fill(-1) },
    },
    ...(o.judge ? { judge: Array.from({ length: o.n }, (_, i) => JUDGE_CODES.indexOf(o.judge![i % o.judge!.length])) } : {}),
    ...(o.judgeMicroUsd ? { judgeMicroUsd: o.judgeMicroUsd } : {}),
  };
}
let seq = 0;
const batch = (o: PairOpts, id = `b-${seq++}`): ShadowBatch => ({ batchId: id, round: round(o), dropped: 1, skipped: 2 });

function inShadow(sp = spec()) {
  const s = m.preflightPassed(m.initialState('2026-01-01T00:00:00Z'), sp, 1_000);
  expect(s.stage.kind).toBe('shadow');
  return s;
}
function feed(sp: ReturnType<typeof spec>, s: m.RolloutState, batches: ShadowBatch[]) {
  for (const b of batches) {
    const r = m.acceptShadowBatch(sp, s, b);
    s = m.judgeShadow(sp, r.state, '2026-01-01T00:00:01Z');
    if (s.outcome || s.stage.kind !== 'shadow') break;
  }
  return s;
}

describe('spec: plan.shadow and guards.judge', () => {
  it('defaults, and no shadow unless asked (specs without it are unchanged)', () => {
    expect(parseSpec(base).shadow).toBeUndefined();
    expect(parseSpec(base).guards.judge).toBeUndefined();
    const s = parseSpec({ ...base, plan: { shadow: {} }, guards: { judge: { model: 'deepseek-v3.2' } } });
    expect(s.shadow).toEqual({ percent: 5, minPairs: 200, maxLengthIncrease: 0.5 });
    expect(s.guards.judge).toEqual({ model: 'deepseek-v3.2', maxLossRate: 0.1, samplePercent: 20 });
    expect(parseSpec({ ...base, plan: { shadow: { maxDuration: '10m', maxSpendUsd: 2 } } }).shadow).toMatchObject({
      maxDurationMs: 600_000,
      maxSpendUsd: 2,
    });
  });
  it('refuses bad values and a key in the judge; a judge without a shadow phase grades probes', () => {
    expect(() => parseSpec({ ...base, plan: { shadow: { percent: 0 } } })).toThrow(/percent/);
    expect(() => parseSpec({ ...base, plan: { shadow: { percent: 101 } } })).toThrow(/percent/);
    expect(() => parseSpec({ ...base, plan: { shadow: { minPairz: 3 } } })).toThrow(/minPairz/);
    expect(() => parseSpec({ ...base, plan: { shadow: {} }, guards: { judge: { model: 'j', apiKeyEnv: 'sk-123 secret' } } })).toThrow(
      /NAME of an environment variable/,
    );
    expect(() => parseSpec({ ...base, plan: { shadow: {} }, guards: { judge: { model: 'j', baseURL: 'https://u:p@gw/v1' } } })).toThrow(
      /credentials/,
    );
    // without a shadow phase the judge grades probe pairs (test/rollout/probe-judge.test.ts)
    expect(parseSpec({ ...base, guards: { judge: { model: 'j' } } }).guards.judge).toMatchObject({ model: 'j', samplePercent: 20 });
    const capped = parseSpec({ ...base, plan: { shadow: { maxSpendUsd: 1 } } });
    expect(pricingProblems(capped, (model) => model !== 'gpt-4.1-turbo').refused.join()).toMatch(
      /plan\.shadow\.maxSpendUsd: green model gpt-4.1-turbo is not in the price catalog/,
    );
    expect(pricingProblems(capped, () => true).refused).toEqual([]);
  });
});

describe('shadow phase: machine', () => {
  it('preflight goes to the shadow phase: green 0%, the status asks routers to mirror (with the judge)', () => {
    const sp = spec({}, { judge: { model: 'deepseek-v3.2', rubric: 'be strict', apiKeyEnv: 'JUDGE_KEY' } });
    const s = inShadow(sp);
    expect(m.phaseOf(s)).toBe('shadow');
    expect(m.next(s)).toEqual({ kind: 'shadow' });
    const st = m.toStatus(sp, s);
    expect(st.greenPercent).toBe(0);
    expect(st.shadow).toEqual({
      percent: 10,
      judgePercent: 20,
      judge: { model: 'deepseek-v3.2', apiKeyEnv: 'JUDGE_KEY', rubric: 'be strict' },
    });
    expect(st.shadowStats).toMatchObject({ pairs: 0, minPairs: 200 });
    // without plan.shadow: the first step, as before
    expect(m.preflightPassed(m.initialState('x'), parseSpec(base), 5).stage).toEqual({ kind: 'next-step' });
  });

  it('an equal green passes with minPairs and goes to step 1; spend and counts kept', () => {
    const sp = spec();
    const s = feed(
      sp,
      inShadow(sp),
      Array.from({ length: 10 }, () => batch({ n: 50 })),
    );
    expect(s.outcome).toBeUndefined();
    expect(s.stage).toEqual({ kind: 'next-step' });
    expect(m.phaseOf(s)).toBe('ramping');
    const st = m.toStatus(sp, s);
    expect(st.shadow).toBeUndefined(); // routers stop mirroring
    expect(st.shadowStats!.pairs).toBeGreaterThanOrEqual(200);
    expect(st.shadowStats!.spendUsd.green).toBeCloseTo(st.shadowStats!.pairs * 100e-6, 9);
    expect(st.shadowStats!.dropped).toBe(st.shadowStats!.batches);
    expect(st.verdicts.at(-1)!.evaluation.verdict).toBe('Pass');
    const next = m.advanceOrHold(sp, s, 10_000);
    expect(next.greenPercent).toBe(50);
    expect(statusText(m.toStatus(sp, s))).toMatch(/shadow {2}\d+\/200 pairs/);
    expect(renderDetails(sp, s)).toMatch(/Shadow pairs: \d+ of 200 judged/);
    expect(staticDetails(sp)).toMatch(/shadow phase \| before step 1: 10% of requests mirrored/);
    expect(renderDetails(parseSpec(base), m.initialState('x'))).not.toMatch(/[Ss]hadow/);
  });

  it('green that breaks JSON is rolled back in the phase, before any user is served; the reason names the check', () => {
    const sp = spec();
    const s = feed(
      sp,
      inShadow(sp),
      Array.from({ length: 10 }, () => batch({ n: 50, greenJsonBroken: 0.3 })),
    );
    expect(s.outcome?.phase).toBe('rolled_back');
    expect(s.greenPercent).toBe(0);
    expect(s.stepIndex).toBe(-1);
    expect(s.outcome!.reason).toMatch(/shadow phase .*json: green broke JSON in \d+ of \d+ mirrored pairs/);
  });

  it('onFailure pause: the phase pauses; resume accepts the risk (step 1)', () => {
    const sp = spec({}, {}, { onFailure: 'pause' });
    const s = feed(sp, inShadow(sp), [batch({ n: 200, greenJsonBroken: 0.5 })]);
    expect(s.outcome).toBeUndefined();
    expect(m.phaseOf(s)).toBe('paused');
    expect(s.pause!.reason).toMatch(/json/);
    expect(m.next(m.resume(s))).toEqual({ kind: 'advance' });
  });

  it('the judge: a green that loses is rolled back on its net loss rate; judge spend counted apart', () => {
    const sp = spec({}, { judge: { model: 'deepseek-v3.2' } });
    const s = feed(
      sp,
      inShadow(sp),
      Array.from({ length: 10 }, () => batch({ n: 50, judge: ['none', 'none', 'blue', 'tie', 'none'], judgeMicroUsd: 500 })),
    );
    expect(s.outcome?.phase).toBe('rolled_back');
    expect(s.outcome!.reason).toMatch(/judge: the judge preferred blue in \d+/);
    const st = m.toStatus(sp, s);
    expect(st.shadowStats!.judge.spendUsd).toBeGreaterThan(0);
    expect(st.shadowStats!.spendUsd.green).toBeCloseTo(st.shadowStats!.pairs * 100e-6, 9); // judge not on green
    // an equal green with a noisy judge passes
    const eq = feed(
      sp,
      inShadow(sp),
      Array.from({ length: 20 }, () => batch({ n: 50, judge: ['tie', 'none', 'green', 'none', 'blue', 'tie', 'none'] })),
    );
    expect(eq.outcome).toBeUndefined();
    expect(eq.stage.kind).toBe('next-step');
  });

  it('longer answers fail the length ratio', () => {
    const sp = spec();
    const s = feed(
      sp,
      inShadow(sp),
      Array.from({ length: 10 }, () => batch({ n: 50, greenOutTokens: 100 })),
    );
    expect(s.outcome?.reason).toMatch(/length: green's answers/);
  });

  it('a repeated batchId is dropped; malformed and oversized batches are refused; batches outside the phase not counted', () => {
    const sp = spec();
    let s = inShadow(sp);
    const b = batch({ n: 10 }, 'same');
    s = m.acceptShadowBatch(sp, s, b).state;
    const again = m.acceptShadowBatch(sp, s, b);
    expect(again.result).toBe('duplicate');
    expect(again.state.shadow!.evidence.batches).toBe(1);
    expect(m.acceptShadowBatch(sp, s, { batchId: 'x' }).result).toBe('malformed');
    expect(m.acceptShadowBatch(sp, s, null).result).toBe('malformed');
    const bad = batch({ n: 10 });
    bad.round.green.code[3] = 999;
    expect(m.acceptShadowBatch(sp, s, bad).result).toBe('malformed');
    const short = batch({ n: 10 });
    short.round.green.ms.pop();
    expect(m.acceptShadowBatch(sp, s, short).result).toBe('malformed');
    expect(m.acceptShadowBatch(sp, s, batch({ n: MAX_SHADOW_PAIRS_PER_BATCH + 1 })).result).toBe('malformed');
    const text = batch({ n: 2 }) as any;
    text.round.output.json.green[0] = 'the answer';
    expect(m.acceptShadowBatch(sp, s, text).result).toBe('malformed');
    expect(m.acceptShadowBatch(sp, { ...s, stage: { kind: 'judging' } }, batch({ n: 5 })).result).toBe('not-shadow');
    // seen ids are bounded
    for (let i = 0; i < m.BATCH_IDS_KEPT + 20; i++) s = m.acceptShadowBatch(sp, s, batch({ n: 1 })).state;
    expect(s.shadow!.seenBatchIds.length).toBe(m.BATCH_IDS_KEPT);
    // evidence is fixed-size: its JSON does not grow with the pairs
    const size = JSON.stringify(s.shadow!.evidence).length;
    for (let i = 0; i < 50; i++) s = m.acceptShadowBatch(sp, s, batch({ n: 200 })).state;
    expect(JSON.stringify(s.shadow!.evidence).length).toBeLessThan(size + 200);
  });

  it('the spend cap stops mirroring; without a verdict by then, onFailure', () => {
    const sp = spec({ maxSpendUsd: 0.005 }); // 50 pairs at $0.0001
    let s = inShadow(sp);
    s = m.judgeShadow(sp, m.acceptShadowBatch(sp, s, batch({ n: 60 })).state, 'at');
    expect(s.outcome?.phase).toBe('rolled_back');
    expect(s.outcome!.reason).toMatch(/mirroring stopped \(green's shadow spend/);
    // a status between the batch and the verdict tells routers to stop
    const mid = m.acceptShadowBatch(sp, inShadow(sp), batch({ n: 60 })).state;
    expect(m.toStatus(sp, mid).shadow!.stopped).toBe(true);
  });

  it("green's spend on pairs sampled out of full batches counts against the cap and in the status (not judged)", () => {
    const sp = spec({ maxSpendUsd: 0.005 });
    const full = { ...batch({ n: 10 }), sampledOut: { pairs: 300, greenMicroUsd: 30_000, blueMicroUsd: 20_000 } };
    const s = m.acceptShadowBatch(sp, inShadow(sp), full).state;
    const st = m.toStatus(sp, s);
    expect(st.shadow!.stopped).toBe(true); // $0.03 sampled out + 10 judged pairs' spend is past the $0.005 cap
    expect(st.shadowStats!.sampledOut).toBe(300);
    expect(st.shadowStats!.pairs).toBe(10);
    expect(st.shadowStats!.spendUsd.green).toBeCloseTo(0.03 + s.shadow!.evidence.pairs.arms.green.costUsd, 9);
    expect(statusText(st)).toMatch(/sampled out 300; green spend/);
    // a malformed sampledOut refuses the batch
    expect(
      m.acceptShadowBatch(sp, inShadow(sp), { ...batch({ n: 2 }), sampledOut: { pairs: -1, greenMicroUsd: 0, blueMicroUsd: 0 } }).result,
    ).toBe('malformed');
  });

  it('maxDuration without traffic: onFailure, the reason says no router sent pairs; no limit → it waits', () => {
    const sp = spec({ maxDuration: '1m' });
    const s = inShadow(sp);
    expect(m.shadowWaitMs(sp, s, 31_000)).toBe(30_000);
    expect(m.shadowTick(sp, s, 30_000)).toBe(s);
    const t = m.shadowTick(sp, s, 61_000);
    expect(t.outcome?.reason).toMatch(/within 1m.*no router sent mirrored pairs/);
    expect(m.shadowWaitMs(spec(), inShadow(), 5)).toBeUndefined();
  });

  it('abort, pause and promote work in the phase', () => {
    const sp = spec();
    const s = inShadow(sp);
    expect(m.abort(s).outcome?.phase).toBe('rolled_back');
    expect(m.promoteRefusal(sp, s)).toBeUndefined();
    expect(m.promote(s).outcome).toMatchObject({ phase: 'promoted' });
    const p = m.pause(s);
    expect(m.phaseOf(p)).toBe('paused');
    expect(m.toStatus(sp, p).shadow).toBeDefined(); // stage kept; the router only mirrors in phase shadow
    expect(m.next(m.resume(p))).toEqual({ kind: 'shadow' });
  });
});

describe('shadow evidence: paired output checks', () => {
  it('only pairs where both arms were checked count', () => {
    const r = round({ n: 4, greenJsonBroken: 0.5 });
    r.output!.json!.blue[0] = -1; // green's broken answer on pair 0 is not compared
    const e = addShadowBatch(
      emptyShadowEvidence(),
      { round: r, dropped: 0, skipped: 0 },
      { tailQuantile: 0.99, p50Tolerance: 0.2, tailTolerance: 0.2 },
    );
    expect(e.output.json).toEqual({ n: 3, gOnly: 1, bOnly: 0 });
    expect(e.output.toolCall.n).toBe(0);
    const ev = evaluateShadow({ evidence: e, guards: spec().guards, plan: { minPairs: 1, maxLengthIncrease: 0.5 } });
    expect(ev.guards.map((g) => g.guard)).toContain('json');
    expect(ev.guards.map((g) => g.guard)).not.toContain('toolCall');
  });
});
