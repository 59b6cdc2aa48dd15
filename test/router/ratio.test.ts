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
    now += 70_000; // past the backoff after two failures (never below the 60 s poll interval)
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

  it('backs off a failing source: the wait doubles from the poll interval up to maxBackoffMs, and a good read resets it', async () => {
    let now = 0;
    const src = new StaticRatioSource({ t: 25 });
    const tr = new RatioTracker(
      {
        source: src,
        pollIntervalMs: 300,
        staleAfterMs: 5_000,
        timeoutMs: 100,
        discoverIntervalMs: 0,
        maxBackoffMs: 5_000,
        now: () => now,
        random: () => 0.5,
      },
      ['t'],
    );
    src.fail();
    const readsAt: number[] = [];
    for (now = 0; now <= 30_000; now += 100) {
      const before = src.calls;
      await tr.pollAll(); // what the 300 ms timer would do, on a 100 ms clock
      if (src.calls > before) readsAt.push(now);
    }
    const gaps = readsAt.slice(1).map((t, i) => t - readsAt[i]);
    expect(gaps.slice(0, 5)).toEqual([300, 600, 1_200, 2_400, 4_800]);
    expect(gaps.slice(5).every((g) => g === 5_000)).toBe(true); // capped
    expect(readsAt.length).toBeLessThan(12); // 30 s of an unreachable source: 11 reads, not 100
    src.recover();
    await tr.poll('t'); // a read outside the schedule (e.g. at start) succeeds…
    expect(tr.states.get('t')!.nextPollAt).toBe(0); // …and the next round reads again on time
  });

  it('is ready once every target was read, retrying failed first reads, or after readyWithinMs with what it has', async () => {
    const opts = { pollIntervalMs: 50, staleAfterMs: 5_000, timeoutMs: 100, discoverIntervalMs: 0, maxBackoffMs: 100 };
    // a slow start (the first reads fail): not ready on the failure, ready on the first good read, at its ratio
    const slow = new StaticRatioSource({ t: 50 });
    slow.fail(new Error('deadline exceeded'));
    const tr = new RatioTracker({ ...opts, source: slow, readyWithinMs: 30_000 }, ['t']);
    let ready = false;
    const started = tr.start().then(() => (ready = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(ready).toBe(false);
    slow.recover();
    await started;
    expect(tr.states.get('t')!.percent).toBe(50);
    tr.stop();
    // an unreachable source: ready after readyWithinMs anyway (fail static), nothing read
    const down = new StaticRatioSource({ t: 50 });
    down.fail();
    const tr2 = new RatioTracker({ ...opts, source: down, readyWithinMs: 400 }, ['t']);
    const t0 = Date.now();
    await tr2.start();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    expect(tr2.states.get('t')!.snapshot).toBeUndefined();
    tr2.stop();
    // stopped before ready: start() resolves
    const tr3 = new RatioTracker({ ...opts, source: down, readyWithinMs: 60_000 }, ['t']);
    const p3 = tr3.start();
    tr3.stop();
    await p3;
  });

  it('shares its states with followers: ages instead of timestamps, a version that moves on each change, waiters woken', async () => {
    let now = 10_000;
    const src = new StaticRatioSource({ t: 25 });
    const leader = new RatioTracker(
      { source: src, pollIntervalMs: 300, staleAfterMs: 5_000, timeoutMs: 100, discoverIntervalMs: 0, now: () => now },
      ['t'],
    );
    let followerNow = 999_999; // another clock
    const follower = new RatioTracker(
      {
        source: new StaticRatioSource(),
        pollIntervalMs: 300,
        staleAfterMs: 5_000,
        timeoutMs: 100,
        discoverIntervalMs: 0,
        follow: true,
        now: () => followerNow,
      },
      ['t'],
    );
    const ready = follower.start();
    await leader.pollAll();
    now += 1_000;
    follower.accept('t', leader.share('t')!);
    await ready; // every target accepted once
    expect(follower.states.get('t')!.percent).toBe(25);
    expect(follower.ageSeconds('t')).toBe(1);
    const v = leader.version;
    const woken = leader.changed(v, 60_000);
    src.set('t', { greenPercent: 25, phase: 'rolled_back' });
    await leader.pollAll();
    expect(await woken).toBeGreaterThan(v);
    follower.accept('t', leader.share('t')!);
    expect(follower.states.get('t')!.percent).toBe(0);
    const same = leader.version;
    await leader.pollAll(); // nothing changed: the version stays
    expect(leader.version).toBe(same);
    expect(await leader.changed(same, 10)).toBe(same); // times out unchanged
    followerNow += 6_000;
    void follower.pollAll(); // a follower reads nothing itself…
    expect(follower.isStale('t')).toBe(true); // …and goes stale when no state arrives
  });
});
