import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CATALOG, pickModels } from '../src/catalog/prices';
import { ExperimentAccumulator, histogram, histogramBounds } from '../src/experiment/aggregate';
import { buildExperimentInput, SEED_MODELS } from '../src/experiment/command';
import { renderHtml } from '../src/experiment/html';
import { checkExperimentInput, DEFAULT_SETTINGS, MAX_BATCHES } from '../src/experiment/plan';
import { DEFAULT_TEST_CASES, parsePrompts } from '../src/experiment/prompts';
import { renderTable } from '../src/experiment/render';
import { renderMarkdown } from '../src/experiment/web-ui';
import { fmtUsd } from '../src/format';
import type { BatchResult, ExperimentInput, ExperimentReport } from '../src/experiment/contract';

const settings = { ...DEFAULT_SETTINGS, durationMs: undefined, rounds: 2 };
const batch = (model: string, over: Partial<BatchResult>): BatchResult => ({
  model, round: 1, requests: 0, latenciesMs: [], errors: {}, inputTokens: 0, outputTokens: 0, retries: 0, durationMs: 0, ...over,
});

export function sampleReport(): ExperimentReport {
  const models = ['gpt-4.1', 'deepseek-v3.2', 'mystery-model', 'claude-sonnet-4.5'];
  const acc = new ExperimentAccumulator(models);
  // gpt-4.1: latencies 1..100 split over two batches, 4 timeouts
  acc.add(batch('gpt-4.1', { requests: 52, latenciesMs: Array.from({ length: 50 }, (_, i) => 100 - i), errors: { timeout: 2 }, inputTokens: 5000, outputTokens: 10_000 }));
  acc.add(batch('gpt-4.1', { round: 2, requests: 52, latenciesMs: Array.from({ length: 50 }, (_, i) => 50 - i), errors: { timeout: 2 }, inputTokens: 5000, outputTokens: 10_000 }));
  acc.add(batch('deepseek-v3.2', { requests: 10, latenciesMs: [5, 1, 4, 2, 3, 9, 8, 7, 6, 10], inputTokens: 1000, outputTokens: 2000 }));
  acc.add(batch('mystery-model', { requests: 3, latenciesMs: [10, 20, 30], inputTokens: 30, outputTokens: 30 }));
  acc.add(batch('claude-sonnet-4.5', { requests: 4, latenciesMs: [300], errors: { server: 3 }, inputTokens: 100, outputTokens: 100, lastError: 'server: 500 boom' }));
  acc.addFailedBatch('claude-sonnet-4.5', 'activity timed out', 2);
  return acc.report({ status: 'completed', rounds: 2, prompts: ['a', 'b'], settings, startedAt: '2026-01-01T00:00:00.000Z', catalog: pickModels(DEFAULT_CATALOG, models) });
}

