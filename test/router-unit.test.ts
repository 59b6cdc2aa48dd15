import { describe, expect, it } from 'vitest';
import { assignArm, bucketOf, BUCKETS, greenBuckets } from '../src/router/assign';
import { findTopLevelModelValues, replaceModel, usageFromTail } from '../src/router/body';
import { emptyLive, recordLive } from '../src/router/live-stats';
import { effectivePercent, RatioTracker, StaticRatioSource } from '../src/router/ratio';
import { LiveAggregator, type LiveBatch, type LiveReporter } from '../src/router/reporter';
import { loadRouterSettings, parseTargets, RouterConfigError } from '../src/router/config';
import { mulberry32 } from '../src/stats/rng';

describe('assignment', () => {
  it('puts 10,000 users on green within ±2 pp of the ratio', () => {
    for (const pct of [1, 10, 25, 50, 90]) {
      let green = 0;
      for (let i = 0; i < 10_000; i++) if (assignArm('chat-default', pct, `user-${i}`) === 'green') green++;
      expect(Math.abs(green / 100 - pct)).toBeLessThanOrEqual(2);
    }
  });

  it('puts 10,000 anonymous requests on green within ±2 pp (random bucket)', () => {
    const rng = mulberry32(7);
    let green = 0;
    for (let i = 0; i < 10_000; i++) if (assignArm('chat-default', 25, undefined, rng) === 'green') green++;
    expect(Math.abs(green / 100 - 25)).toBeLessThanOrEqual(2);
  });

  it('keeps users on green as the ratio rises 10 → 25 → 50 (and only adds users)', () => {
    const users = Array.from({ length: 5_000 }, (_, i) => `u${i}@example.com`);
    let prev = new Set<string>();
    for (const pct of [10, 25, 50]) {
      const green = new Set(users.filter((u) => assignArm('chat-default', pct, u) === 'green'));
      for (const u of prev) expect(green.has(u)).toBe(true);
      expect(green.size).toBeGreaterThan(prev.size);
      prev = green;
    }
  });

  it('edges: 0 % is all blue, 100 % all green, buckets are stable and in range', () => {
    expect(assignArm('t', 0, 'a')).toBe('blue');
    expect(assignArm('t', 100, 'a')).toBe('green');
    expect(greenBuckets(0.01)).toBe(1);
    expect(greenBuckets(150)).toBe(BUCKETS);
    const b = bucketOf('t', 'alice');
    expect(b).toBe(bucketOf('t', 'alice'));
    expect(b).toBeGreaterThanOrEqual(0);
    expect(b).toBeLessThan(BUCKETS);
  });
});

describe('raw body rewrite', () => {
  it('replaces only the top-level model value and keeps every other byte', () => {
    const raw = '{ "messages":[{"role":"user","content":"say \\"model\\": \\"x\\""}],\n "tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{"model":{"type":"string"}}}}}],"metadata":{"model":"keep"},"model" : "chat-default","stream":true}';
    const out = replaceModel(raw, 'gpt-4.1-turbo', JSON.parse(raw));
    expect(out).toBe(raw.replace('"model" : "chat-default"', '"model" : "gpt-4.1-turbo"'));
    expect(JSON.parse(out).metadata.model).toBe('keep');
  });

  it('handles escaped keys, duplicates and odd spacing; falls back for non-objects', () => {
    const raw = '{"mod\\u0065l":"a","x":[1,{"y":"}"}],"model":"b"}';
    expect(findTopLevelModelValues(raw)).toHaveLength(2);
    const out = replaceModel(raw, 'z', JSON.parse(raw));
    expect(JSON.parse(out).model).toBe('z');
    expect(out).toContain('"x":[1,{"y":"}"}]');
    expect(findTopLevelModelValues('[1]')).toBeNull();
    expect(JSON.parse(replaceModel('{"a":1}', 'm', { a: 1 }))).toEqual({ a: 1, model: 'm' });
    expect(replaceModel('{"model":"a"}', 'we"ird', { model: 'a' })).toBe('{"model":"we\\"ird"}');
  });

  it('reads usage from the tail of a JSON body or SSE stream', () => {
    expect(usageFromTail('..."usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46,"prompt_tokens_details":{"cached_tokens":0}}}')).toEqual({ inputTokens: 12, outputTokens: 34 });
    expect(usageFromTail('data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}\n\ndata: [DONE]\n\n')).toEqual({ inputTokens: 5, outputTokens: 7 });
    expect(usageFromTail('data: [DONE]')).toBeUndefined();
  });
});

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
    const tr = new RatioTracker({ source: src, pollIntervalMs: 60_000, staleAfterMs: 5_000, timeoutMs: 100, discoverIntervalMs: 0, now: () => now }, ['t', 'none']);
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
      { source: { get: () => new Promise(() => undefined) }, pollIntervalMs: 60_000, staleAfterMs: 1, timeoutMs: 30, discoverIntervalMs: 0 },
      ['t'],
    );
    await tr.pollAll();
    expect(tr.states.get('t')!.lastError).toMatch(/timed out/);
    tr.stop();
  });
});

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

describe('router config', () => {
  it('reads targets from env and flags, keys from ROUTER_API_KEYS', () => {
    const s = loadRouterSettings({ target: ['b=claude-sonnet-4.5'], port: '0' }, { ROUTER_TARGETS: 'chat-default=gpt-4.1', ROUTER_API_KEYS: 'k1, k2', GATEWAY_BASE_URL: 'http://127.0.0.1:1/v1' });
    expect(s.targets).toEqual({ 'chat-default': { blue: { model: 'gpt-4.1' } }, b: { blue: { model: 'claude-sonnet-4.5' } } });
    expect(s.apiKeys).toEqual(['k1', 'k2']);
    expect(s.port).toBe(0);
    expect(s.reportIntervalMs).toBe(5_000);
    expect(parseTargets('{"x":{"blue":{"model":"m","apiKeyEnv":"X_KEY"}}}', 'env')).toEqual({ x: { blue: { model: 'm', apiKeyEnv: 'X_KEY' } } });
    expect(() => parseTargets('nonsense', 'ROUTER_TARGETS')).toThrow(RouterConfigError);
    expect(() => loadRouterSettings({ config: '/nonexistent/router.yaml' }, {})).toThrow(/cannot read/);
  });

  it('reads ROUTER_KEY_ENVS and ROUTER_ALLOWED_ORIGINS, and never allows the router\'s or Temporal\'s own secrets', () => {
    const s = loadRouterSettings({}, { ROUTER_KEY_ENVS: 'PARTNER_API_KEY, OTHER_KEY', ROUTER_ALLOWED_ORIGINS: 'https://partner.example' });
    expect(s.keyEnvs).toEqual(['PARTNER_API_KEY', 'OTHER_KEY']);
    expect(s.allowedOrigins).toEqual(['https://partner.example']);
    expect(() => loadRouterSettings({}, { ROUTER_KEY_ENVS: 'TEMPORAL_API_KEY' })).toThrow(/never sent/);
    expect(() => loadRouterSettings({}, { ROUTER_KEY_ENVS: 'ROUTER_API_KEYS' })).toThrow(/never sent/);
    expect(() => loadRouterSettings({}, { ROUTER_TARGETS: '{"x":{"blue":{"model":"m","apiKeyEnv":"TEMPORAL_API_KEY"}}}' })).toThrow(/never sent/);
    expect(() => loadRouterSettings({}, { ROUTER_ALLOWED_ORIGINS: 'ftp://x' })).toThrow(/ROUTER_ALLOWED_ORIGINS/);
  });
});
