/** Shared experiment test data: simulator profiles, workflow inputs, a sample report. */
import { DEFAULT_CATALOG, pickModels } from '../../src/catalog/prices';
import { SEED_MODELS } from '../../src/experiment/command';
import { ExperimentAccumulator } from '../../src/experiment/aggregate';
import { DEFAULT_SETTINGS } from '../../src/experiment/plan';
import type { BatchResult, ExperimentInput, ExperimentReport, TestCase } from '../../src/experiment/contract';
import type { SimulatorOptions } from '../../src/sim/index';

// Per model: error rate, latency (fixed or lognormal {p50, p99}), fixed completion length.
export const PROFILES = {
  'deepseek-v3.2': { errorRate: 0.02, latencyMs: 30, completionTokens: 100 },
  'gemini-2.5-flash': { errorRate: 0.1, latencyMs: 15, completionTokens: 200 },
  'gpt-4.1': { errorRate: 0, latencyMs: { p50: 60, p99: 150 }, completionTokens: 300 },
  'claude-sonnet-4.5': { errorRate: 0.25, latencyMs: { p50: 80, p99: 200 }, completionTokens: 400 },
} as const;
// A zero-latency, never-failing model in the same experiment: its latencies are pure local overhead
// (HTTP, event loop, CPU contention on 2 shared cores), measured under the same load as the others.
export const CONTROL = 'control-zero-latency';
// A never-failing model with a fixed 200 ms delay: large against local overhead, for comparisons with the control.
export const SLOW = 'slow-fixed-200ms';

/** The simulator the end-to-end experiment tests run against (seeded: the same draws every run). */
export const SIM_OPTIONS: SimulatorOptions = {
  port: 0,
  seed: 11,
  models: {
    ...PROFILES,
    [CONTROL]: { errorRate: 0, latencyMs: 0, completionTokens: 10 },
    [SLOW]: { errorRate: 0, latencyMs: 200, completionTokens: 10 },
  } as never,
  latencyScale: 1,
};

export const PROMPTS: TestCase[] = Array.from({ length: 10 }, (_, i) => ({
  name: `q${i}`,
  messages: [{ role: 'user' as const, content: `What is ${i} + ${i}?` }],
}));

export const input = (
  over: Partial<ExperimentInput['settings']>,
  models: readonly string[] = SEED_MODELS,
  prompts = PROMPTS,
): ExperimentInput => ({
  models: models.map((model) => ({ model })),
  prompts,
  settings: { ...DEFAULT_SETTINGS, durationMs: undefined, intervalMs: 0, concurrency: 10, timeoutMs: 10_000, ...over },
  catalog: pickModels(DEFAULT_CATALOG, [...models]),
});

/** Poll `read` until `done` holds, or give up after `timeoutMs` (generous: the machine may be busy) and return the last value for the caller's assertion. */
export async function waitFor<T>(read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const settings = { ...DEFAULT_SETTINGS, durationMs: undefined, rounds: 2 };

export const batch = (model: string, over: Partial<BatchResult>): BatchResult => ({
  model,
  round: 1,
  requests: 0,
  latenciesMs: [],
  errors: {},
  inputTokens: 0,
  outputTokens: 0,
  retries: 0,
  durationMs: 0,
  ...over,
});

export function sampleReport(): ExperimentReport {
  const models = ['gpt-4.1', 'deepseek-v3.2', 'mystery-model', 'claude-sonnet-4.5'];
  const acc = new ExperimentAccumulator(models);
  // gpt-4.1: latencies 1..100 split over two batches, 4 timeouts
  acc.add(
    batch('gpt-4.1', {
      requests: 52,
      latenciesMs: Array.from({ length: 50 }, (_, i) => 100 - i),
      errors: { timeout: 2 },
      inputTokens: 5000,
      outputTokens: 10_000,
    }),
  );
  acc.add(
    batch('gpt-4.1', {
      round: 2,
      requests: 52,
      latenciesMs: Array.from({ length: 50 }, (_, i) => 50 - i),
      errors: { timeout: 2 },
      inputTokens: 5000,
      outputTokens: 10_000,
    }),
  );
  acc.add(batch('deepseek-v3.2', { requests: 10, latenciesMs: [5, 1, 4, 2, 3, 9, 8, 7, 6, 10], inputTokens: 1000, outputTokens: 2000 }));
  acc.add(batch('mystery-model', { requests: 3, latenciesMs: [10, 20, 30], inputTokens: 30, outputTokens: 30 }));
  acc.add(
    batch('claude-sonnet-4.5', {
      requests: 4,
      latenciesMs: [300],
      errors: { server: 3 },
      inputTokens: 100,
      outputTokens: 100,
      lastError: 'server: 500 boom',
    }),
  );
  acc.addFailedBatch('claude-sonnet-4.5', 'activity timed out', 2);
  return acc.report({
    status: 'completed',
    rounds: 2,
    prompts: ['a', 'b'],
    settings,
    startedAt: '2026-01-01T00:00:00.000Z',
    catalog: pickModels(DEFAULT_CATALOG, models),
  });
}
