import OpenAI, { RateLimitError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../src/sim';

const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

const RPM = 60; // burst of 60, then one token per second -> Retry-After: 1

async function setup() {
  const sim = await startSimulator({ latencyScale: 0, onlyModels: true, models: { 'gpt-4.1': { errorRate: 0, rpm: RPM } } });
  sims.push(sim);
  return sim;
}
const msg = [{ role: 'user' as const, content: 'hi' }];

async function drain(client: OpenAI) {
  const results = await Promise.all(
    Array.from({ length: RPM }, () =>
      client.chat.completions.create({ model: 'gpt-4.1', messages: msg }).then(
        () => 'ok',
        (e: unknown) => e,
      ),
    ),
  );
  expect(results.every((r) => r === 'ok')).toBe(true);
}

describe('simulator: rpm rate limit', () => {
  it('answers 429 after the burst with Retry-After, then accepts again', async () => {
    const sim = await setup();
    const client = new OpenAI({ baseURL: sim.url, apiKey: sim.apiKey, maxRetries: 0 });
    await drain(client);
    const err = await client.chat.completions.create({ model: 'gpt-4.1', messages: msg }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    const e = err as RateLimitError;
    expect(e.code).toBe('rate_limit_exceeded');
    expect(e.headers.get('retry-after')).toBe('1');
    const ms = Number(e.headers.get('retry-after-ms'));
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThanOrEqual(1000);
    expect(sim.stats()['gpt-4.1'].rateLimited).toBe(1);

    await new Promise((r) => setTimeout(r, Number(e.headers.get('retry-after')) * 1000));
    const ok = await client.chat.completions.create({ model: 'gpt-4.1', messages: msg });
    expect(ok.object).toBe('chat.completion');
  });

  it('the openai client with maxRetries: 1 honours Retry-After and then succeeds', async () => {
    const sim = await setup();
    await drain(new OpenAI({ baseURL: sim.url, apiKey: sim.apiKey, maxRetries: 0 }));
    const retrying = new OpenAI({ baseURL: sim.url, apiKey: sim.apiKey, maxRetries: 1 });
    const t0 = Date.now();
    const r = await retrying.chat.completions.create({ model: 'gpt-4.1', messages: msg });
    const took = Date.now() - t0;
    expect(r.object).toBe('chat.completion');
    expect(took).toBeGreaterThanOrEqual(800);
    expect(took).toBeLessThan(3000);
    expect(sim.stats()['gpt-4.1']).toMatchObject({ rateLimited: 1, ok: RPM + 1 });
  });
});
