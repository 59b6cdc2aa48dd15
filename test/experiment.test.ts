// End to end on a real Temporal dev server, the project's worker (src/workflows.ts bundle + activities)
// and the simulated gateway: the experiment measures what the simulator was configured to produce.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CATALOG, pickModels } from '../src/catalog/prices';
import { loadConfig } from '../src/config';
import { runAb, SEED_MODELS } from '../src/experiment/command';
import { DEFAULT_SETTINGS } from '../src/experiment/plan';
import { DEFAULT_TEST_CASES } from '../src/experiment/prompts';
import { renderTable, tableRow } from '../src/experiment/render';
import type { BatchResult, ExperimentInput, ExperimentReport, TestCase } from '../src/experiment/contract';
import { startSimulator, type Simulator } from '../src/sim/index';
import { percentile } from '../src/stats/percentile';
import type { experimentWorkflow } from '../src/experiment/workflow';
import { progressQuery, stopSignal } from '../src/experiment/contract';
import { connectTestTemporal, startTestWorker, uniqueTaskQueue, type TestTemporal } from './helpers/temporal';

// Per model: error rate, latency (fixed or lognormal {p50, p99}), fixed completion length.
const PROFILES = {
  'deepseek-v3.2': { errorRate: 0.02, latencyMs: 30, completionTokens: 100 },
  'gemini-2.5-flash': { errorRate: 0.1, latencyMs: 15, completionTokens: 200 },
  'gpt-4.1': { errorRate: 0, latencyMs: { p50: 60, p99: 150 }, completionTokens: 300 },
  'claude-sonnet-4.5': { errorRate: 0.25, latencyMs: { p50: 80, p99: 200 }, completionTokens: 400 },
} as const;
// A zero-latency, never-failing model in the same experiment: its latencies are pure local overhead
// (HTTP, event loop, CPU contention on 2 shared cores), measured under the same load as the others.
const CONTROL = 'control-zero-latency';

const PROMPTS: TestCase[] = Array.from({ length: 10 }, (_, i) => ({
  name: `q${i}`,
  messages: [{ role: 'user' as const, content: `What is ${i} + ${i}?` }],
}));

let t: TestTemporal;
let sim: Simulator;
let taskQueue: string;
let worker: { stop(): Promise<void> };
let client: Client;

beforeAll(async () => {
  sim = await startSimulator({
    port: 0,
    seed: 11,
    models: { ...PROFILES, [CONTROL]: { errorRate: 0, latencyMs: 0, completionTokens: 10 } } as never,
    latencyScale: 1,
  });
  // The worker reads the gateway from its environment (keys never travel in workflow input).
  process.env.GATEWAY_BASE_URL = sim.url;
  process.env.GATEWAY_API_KEY = sim.apiKey;
  t = await connectTestTemporal();
  client = t.client;
  taskQueue = uniqueTaskQueue('experiment');
  worker = await startTestWorker(t, taskQueue);
});

afterAll(async () => {
  await worker?.stop();
  await t?.close();
  await sim?.close();
});

const input = (over: Partial<ExperimentInput['settings']>, models = SEED_MODELS, prompts = PROMPTS): ExperimentInput => ({
  models: models.map((model) => ({ model })),
  prompts,
  settings: { ...DEFAULT_SETTINGS, durationMs: undefined, intervalMs: 0, concurrency: 10, timeoutMs: 10_000, ...over },
  catalog: pickModels(DEFAULT_CATALOG, models),
});

async function batchResults(workflowId: string): Promise<BatchResult[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const out: BatchResult[] = [];
  for (const e of history.events ?? []) {
    const p = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0]?.data;
    if (p) out.push(JSON.parse(Buffer.from(p).toString('utf8')) as BatchResult);
  }
  return out;
}

