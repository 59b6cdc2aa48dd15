/** Shadow pairs → batches (src/shadow/batch.ts): ProbeRound columns, the cap, ids, retries, merges. */
import { describe, expect, it } from 'vitest';
import { JUDGE_CODES, OUTPUT_CHECKS } from '../../src/decision/paired';
import { pairsOf, roundOf, ShadowBatcher, type ShadowPair } from '../../src/shadow/batch';
import { MAX_SHADOW_PAIRS_PER_BATCH, type ShadowBatch } from '../../src/shadow/contract';
import { mulberry32 } from '../../src/stats/rng';

const side = (ms: number, microUsd = 1) => ({ code: 0, ms, microUsd, inputTokens: 10, outputTokens: ms, check: -1, retriedFailures: 0 });
function pair(i: number, o: { json?: [number, number]; judge?: string } = {}): ShadowPair {
  const output = Object.fromEntries(OUTPUT_CHECKS.map((c) => [c, { blue: -1, green: -1 }])) as ShadowPair['output'];
  if (o.json) output.json = { blue: o.json[0], green: o.json[1] };
  return { blue: side(i), green: side(i + 1), output, judge: JUDGE_CODES.indexOf((o.judge ?? 'none') as never) };
}

describe('roundOf / pairsOf', () => {
  it('columns per pair, prompt 0; output columns for the checks that applied; judge only when judged', () => {
    const r = roundOf([pair(1, { json: [1, 0] }), pair(2)]);
    expect(r.prompt).toEqual([0, 0]);
    expect(r.blue.ms).toEqual([1, 2]);
    expect(r.green.outputTokens).toEqual([2, 3]);
    expect(r.output).toEqual({ json: { blue: [1, -1], green: [0, -1] } });
    expect(r.judge).toBeUndefined();
    expect(r.judgeMicroUsd).toBeUndefined();
    const j = roundOf([pair(1, { judge: 'blue' }), pair(2)], 42, { green: true });
    expect(j.judge).toEqual([JUDGE_CODES.indexOf('blue'), JUDGE_CODES.indexOf('none')]);
    expect(j.judgeMicroUsd).toBe(42);
    expect(j.unpriced).toEqual({ green: true });
    expect(roundOf(pairsOf(j), 42, { green: true })).toEqual(j);
  });
});