describe('experiment aggregation', () => {
  const r = sampleReport();
  const by = (m: string) => r.models.find((x) => x.model === m)!;

  it('counts requests, successes and errors per model', () => {
    expect(by('gpt-4.1')).toMatchObject({ requests: 104, successes: 100, failures: 4, errors: { timeout: 4 } });
    expect(by('gpt-4.1').successRate).toBeCloseTo(100 / 104, 12);
    // A whole failed batch counts its planned requests (2 prompts) as failures.
    expect(by('claude-sonnet-4.5')).toMatchObject({ requests: 6, successes: 1, failures: 5, failedBatches: 1, lastError: 'activity timed out' });
    expect(by('claude-sonnet-4.5').errors).toMatchObject({ server: 3, batch_failed: 2 });
  });

  it('computes exact nearest-rank p50/p99 and the mean over successes', () => {
    expect(by('gpt-4.1')).toMatchObject({ p50LatencyMs: 50, p99LatencyMs: 99, minLatencyMs: 1, maxLatencyMs: 100, avgLatencyMs: 50.5 });
    expect(by('deepseek-v3.2')).toMatchObject({ p50LatencyMs: 5, p99LatencyMs: 10, avgLatencyMs: 5.5 });
    expect(by('mystery-model')).toMatchObject({ p50LatencyMs: 20, p99LatencyMs: 30 });
  });

  it('prices input and output tokens separately, per request and per success', () => {
    const g = by('gpt-4.1'); // 10k in × $2/M + 20k out × $8/M = 0.02 + 0.16
    expect(g.costUsd).toBeCloseTo(0.18, 12);
    expect(g.totalTokens).toBe(30_000);
    expect(g.costPerRequestUsd).toBeCloseTo(0.18 / 104, 12);
    expect(g.costPerSuccessUsd).toBeCloseTo(0.18 / 100, 12);
    expect(by('mystery-model')).toMatchObject({ priced: false, costUsd: 0 });
  });

  it('sorts by cost per request, unpriced models last', () => {
    const order = r.models.map((m) => m.model);
    expect(order).toEqual(['deepseek-v3.2', 'claude-sonnet-4.5', 'gpt-4.1', 'mystery-model']);
    const cpr = r.models.filter((m) => m.priced).map((m) => m.costPerRequestUsd!);
    expect(cpr).toEqual([...cpr].sort((a, b) => a - b));
  });

  it('builds histograms on shared bounds whose counts add up to the successes', () => {
    for (const m of r.models) {
      expect(m.histogram.counts.reduce((a, b) => a + b, 0)).toBe(m.successes);
      expect(m.histogram.boundsMs).toEqual(r.models[0].histogram.boundsMs);
    }
    expect(histogram([1, 2, 3, 10], [2, 4])).toEqual({ boundsMs: [2, 4], counts: [2, 1, 1] });
    expect(histogramBounds([[]])).toEqual([]);
  });

  it('reports null metrics for a model without requests', () => {
    const acc = new ExperimentAccumulator(['gpt-4.1']);
    const e = acc.report({ status: 'cancelled', rounds: 0, prompts: [], settings, startedAt: '', catalog: DEFAULT_CATALOG }).models[0];
    expect(e).toMatchObject({ requests: 0, successRate: null, p99LatencyMs: null, costPerRequestUsd: null });
    expect(JSON.parse(JSON.stringify(e)).p99LatencyMs).toBeNull();
  });
});

describe('report rendering', () => {
  const r = sampleReport();
  it('prints a table in the report order (cost per request)', () => {
    const lines = renderTable(r).split('\n');
    expect(lines[0]).toMatch(/^model\s+requests\s+success\s+avg ms\s+p50 ms\s+p99 ms\s+tokens\s+cost\s+\$\/request\s+\$\/success$/);
    expect(lines.slice(2).map((l) => l.split(/\s+/)[0])).toEqual(['deepseek-v3.2', 'claude-sonnet-4.5', 'gpt-4.1', 'mystery-model']);
    expect(lines[4]).toContain('96.2%');
    expect(lines[5]).toContain('(unpriced)');
  });

  it('formats small dollar amounts readably', () => {
    expect(fmtUsd(0.00173)).toBe('$0.00173');
    expect(fmtUsd(1.5)).toBe('$1.50');
    expect(fmtUsd(0)).toBe('$0');
    expect(fmtUsd(null)).toBe('–'); // src/format.ts: a missing value reads as an en dash
  });

  it('renders Markdown for the Web UI', () => {
    const md = renderMarkdown({ status: 'running', round: 2, roundsPlanned: 5, batchesInFlight: 3, report: r });
    expect(md).toContain('round 2 of 5');
    expect(md.split('\n').filter((l) => l.startsWith('|'))).toHaveLength(2 + r.models.length);
  });

  it('renders self-contained HTML with one chart per model plus cost and success charts', () => {
    const html = renderHtml(r);
    expect(html.match(/<svg class="chart"/g)).toHaveLength(r.models.length + 2);
    expect(html.match(/data-chart="latency"/g)).toHaveLength(r.models.length);
    expect(html).not.toMatch(/<script|<link|src=|@import|https?:\/\/(?!www\.w3\.org)/i);
  });

  it('escapes model names and errors', () => {
    const acc = new ExperimentAccumulator(['<img onerror=x>']);
    acc.add(batch('<img onerror=x>', { requests: 1, errors: { server: 1 }, lastError: '<b>x</b>' }));
    const html = renderHtml(acc.report({ status: 'completed', rounds: 1, prompts: ['<p>'], settings, startedAt: '', catalog: DEFAULT_CATALOG }));
    expect(html).not.toContain('<img onerror');
    expect(html).not.toContain('<b>x</b>');
  });
});

