/**
 * The rollout's activities in the SDK's MockActivityEnvironment (no server), against the real simulator
 * through the real `openai` client: what a resumed batch sends, what it returns, what it heartbeats.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyArmStats, recordOutcome } from '../../src/decision/arm-stats';
import type { SampleBatchInput, SampleBatchResult } from '../../src/rollout/contract';
import { preflight } from '../../src/rollout/activities/preflight';
import { runSampleBatch } from '../../src/rollout/activities/samples';
import { parseSpec } from '../../src/rollout/spec';
import { startSimulator, type Simulator } from '../../src/sim/index';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ latencyScale: 0, seed: 5, models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } } });
  process.env.GATEWAY_BASE_URL = sim.url;
  process.env.GATEWAY_API_KEY = sim.apiKey;
});
afterAll(() => sim?.close());

function batchInput(count: number): SampleBatchInput {
  const spec = parseSpec({ target: 'act', blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' }, rateLimit: { requestsPerMinute: 100_000 } });
  return {
    target: spec.target,
    step: 1,
    round: 1,
    greenPercent: 50,
    count,
    concurrency: 4,
    blue: spec.blue,
    green: spec.green,
    prompts: spec.prompts,
    requestsPerMinute: spec.rateLimit.requestsPerMinute,
    request: spec.request,
    retry: { attempts: 1, minBackoffMs: 10, maxBackoffMs: 10 },
    fallback: false,
    seed: 42,
  };
}

const sent = () => Object.values(sim.stats()).reduce((n, s) => n + s.requests, 0);

describe('runSampleBatch', () => {
  it('a fresh batch sends every sample once and returns numbers only', async () => {
    sim.reset();
    const beats: unknown[] = [];
    const env = new MockActivityEnvironment();
    env.on('heartbeat', (d) => beats.push(d));
    const r = (await env.run(runSampleBatch, batchInput(20))) as SampleBatchResult;
    expect(sent()).toBe(20);
    expect(r.blue.requests + r.green.requests).toBe(20);
    expect(r.blue.requests).toBeGreaterThan(0);
    expect(r.green.requests).toBeGreaterThan(0);
    expect(JSON.stringify(r)).not.toMatch(/Tokyo|capital|Solve step by step/); // no prompt or answer text
  });

  it('a resumed batch skips exactly the samples its heartbeat recorded and adds the rest to the recorded numbers', async () => {
    sim.reset();
    // What a worker that died after 12 samples had heartbeated: those samples and their numbers.
    const done = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const blue = emptyArmStats();
    const green = emptyArmStats();
    for (let i = 0; i < 7; i++) recordOutcome(blue, { ok: true, latencyMs: 1000, inputTokens: 1, outputTokens: 1, costUsd: 0 });
    for (let i = 0; i < 5; i++) recordOutcome(green, { ok: true, latencyMs: 1000, inputTokens: 1, outputTokens: 1, costUsd: 0 });
    const env = new MockActivityEnvironment({ heartbeatDetails: { done, blue, green, fallbacksServed: 0 } });
    const r = (await env.run(runSampleBatch, batchInput(20))) as SampleBatchResult;
    expect(sent()).toBe(8); // only samples 12..19 went out
    expect(r.blue.requests + r.green.requests).toBe(20);
    expect(r.blue.requests).toBeGreaterThanOrEqual(7);
    expect(r.green.requests).toBeGreaterThanOrEqual(5);
    // the recorded samples' latencies (1000 ms each) are in the result: 12 of them, besides the new ones
    expect(r.blue.latency.sumMs + r.green.latency.sumMs).toBeGreaterThanOrEqual(12_000);
  });

  it('routes a resumed batch the same way: the same seed gives the same arm per sample', async () => {
    sim.reset();
    const a = (await new MockActivityEnvironment().run(runSampleBatch, batchInput(40))) as SampleBatchResult;
    const b = (await new MockActivityEnvironment().run(runSampleBatch, batchInput(40))) as SampleBatchResult;
    expect(a.green.requests).toBe(b.green.requests);
  });

  it('a cancelled batch reports a cancellation, not a gateway failure', async () => {
    const slowly = { latencyMs: { p50: 5000, p99: 6000 } };
    const slow = await startSimulator({ latencyScale: 1, models: { 'gpt-4.1': slowly, 'gpt-4.1-turbo': slowly } });
    const prev = process.env.GATEWAY_BASE_URL;
    process.env.GATEWAY_BASE_URL = slow.url;
    process.env.GATEWAY_API_KEY = slow.apiKey;
    try {
      const env = new MockActivityEnvironment();
      const run = env.run(runSampleBatch, batchInput(8));
      setTimeout(() => env.cancel(), 200);
      await expect(run).rejects.toMatchObject({ name: 'CancelledFailure' });
    } finally {
      process.env.GATEWAY_BASE_URL = prev;
      process.env.GATEWAY_API_KEY = sim.apiKey;
      await slow.close();
      sim.reset();
    }
  });
});

describe('preflight', () => {
  it('passes when both models exist; names the missing model otherwise (non-retryable)', async () => {
    const env = new MockActivityEnvironment();
    await expect(env.run(preflight, { blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } })).resolves.toMatchObject({
      blue: { model: 'gpt-4.1' },
      green: { model: 'gpt-4.1-turbo' },
    });
    await expect(new MockActivityEnvironment().run(preflight, { blue: { model: 'gpt-4.1' }, green: { model: 'gpt-5-nope' } })).rejects.toMatchObject({
      type: 'ModelNotFound',
      nonRetryable: true,
      message: expect.stringMatching(/^green: model `gpt-5-nope` does not exist on /),
    });
  });
});