describe('experiment workflow on the simulator', () => {
  it('measures the configured error rates, latencies and tokens per model; p99 is exact on the reported data', async () => {
    sim.reset();
    const rounds = 20;
    const workflowId = `exp-sim-${Date.now()}`;
    const report = await client.workflow.execute<typeof experimentWorkflow>('experimentWorkflow', {
      taskQueue,
      workflowId,
      args: [input({ rounds }, [...SEED_MODELS, CONTROL])],
      workflowExecutionTimeout: '2m',
    });
    const control = report.models.find((m) => m.model === CONTROL)!;
    expect(control).toMatchObject({ priced: false, costUsd: 0, successRate: 1 });
    expect(report.models.at(-1)!.model).toBe(CONTROL); // unpriced sorts last
    const overheadP50 = control.p50LatencyMs!;
    const overheadP99 = control.p99LatencyMs!;
    expect(report.status).toBe('completed');
    expect(report.rounds).toBe(rounds);
    const stats = sim.stats();
    const batches = await batchResults(workflowId);
    expect(batches).toHaveLength(rounds * (SEED_MODELS.length + 1)); // one activity per (round, model)

    for (const m of report.models.filter((x) => x.model !== CONTROL)) {
      const prof = PROFILES[m.model as keyof typeof PROFILES];
      const n = rounds * PROMPTS.length;
      // Counts agree exactly with what the simulator served.
      expect(m.requests).toBe(n);
      expect(stats[m.model].requests).toBe(n);
      expect(m.successes).toBe(stats[m.model].ok);
      expect(m.errors.server ?? 0).toBe(stats[m.model].serverError);
      // Error rate within sampling error (4 standard deviations of a binomial proportion, min 2 points).
      const sd = Math.sqrt((prof.errorRate * (1 - prof.errorRate)) / n);
      expect(Math.abs(1 - m.successRate! - prof.errorRate)).toBeLessThanOrEqual(Math.max(0.02, 4 * sd));
      // Fixed completion length → output tokens exact.
      expect(m.outputTokens).toBe(m.successes * prof.completionTokens);
      // Latency = the simulator's delay + local overhead. Lower bounds are tight (a response cannot beat
      // the simulated delay); upper bounds add the overhead measured by the control model.
      if (typeof prof.latencyMs === 'number') {
        expect(m.p50LatencyMs!).toBeGreaterThanOrEqual(prof.latencyMs);
        expect(m.p50LatencyMs!).toBeLessThan(prof.latencyMs + overheadP99 + 20);
      } else {
        expect(m.p50LatencyMs!).toBeGreaterThan(prof.latencyMs.p50 * 0.75);
        expect(m.p50LatencyMs!).toBeLessThan(prof.latencyMs.p50 * 1.3 + overheadP50 + 20);
        expect(m.p99LatencyMs!).toBeGreaterThan(prof.latencyMs.p99 * 0.6);
        expect(m.p99LatencyMs!).toBeLessThan(prof.latencyMs.p99 * 1.6 + overheadP99 + 50);
      }
      // The report's percentiles are exact nearest-rank on the latencies the activities reported.
      const lat = batches.filter((b) => b.model === m.model).flatMap((b) => b.latenciesMs);
      expect(lat).toHaveLength(m.successes);
      expect(m.p99LatencyMs).toBe(percentile(lat, 0.99));
      expect(m.p50LatencyMs).toBe(percentile(lat, 0.5));
      // Cost from the catalog: input and output priced separately.
      const e = DEFAULT_CATALOG.models[m.model];
      expect(m.costUsd).toBeCloseTo((m.inputTokens * e.inputPerM + m.outputTokens * e.outputPerM) / 1e6, 12);
      expect(m.costPerRequestUsd).toBeCloseTo(m.costUsd / m.requests, 15);
    }
    const cpr = report.models.filter((m) => m.priced).map((m) => m.costPerRequestUsd!);
    expect(cpr).toEqual([...cpr].sort((a, b) => a - b));
    // History holds metrics only: no model output.
    const historyText = JSON.stringify(batches);
    expect(historyText).not.toMatch(/content|choices|simulated response/i);
  });

  it('answers the progress query and stops on the stop signal with what it measured', async () => {
    const handle = await client.workflow.start<typeof experimentWorkflow>('experimentWorkflow', {
      taskQueue,
      workflowId: `exp-stop-${Date.now()}`,
      args: [input({ rounds: 1000, intervalMs: 200 }, ['deepseek-v3.2', 'gpt-4.1'], DEFAULT_TEST_CASES)],
    });
    let p = await handle.query(progressQuery);
    for (let i = 0; i < 100 && p.report.rounds < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      p = await handle.query(progressQuery);
    }
    expect(p.report.rounds).toBeGreaterThanOrEqual(2);
    expect(p.roundsPlanned).toBe(1000);
    // The Web UI's current details: a Markdown table with one row per model.
    const meta = (await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string };
    expect(meta.currentDetails).toMatch(/^\*\*Experiment (running|stopping)\*\* — round \d+ of 1000/);
    expect(meta.currentDetails).toContain('| deepseek-v3.2 |');
    expect(meta.currentDetails).toContain('| gpt-4.1 |');
    await handle.signal(stopSignal, { reason: 'test' });
    const report = await handle.result();
    expect(report.status).toBe('stopped');
    expect(report.rounds).toBeGreaterThanOrEqual(2);
    expect(report.rounds).toBeLessThan(1000);
    for (const m of report.models) expect(m.requests).toBe(report.rounds * DEFAULT_TEST_CASES.length);
    const desc = await handle.describe();
    expect(desc.status.name).toBe('COMPLETED');
  });

  it('can be cancelled and still returns the report of finished batches', async () => {
    const handle = await client.workflow.start<typeof experimentWorkflow>('experimentWorkflow', {
      taskQueue,
      workflowId: `exp-cancel-${Date.now()}`,
      args: [input({ durationMs: 10 * 60_000, intervalMs: 300 }, ['gemini-2.5-flash'], DEFAULT_TEST_CASES)],
    });
    let p = await handle.query(progressQuery);
    for (let i = 0; i < 100 && p.report.rounds < 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      p = await handle.query(progressQuery);
    }
    expect(p.roundsPlanned).toBeNull();
    await handle.cancel();
    const report = await handle.result();
    expect(report.status).toBe('cancelled');
    expect(report.rounds).toBeGreaterThanOrEqual(1);
    expect(report.models[0].requests).toBeGreaterThanOrEqual(DEFAULT_TEST_CASES.length);
  });

  it('runs for a duration: rounds every interval until the deadline', async () => {
    const report = await client.workflow.execute<typeof experimentWorkflow>('experimentWorkflow', {
      taskQueue,
      workflowId: `exp-duration-${Date.now()}`,
      args: [input({ durationMs: 2000, intervalMs: 500 }, ['gemini-2.5-flash'], DEFAULT_TEST_CASES)],
    });
    expect(report.status).toBe('completed');
    expect(report.rounds).toBeGreaterThanOrEqual(2);
    expect(report.rounds).toBeLessThanOrEqual(4); // ceil(2000 / 500)
  });
});