describe('experiment input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ab-input-'));
  const errorOf = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('expected an error');
  };

  it('defaults to the four seed models, the seed test cases and 30 minutes of 5 s rounds', () => {
    const { input } = buildExperimentInput({});
    expect(input.models.map((m) => m.model)).toEqual(SEED_MODELS);
    expect(input.prompts).toEqual(DEFAULT_TEST_CASES);
    expect(input.settings).toMatchObject({ durationMs: 1_800_000, intervalMs: 5000, temperature: 0.7, maxTokens: 1000, timeoutMs: 30_000, attempts: 1 });
    expect(Object.keys(input.catalog.models)).toEqual(SEED_MODELS);
  });

  it('applies catalog overrides to the workflow input', () => {
    const p = join(dir, 'catalog.yaml');
    writeFileSync(p, 'models:\n  gpt-4.1:\n    outputPerM: 9\n');
    const { input } = buildExperimentInput({ models: 'gpt-4.1', rounds: '3', catalog: p });
    expect(input.catalog.models['gpt-4.1'].outputPerM).toBe(9);
    expect(input.settings.rounds).toBe(3);
    expect(input.settings.durationMs).toBeUndefined();
  });

  it.each<[Record<string, string>, string]>([
    [{ rounds: '0' }, '--rounds: expected a whole number >= 1, got "0"'],
    [{ rounds: '2', duration: '1m' }, '--rounds: give either --rounds or --duration, not both'],
    [{ duration: 'soon' }, '--duration: expected a duration such as 500ms, 5s, 10m or 1h, got "soon"'],
    [{ models: 'a,a' }, '--models: a is listed twice'],
    [{ models: ' , ' }, '--models: expected a comma-separated list of model names'],
    [{ concurrency: '1.5' }, '--concurrency: expected a whole number >= 1, got "1.5"'],
    [{ temperature: 'hot' }, '--temperature: expected a number between 0 and 2, got "hot"'],
    [{ rounds: String(MAX_BATCHES) }, `--rounds: ${MAX_BATCHES * 4} batches (rounds × models) exceed ${MAX_BATCHES} for one workflow history; use fewer rounds, a longer interval or a shorter duration`],
    [{ duration: '1m', interval: '0s' }, '--interval: must be > 0 with --duration'],
    [{ models: 'gpt-4.1', rounds: '2001' }, '--rounds: 2001 rounds exceed 2000 for one workflow history; use fewer rounds, a longer interval or a shorter duration'],
    [{ models: 'gpt-4.1', duration: '3h' }, '--duration: 2160 rounds exceed 2000 for one workflow history; use fewer rounds, a longer interval or a shorter duration'],
  ])('refuses %j with one line naming the flag', (flags, expected) => {
    expect(errorOf(() => buildExperimentInput(flags))).toBe(expected);
  });

  it('names the prompts file field', () => {
    const p = join(dir, 'prompts.yaml');
    writeFileSync(p, '- prompt: hi\n- messages: [{ role: robot, content: x }]\n');
    expect(errorOf(() => buildExperimentInput({ prompts: p }))).toMatch(/^--prompts: .*prompts\.yaml: 1\.messages\.0\.role: expected role 'system', 'user' or 'assistant'$/);
    expect(errorOf(() => buildExperimentInput({ prompts: join(dir, 'none.yaml') }))).toMatch(/^--prompts: .*none\.yaml: cannot read prompts file \(ENOENT\)$/);
  });

  it('parses the prompt file shapes', () => {
    expect(parsePrompts([{ name: 'q', prompt: 'hi', system: 'be brief' }, [{ role: 'user', content: 'x' }], { messages: [{ role: 'user', content: 'y' }] }])).toEqual([
      { name: 'q', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }] },
      { name: 'prompt-2', messages: [{ role: 'user', content: 'x' }] },
      { name: 'prompt-3', messages: [{ role: 'user', content: 'y' }] },
    ]);
    expect(parsePrompts({ prompts: [{ prompt: 'z' }] })).toHaveLength(1);
  });

  it('checks workflow input independently of the CLI', () => {
    const base: ExperimentInput = { models: [{ model: 'a' }], prompts: DEFAULT_TEST_CASES, settings: { ...settings }, catalog: DEFAULT_CATALOG };
    expect(checkExperimentInput(base)).toBeUndefined();
    expect(checkExperimentInput({ ...base, models: [] })).toBe('models: expected at least one model');
    expect(checkExperimentInput({ ...base, settings: { ...settings, durationMs: 1000 } })).toBe('settings.rounds: give exactly one of rounds or durationMs');
  });
});
