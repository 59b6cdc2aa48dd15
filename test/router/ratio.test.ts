/**
 * Ratio tracking (src/router/ratio.ts): closed phases fix the ratio; a failing or hanging source keeps
 * the last one (fail static) and is reported stale.
 */
import { describe, expect, it } from 'vitest';
import { effectivePercent, RatioTracker, StaticRatioSource } from '../../src/router/ratio';

describe('ratio tracking', () => {
  it('closed phases fix the ratio', () => {
    expect(effectivePercent({ greenPercent: 25, phase: 'promoted' })).toBe(100);
    expect(effectivePercent({ greenPercent: 25, phase: 'rolled_back' })).toBe(0);
    expect(effectivePercent({ greenPercent: 25, phase: 'failed' })).toBe(0);
    expect(effectivePercent({ greenPercent: 25, phase: 'paused' })).toBe(25);
  });

  it('keeps the last ratio when the source fails and reports stale after N s', async () => {
    let now = 1_000;
    const src = new StaticRatioSource({ t: 25 });
    const tr = new RatioTracker(
      { source: src, pollIntervalMs: 60_000, staleAfterMs: 5_000, timeoutMs: 100, discoverIntervalMs: 0, now: () => now },
      ['t', 'none'],
    );
    await tr.pollAll();
    expect(tr.states.get('t')!.percent).toBe(25);
    expect(tr.states.get('none')!.snapshot).toBeNull();
    src.fail();
    now += 3_000;
    await tr.pollAll();
    expect(tr.states.get('t')!.percent).toBe(25);
    expect(tr.isStale('t')).toBe(false);
    now += 3_000;
    await tr.pollAll();
    expect(tr.states.get('t')!.percent).toBe(25);
    expect(tr.isStale('t')).toBe(true);
    expect(tr.states.get('t')!.lastError).toMatch(/unavailable/);
    src.recover();
    src.set('t', 50);
    await tr.pollAll();
    expect(tr.isStale('t')).toBe(false);
    expect(tr.states.get('t')!.percent).toBe(50);
    tr.stop();
  });

  it('times out a hanging source', async () => {
    const tr = new RatioTracker(
      {
        source: { get: () => new Promise(() => undefined) },
        pollIntervalMs: 60_000,
        staleAfterMs: 1,
        timeoutMs: 30,
        discoverIntervalMs: 0,
      },
      ['t'],
    );
    await tr.pollAll();
    expect(tr.states.get('t')!.lastError).toMatch(/timed out/);
    tr.stop();
  });
});