describe('ab command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ab-cli-'));
  const run = async (args: Record<string, string | boolean>) => {
    let out = '';
    let err = '';
    const code = await runAb(args, {
      stdout: (s) => void (out += s),
      stderr: (s) => void (err += s),
      config: () => loadConfig({ TEMPORAL_ADDRESS: t.address, TASK_QUEUE: taskQueue }),
      client,
      handleSigint: false,
    });
    return { code, out, err };
  };

  it('prints a table sorted by cost per request that matches the workflow result, and writes the HTML report', async () => {
    const id = `ab-cli-${Date.now()}`;
    const html = join(dir, 'report.html');
    const r = await run({ models: SEED_MODELS.join(','), rounds: '3', interval: '0s', id, html, progress: false });
    expect(r.err).not.toMatch(/modelshift ab: (?!ab-cli|HTML)/);
    expect(r.code).toBe(0);
    const result = await client.workflow.getHandle(id).result() as ExperimentReport;
    const table = r.out.split('\n\n')[0];
    expect(table).toBe(renderTable(result));
    const rows = table.split('\n').slice(2);
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(result.models.map((m) => m.model));
    result.models.forEach((m, i) => expect(rows[i].split(/\s{2,}/)).toEqual(tableRow(m)));
    const cpr = result.models.map((m) => m.costPerRequestUsd!);
    expect(cpr).toEqual([...cpr].sort((a, b) => a - b));
    const page = readFileSync(html, 'utf8');
    expect(page.match(/<svg class="chart"/g)).toHaveLength(SEED_MODELS.length + 2);
  });

  it('--json prints only parseable report JSON, with catalog overrides applied', async () => {
    const catalog = join(dir, 'catalog.yaml');
    writeFileSync(catalog, 'models:\n  gpt-4.1:\n    inputPerM: 0\n    outputPerM: 1000\n');
    const r = await run({ models: 'gpt-4.1,deepseek-v3.2', rounds: '2', interval: '0s', json: true, catalog, progress: false });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as ExperimentReport;
    expect(report.models.map((m) => m.model)).toEqual(['deepseek-v3.2', 'gpt-4.1']);
    const g = report.models.find((m) => m.model === 'gpt-4.1')!;
    expect(g.costUsd).toBeCloseTo((g.outputTokens * 1000) / 1e6, 12);
  });

  it('exits 2 with one line naming the flag or catalog entry on bad input, before contacting Temporal', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'models:\n  gpt-4.1:\n    outputPerM: -3\n');
    for (const [args, msg] of [
      [{ rounds: 'x' }, '--rounds: expected a whole number >= 1, got "x"'],
      [{ rounds: '1', catalog: bad }, `${bad}: models.gpt-4.1.outputPerM: expected a non-negative number`],
      [{ prompts: join(dir, 'missing.json') }, `--prompts: ${join(dir, 'missing.json')}: cannot read prompts file (ENOENT)`],
    ] as const) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.err).toBe(`modelshift ab: ${msg}\n`);
      expect(r.out).toBe('');
    }
  });

  it('exits 1 when Temporal is unreachable', async () => {
    let err = '';
    const code = await runAb({ rounds: '1' }, {
      stdout: () => undefined,
      stderr: (s) => void (err += s),
      config: () => loadConfig({ TEMPORAL_ADDRESS: '127.0.0.1:1', TASK_QUEUE: taskQueue }),
      handleSigint: false,
    });
    expect(code).toBe(1);
    expect(err).toMatch(/^modelshift ab: Temporal is not reachable at 127\.0\.0\.1:1/);
    expect(err.trim().split('\n')).toHaveLength(1);
  });
});
