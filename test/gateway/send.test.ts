/**
 * The sampler's request path (src/gateway) against the real simulator through the real `openai` client:
 * the seed playbook's retries, Retry-After, no retry on 4xx, every failed attempt reported, rate limits.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { gatewayClient } from '../../src/gateway/client';
import { limiterFor, TokenBucket } from '../../src/gateway/rate-limit';
import { sendChat } from '../../src/gateway/send';
import { startSimulator, type Simulator } from '../../src/sim/index';

let sim: Simulator;
const retry = { attempts: 3, minBackoffMs: 50, maxBackoffMs: 200 };
const call = (model: string) => ({
  model,
  messages: [{ role: 'user' as const, content: 'What is 2+2?' }],
  maxTokens: 16,
  expect: { contains: '4', caseSensitive: false },
});

beforeAll(async () => {
  sim = await startSimulator({ latencyScale: 0, seed: 9 });
  // This process is the worker here: its policy must allow the test's key variables and the simulator.
  process.env.WORKER_KEY_ENVS = 'GW_TEST_KEY,GW_WRONG_KEY';
  process.env.WORKER_ALLOWED_ORIGINS = new URL(sim.url).origin;
});
afterAll(async () => sim?.close());
beforeEach(() => sim.reset());

const client = (keyEnv = 'GW_TEST_KEY') => {
  process.env[keyEnv] ??= sim.apiKey;
  return gatewayClient({ baseURL: sim.url, apiKeyEnv: keyEnv }, { timeoutMs: 2000 });
};

describe('sendChat', () => {
  it('answers with metrics only: latency, tokens, cost, the output check', async () => {
    const r = await sendChat(client(), call('gpt-4.1'), { retry, price: (_m, u) => u.inputTokens * 1e-6 + u.outputTokens * 2e-6 });
    expect(r.outcome).toMatchObject({ ok: true, check: { passed: true } });
    expect(r.outcome.inputTokens).toBeGreaterThan(0);
    expect(r.outcome.costUsd).toBeCloseTo(r.outcome.inputTokens * 1e-6 + r.outcome.outputTokens * 2e-6, 12);
    expect(r).toMatchObject({ attempts: 1, retried: [] });
    expect(Object.keys(r.outcome)).not.toContain('content');
  });

  it('retries 5xx with backoff and reports every failed attempt', async () => {
    sim.setProfile('gpt-4.1', { errorRate: 1 });
    const failing = await sendChat(client(), call('gpt-4.1'), { retry });
    expect(failing).toMatchObject({ attempts: 3, outcome: { ok: false, errorClass: 'server' } });
    expect(failing.retried.map((o) => o.errorClass)).toEqual(['server', 'server']);
    expect(sim.stats()['gpt-4.1'].requests).toBe(3);
  });

  it('never retries 401 or an unknown model', async () => {
    process.env.GW_WRONG_KEY = 'sk-wrong-000000000000';
    const auth = await sendChat(client('GW_WRONG_KEY'), call('gpt-4.1'), { retry });
    expect(auth).toMatchObject({ attempts: 1, outcome: { ok: false, errorClass: 'auth' } });
    expect(auth.error).not.toContain('sk-wrong-000000000000');
    const missing = await sendChat(client(), call('gpt-5-nope'), { retry });
    expect(missing).toMatchObject({ attempts: 1, outcome: { ok: false, errorClass: 'not_found' } });
  });

  it('honours Retry-After on 429 and counts the 429 as rate limited, not as an error', async () => {
    sim.setProfile('gemini-2.5-flash', { rpm: 60 }); // burst 60, then 429 with Retry-After ≥ 1 s
    const c = client();
    for (let i = 0; i < 60; i++) await sendChat(c, call('gemini-2.5-flash'), { retry: { ...retry, attempts: 1 } });
    const t0 = Date.now();
    const r = await sendChat(c, call('gemini-2.5-flash'), { retry: { attempts: 2, minBackoffMs: 10, maxBackoffMs: 10 } });
    expect(r.retried.map((o) => o.errorClass)).toEqual(['rate_limited']);
    expect(r.outcome.ok).toBe(true);
    // Waited for Retry-After (the bucket refills one token a second), not the 10 ms backoff.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
  });
});

describe('rate limiting', () => {
  it('a token bucket spaces requests at the configured rate after its burst', async () => {
    const bucket = new TokenBucket(600, 1); // 10 per second, burst 1
    const t0 = Date.now();
    for (let i = 0; i < 6; i++) await bucket.acquire();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450); // 5 waits of ~100 ms
  });

  it('a 429 halves the rate in use (once a second at most) and holds every token until its Retry-After', async () => {
    const bucket = new TokenBucket(6000, 1);
    bucket.throttled(300);
    bucket.throttled(300); // the same burst of 429s: one cut
    expect(bucket.currentRate()).toBe(3000);
    const t0 = Date.now();
    await bucket.acquire();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    // successes win the rate back, never above the configured one
    for (let i = 0; i < 100; i++) bucket.succeeded();
    expect(bucket.currentRate()).toBe(6000);
  });

  it('a request answered 429 tells its limiter, which slows down; an answer wins rate back', async () => {
    sim.setProfile('gemini-2.5-flash', { rpm: 60 });
    const c = client();
    for (let i = 0; i < 60; i++) await sendChat(c, call('gemini-2.5-flash'), { retry: { ...retry, attempts: 1 } });
    const bucket = new TokenBucket(60_000);
    const r = await sendChat(c, call('gemini-2.5-flash'), { retry: { attempts: 3, minBackoffMs: 10, maxBackoffMs: 10 }, limiter: bucket });
    expect(r.retried[0]?.errorClass).toBe('rate_limited');
    expect(r.outcome.ok).toBe(true);
    expect(bucket.currentRate()).toBeLessThan(60_000); // halved by the 429, only partly won back by one answer
  });

  it('one bucket per gateway and model, shared by every batch in the worker', () => {
    expect(limiterFor('http://a/v1', 'm', 60)).toBe(limiterFor('http://a/v1', 'm', 60));
    expect(limiterFor('http://a/v1', 'm', 60)).not.toBe(limiterFor('http://a/v1', 'other', 60));
    expect(limiterFor('http://a/v1', 'm', 60)).not.toBe(limiterFor('http://b/v1', 'm', 60));
  });
});