describe('ShadowBatcher', () => {
  const make = (report: (t: string, b: ShadowBatch) => Promise<void>, extra = {}) =>
    new ShadowBatcher({ report, intervalMs: 60_000, routerId: 'r1', random: mulberry32(3), ...extra });

  it('one batch per target and interval with a unique id; counts without pairs still go out; nothing when idle', async () => {
    const sent: Array<[string, ShadowBatch]> = [];
    const b = make(async (t, x) => void sent.push([t, x]));
    b.add('a', pair(1));
    b.add('a', pair(2), 5);
    b.add('b', pair(3));
    b.count('c', 'dropped', 2);
    b.count('c', 'skipped');
    await b.flush();
    expect(sent.map(([t]) => t).sort()).toEqual(['a', 'b', 'c']);
    const byTarget = Object.fromEntries(sent);
    expect(byTarget.a.round.prompt).toHaveLength(2);
    expect(byTarget.a.round.judgeMicroUsd).toBe(5);
    expect(byTarget.c).toMatchObject({ dropped: 2, skipped: 1, round: { prompt: [] } });
    expect(new Set(sent.map(([, x]) => x.batchId)).size).toBe(3);
    await b.flush();
    expect(sent).toHaveLength(3);
  });

  it('at most MAX_SHADOW_PAIRS_PER_BATCH pairs: a uniform sample of the interval beyond', async () => {
    const sent: ShadowBatch[] = [];
    const b = make(async (_t, x) => void sent.push(x));
    const n = 5 * MAX_SHADOW_PAIRS_PER_BATCH;
    for (let i = 0; i < n; i++) b.add('a', pair(i));
    expect(b.peek('a')).toMatchObject({ pairs: MAX_SHADOW_PAIRS_PER_BATCH, seen: n });
    await b.flush();
    const ms = sent[0].round.blue.ms;
    expect(ms).toHaveLength(MAX_SHADOW_PAIRS_PER_BATCH);
    const late = ms.filter((m) => m >= n / 2).length; // about half from each half of the interval
    expect(late).toBeGreaterThan(MAX_SHADOW_PAIRS_PER_BATCH * 0.3);
    expect(late).toBeLessThan(MAX_SHADOW_PAIRS_PER_BATCH * 0.7);
    // the pairs left out are counted with their spend: every pair's green and blue micro-dollars are booked once
    expect(sent[0].sampledOut).toEqual({
      pairs: n - MAX_SHADOW_PAIRS_PER_BATCH,
      greenMicroUsd: n - MAX_SHADOW_PAIRS_PER_BATCH,
      blueMicroUsd: n - MAX_SHADOW_PAIRS_PER_BATCH,
    });
    const kept = sent[0].round.green.microUsd.reduce((a, x) => a + x, 0);
    expect(kept + sent[0].sampledOut!.greenMicroUsd).toBe(n);
  });

  it('no sampledOut while a batch holds every pair of its interval', async () => {
    const sent: ShadowBatch[] = [];
    const b = make(async (_t, x) => void sent.push(x));
    for (let i = 0; i < MAX_SHADOW_PAIRS_PER_BATCH; i++) b.add('a', pair(i));
    await b.flush();
    expect(sent[0].sampledOut).toBeUndefined();
  });

  it('a failed send is retried with the same id and contents; intervals sealed meanwhile join one new batch', async () => {
    const tries: ShadowBatch[] = [];
    let fail = true;
    const errors: boolean[] = [];
    const b = make(
      async (_t, x) => {
        tries.push(structuredClone(x));
        if (fail) throw new Error('unavailable');
      },
      { onError: (_t: string, _e: Error, dropped: boolean) => errors.push(dropped) },
    );
    b.add('a', pair(1));
    await b.flush();
    b.add('a', pair(2));
    await b.flush();
    b.add('a', pair(3));
    b.count('a', 'dropped');
    await b.flush();
    expect(tries.map((t) => t.batchId)).toEqual([tries[0].batchId, tries[0].batchId, tries[0].batchId]);
    expect(new Set(tries.map((t) => JSON.stringify(t))).size).toBe(1);
    expect(b.pendingCount()).toBe(2);
    fail = false;
    await b.flush();
    const last = tries.slice(3);
    expect(last.map((t) => t.batchId)[0]).toBe(tries[0].batchId);
    expect(last[1].batchId).not.toBe(tries[0].batchId);
    expect(last[1].round.blue.ms.sort()).toEqual([2, 3]);
    expect(last[1].dropped).toBe(1);
    expect(errors).toEqual([false, false, false]);
    expect(b.pendingCount()).toBe(0);
  });

  it('drops a batch the rollout can never take (it has ended)', async () => {
    const errors: boolean[] = [];
    const b = make(
      async () => {
        throw Object.assign(new Error('workflow not found'), { name: 'WorkflowNotFoundError' });
      },
      { isPermanent: (e: Error) => e.name === 'WorkflowNotFoundError', onError: (_t: string, _e: Error, d: boolean) => errors.push(d) },
    );
    b.add('a', pair(1));
    await b.flush();
    expect(errors).toEqual([true]);
    expect(b.pendingCount()).toBe(0);
  });

  it('merges a batch sealed elsewhere (a cluster worker) into the current interval', async () => {
    const sent: ShadowBatch[] = [];
    const b = make(async (_t, x) => void sent.push(x));
    b.add('a', pair(1));
    b.merge('a', { batchId: 'w1-1', round: roundOf([pair(7, { judge: 'tie' })], 9), dropped: 1, skipped: 2 });
    await b.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ dropped: 1, skipped: 2, round: { judgeMicroUsd: 9 } });
    expect(sent[0].round.blue.ms).toEqual([1, 7]);
    expect(sent[0].round.judge).toEqual([JUDGE_CODES.indexOf('none'), JUDGE_CODES.indexOf('tie')]);
  });
});
