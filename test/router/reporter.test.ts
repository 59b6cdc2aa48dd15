/**
 * Live batches (src/router/reporter.ts, src/router/live-stats.ts): outcomes are aggregated per target and
 * arm and sent once per interval with unique ids; a failed batch is retried with the same id; after an
 * outage a target's pending batches go one at a time, merged.
 */
import OpenAI from 'openai';
import { describe, expect, it, vi } from 'vitest';
import { createRouter } from '../../src/router';
import { emptyLive, recordLive } from '../../src/router/live-stats';
import { StaticRatioSource } from '../../src/router/ratio';
import { LiveAggregator, type LiveBatch, type LiveReporter } from '../../src/router/reporter';
import { CLIENT_KEY, UPSTREAM_KEY, chatRaw, logger, open, sim, start, useRouterHarness, waitFor } from './router-harness';

useRouterHarness();

describe('live batches', () => {
  const ok = { ok: true, latencyMs: 12, inputTokens: 10, outputTokens: 20, costUsd: 0.001 };

  it('sends one batch per target per interval with unique ids, and retries a failed one with the same id', async () => {
    const sent: Array<[string, LiveBatch]> = [];
    let failNext = 0;
    const reporter: LiveReporter = {
      async report(target, batch) {
        if (failNext > 0) {
          failNext--;
          throw new Error('temporal down');
        }
        sent.push([target, batch]);
      },
    };
    const agg = new LiveAggregator({ reporter, intervalMs: 60_000 });
    for (let i = 0; i < 500; i++) agg.record(i % 2 ? 'a' : 'b', i % 3 ? 'blue' : 'green', ok);
    await agg.flush();
    expect(sent.map(([t]) => t).sort()).toEqual(['a', 'b']);
    const a = sent.find(([t]) => t === 'a')![1];
    expect(a.blue.requests + a.green.requests).toBe(250);
    await agg.flush(); // nothing new → nothing sent
    expect(sent).toHaveLength(2);
    agg.record('a', 'green', { ...ok, ok: false, errorClass: 'server' });
    failNext = 1;
    await agg.flush();
    expect(sent).toHaveLength(2);
    await agg.flush();
    expect(sent).toHaveLength(3);
    expect(sent[2][1].green.errorsByClass.server).toBe(1);
    const ids = sent.map(([, b]) => b.batchId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('aggregates errors by class, latency and tokens (shared ArmStats)', () => {
    const s = emptyLive();
    recordLive(s, ok);
    recordLive(s, { ...ok, ok: false, errorClass: 'timeout', latencyMs: 70_000 });
    recordLive(s, { ...ok, ok: false, errorClass: 'rate_limited' });
    expect(s.requests).toBe(3);
    expect(s.errors).toBe(1);
    expect(s.rateLimited).toBe(1);
    expect(s.errorsByClass).toEqual({ timeout: 1, rate_limited: 1 });
    expect(s.latency.count).toBe(1);
    expect(s.outputTokens).toBe(60);
  });
});

describe('live batches from routed traffic', () => {
  it('reports on its timer: at most one batch per target per tick, adding up to exactly the requests; none for idle or pass-through', async () => {
    const source = new StaticRatioSource({
      'chat-default': { greenPercent: 50, phase: 'ramping', blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } },
      second: { greenPercent: 50, phase: 'ramping', blue: { model: 'gpt-4.1' }, green: { model: 'deepseek-v3.2' } },
    });
    // Ticks are counted, not timed: however busy the machine, each batch is tagged with the tick that sent it.
    let tick = 0;
    const calls: Array<{ tick: number; target: string; batch: LiveBatch }> = [];
    const router = createRouter({
      targets: {
        'chat-default': { blue: { model: 'gpt-4.1' } },
        second: { blue: { model: 'gpt-4.1' } },
        idle: { blue: { model: 'gpt-4.1' } },
      },
      gateway: { baseURL: sim.url },
      env: { GATEWAY_API_KEY: UPSTREAM_KEY },
      apiKeys: [CLIENT_KEY],
      ratioSource: source,
      pollIntervalMs: 40,
      reporter: { report: async (target, batch) => void calls.push({ tick, target, batch }) },
      reportIntervalMs: 100,
      logger,
    });
    open.push(router);
    const flush = router.live.flush.bind(router.live);
    vi.spyOn(router.live, 'flush').mockImplementation(() => {
      tick++;
      return flush();
    });
    const { url } = await router.listen(0, '127.0.0.1');
    await router.ready;
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: url, maxRetries: 0 });
    const send = (model: string, n: number) =>
      Promise.all(
        Array.from({ length: n }, (_, i) =>
          client.chat.completions.create({ model, user: `r${i}`, messages: [{ role: 'user', content: 'x' }] }),
        ),
      );
    const reported = (target: string) =>
      calls.filter((c) => c.target === target).reduce((n, c) => n + c.batch.blue.requests + c.batch.green.requests, 0);
    await Promise.all([send('chat-default', 40), send('second', 25), send('gpt-4.1', 5)]);
    await waitFor(() => reported('chat-default') === 40 && reported('second') === 25, 30_000); // sent by the timer alone
    const seenTicks = new Set(calls.map((c) => `${c.target}@${c.tick}`));
    expect(seenTicks.size, 'never two batches of one target in one tick').toBe(calls.length);
    expect(new Set(calls.map((c) => c.target))).toEqual(new Set(['chat-default', 'second'])); // none for idle or pass-through
    expect(new Set(calls.map((c) => c.batch.batchId)).size).toBe(calls.length);

    // ticks without traffic send nothing
    const sent = calls.length;
    const quietFrom = tick;
    await waitFor(() => tick >= quietFrom + 3, 30_000);
    expect(calls).toHaveLength(sent);
    await send('chat-default', 10);
    await waitFor(() => reported('chat-default') === 50, 30_000);
    expect(calls.slice(sent).every((c) => c.target === 'chat-default')).toBe(true);
  });

  it("after an outage sends each target's pending live batches one at a time, merged, without losing or repeating counts", async () => {
    let down = true;
    let inFlight = 0;
    let maxInFlight = 0;
    const sent: LiveBatch[] = [];
    const reporter: LiveReporter = {
      async report(_t, b) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          await new Promise((r) => setTimeout(r, 20));
          if (down) throw new Error('temporal unavailable');
          sent.push(b);
        } finally {
          inFlight--;
        }
      },
    };
    const h = await start({ green: 50, reporter });
    for (let round = 0; round < 4; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => chatRaw(h, { user: `o${round}-${i}` })));
      await h.router.live.flush();
    }
    expect(sent).toHaveLength(0);
    expect(h.router.live.pendingCount('chat-default')).toBe(2); // the batch in doubt + every later interval merged
    down = false;
    await h.router.live.flush();
    expect(maxInFlight).toBe(1);
    expect(sent).toHaveLength(2);
    expect(new Set(sent.map((b) => b.batchId)).size).toBe(2);
    expect(sent.reduce((n, b) => n + b.blue.requests + b.green.requests, 0)).toBe(40);
    expect(sent[0].blue.requests + sent[0].green.requests).toBe(10); // the one that may have arrived keeps its id and contents
    expect(h.router.live.pendingCount()).toBe(0);
  });
});
