/**
 * The rollout's activities in the SDK's MockActivityEnvironment (no server), against the real simulator
 * through the real `openai` client: what a probe round sends, what it returns, what a resumed round skips.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTCOME_CODES } from '../../src/decision/paired';
import type { ProbeRoundInput, ProbeRoundResult } from '../../src/rollout/contract';
import { preflight } from '../../src/rollout/activities/preflight';
import { runProbeRound } from '../../src/rollout/activities/probes';
import { parseSpec } from '../../src/rollout/spec';
import { startSimulator, type Simulator } from '../../src/sim/index';

let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ latencyScale: 0, seed: 5, models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } } });
  process.env.GATEWAY_BASE_URL = sim.url;
  process.env.GATEWAY_API_KEY = sim.apiKey;
});
afterAll(() => sim?.close());

function roundInput(pairs: number, green = 'gpt-4.1-turbo'): ProbeRoundInput {
  const spec = parseSpec({ target: 'act', blue: { model: 'gpt-4.1' }, green: { model: green }, rateLimit: { requestsPerMinute: 100_000 } });
  return {
    target: spec.target,
    step: 1,
    round: 1,
    pairs,
    concurrency: 4,
    blue: spec.blue,
    green: spec.green,
    prompts: spec.prompts,
    promptOffset: 0,
    requestsPerMinute: spec.rateLimit.requestsPerMinute,
    request: spec.request,
    retry: { attempts: 1, minBackoffMs: 10, maxBackoffMs: 10 },
  };
}

const requests = (model: string) => sim.stats()[model]?.requests ?? 0;
const code = (name: (typeof OUTCOME_CODES)[number]) => OUTCOME_CODES.indexOf(name);

describe('runProbeRound', () => {
  it('sends every pair’s prompt to both arms once and returns numbers only', async () => {
    sim.reset();
    const r = (await new MockActivityEnvironment().run(runProbeRound, roundInput(20))) as ProbeRoundResult;
    expect(requests('gpt-4.1')).toBe(20);
    expect(requests('gpt-4.1-turbo')).toBe(20);
    expect(r.round.blue.code).toHaveLength(20);
    expect(r.round.green.code.every((c) => c === code('ok'))).toBe(true);
    // pair i uses prompt i mod prompts, the same prompt on both sides
    const prompts = roundInput(1).prompts.length;
    expect(r.round.prompt).toEqual(Array.from({ length: 20 }, (_, i) => i % prompts));
    expect(JSON.stringify(r)).not.toMatch(/Tokyo|capital|Solve step by step/); // no prompt or answer text
  });

  it('a resumed round skips exactly the pairs its heartbeat recorded and keeps their numbers', async () => {
    sim.reset();
    // What a worker that died after 12 pairs had heartbeated: those pairs, each 1000 ms on both sides.
    const side = { code: 0, ms: 1000, microUsd: 0, inputTokens: 1, outputTokens: 1, check: -1, retriedFailures: 0 };
    const done = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [i, { blue: side, green: side }]));
    const env = new MockActivityEnvironment({ heartbeatDetails: { done, lastError: {} } });
    const r = (await env.run(runProbeRound, roundInput(20))) as ProbeRoundResult;
    expect(requests('gpt-4.1')).toBe(8); // only pairs 12..19 went out
    expect(requests('gpt-4.1-turbo')).toBe(8);
    expect(r.round.blue.ms.slice(0, 12)).toEqual(Array(12).fill(1000));
    expect(r.round.green.code).toHaveLength(20);
  });

  it('marks a green answer another model wrote as substituted, never as a success', async () => {
    const s = await startSimulator({
      latencyScale: 0,
      models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0, substituteModel: 'gpt-4.1' } },
    });
    process.env.GATEWAY_BASE_URL = s.url;
    try {
      const r = (await new MockActivityEnvironment().run(runProbeRound, roundInput(6))) as ProbeRoundResult;
      expect(r.round.green.code).toEqual(Array(6).fill(code('substituted')));
      expect(r.round.blue.code).toEqual(Array(6).fill(code('ok')));
    } finally {
      process.env.GATEWAY_BASE_URL = sim.url;
      await s.close();
    }
  });

  it('a cancelled round reports a cancellation, not a gateway failure', async () => {
    const slowly = { latencyMs: { p50: 5000, p99: 6000 } };
    const slow = await startSimulator({ latencyScale: 1, models: { 'gpt-4.1': slowly, 'gpt-4.1-turbo': slowly } });
    process.env.GATEWAY_BASE_URL = slow.url;
    process.env.GATEWAY_API_KEY = slow.apiKey;
    try {
      const env = new MockActivityEnvironment();
      const run = env.run(runProbeRound, roundInput(8));
      setTimeout(() => env.cancel(), 200);
      await expect(run).rejects.toMatchObject({ name: 'CancelledFailure' });
    } finally {
      process.env.GATEWAY_BASE_URL = sim.url;
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
    await expect(
      new MockActivityEnvironment().run(preflight, { blue: { model: 'gpt-4.1' }, green: { model: 'gpt-5-nope' } }),
    ).rejects.toMatchObject({
      type: 'ModelNotFound',
      nonRetryable: true,
      message: expect.stringMatching(/^green: model `gpt-5-nope` does not exist on /),
    });
  });
});
