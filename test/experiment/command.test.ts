// `modelshift ab`: flags → workflow input (pure), and the command end to end against the real dev server,
// the project's worker and the simulated gateway.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { ExperimentClient } from '../../src/experiment/client';
import { buildExperimentInput, runAb, SEED_MODELS } from '../../src/experiment/command';
import type { ExperimentReport } from '../../src/experiment/contract';
import { MAX_BATCHES } from '../../src/experiment/plan';
import { DEFAULT_TEST_CASES } from '../../src/experiment/prompts';
import { renderTable, tableRow } from '../../src/experiment/render';
import { useHarness } from '../helpers/harness';
import { SIM_OPTIONS } from './fixtures';

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
    expect(input.settings).toMatchObject({
      durationMs: 1_800_000,
      intervalMs: 5000,
      temperature: 0.7,
      maxTokens: 1000,
      timeoutMs: 30_000,
      attempts: 1,
    });
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

  it('reads every flag, and warns about models without a price', () => {
    const { input, warnings } = buildExperimentInput({
      models: 'gpt-4.1, mystery',
      duration: '10m',
      interval: '2s',
      concurrency: '8',
      rpm: '120',
      temperature: '0',
      maxTokens: '64',
      timeout: '5s',
      attempts: '3',
    });
    expect(input.models).toEqual([{ model: 'gpt-4.1' }, { model: 'mystery' }]);
    expect(input.settings).toEqual({
      durationMs: 600_000,
      intervalMs: 2000,
      concurrency: 8,
      rpm: 120,
      temperature: 0,
      maxTokens: 64,
      timeoutMs: 5000,
      attempts: 3,
    });
    expect(warnings).toEqual(['mystery is not in the price catalog: its cost will show as unpriced (add it with --catalog)']);
  });

  it.each<[Record<string, string>, string]>([
    [{ rounds: '0' }, '--rounds: expected a whole number >= 1, got "0"'],
    [{ rounds: '2', duration: '1m' }, '--rounds: give either --rounds or --duration, not both'],
    [{ duration: 'soon' }, '--duration: expected a duration such as 500ms, 5s, 10m or 1h, got "soon"'],
    [{ models: 'a,a' }, '--models: a is listed twice'],
    [{ models: ' , ' }, '--models: expected a comma-separated list of model names'],
    [{ concurrency: '1.5' }, '--concurrency: expected a whole number >= 1, got "1.5"'],
    [{ temperature: 'hot' }, '--temperature: expected a number between 0 and 2, got "hot"'],
    [
      { rounds: String(MAX_BATCHES) },
      `--rounds: ${MAX_BATCHES * 4} batches (rounds × models) exceed ${MAX_BATCHES} for one workflow history; use fewer rounds, a longer interval or a shorter duration`,
    ],
    [{ duration: '1m', interval: '0s' }, '--interval: must be > 0 with --duration'],
    [
      { models: 'gpt-4.1', rounds: '2001' },
      '--rounds: 2001 rounds exceed 2000 for one workflow history; use fewer rounds, a longer interval or a shorter duration',
    ],
    [
      { models: 'gpt-4.1', duration: '3h' },
      '--duration: 2160 rounds exceed 2000 for one workflow history; use fewer rounds, a longer interval or a shorter duration',
    ],
    [{ attempts: '11' }, '--attempts: expected at most 10'],
  ])('refuses %j with one line naming the flag', (flags, expected) => {
    expect(errorOf(() => buildExperimentInput(flags))).toBe(expected);
  });

  it('names the prompts file field', () => {
    const p = join(dir, 'prompts.yaml');
    writeFileSync(p, '- prompt: hi\n- messages: [{ role: robot, content: x }]\n');
    expect(errorOf(() => buildExperimentInput({ prompts: p }))).toMatch(
      /^--prompts: .*prompts\.yaml: 1\.messages\.0\.role: expected role 'system', 'user' or 'assistant'$/,
    );
    expect(errorOf(() => buildExperimentInput({ prompts: join(dir, 'none.yaml') }))).toMatch(
      /^--prompts: .*none\.yaml: cannot read prompts file \(ENOENT\)$/,
    );
  });
});

describe('ab command', () => {
  const h = useHarness({ sim: SIM_OPTIONS, queue: 'ab-cli' });
  const dir = mkdtempSync(join(tmpdir(), 'ab-cli-'));
  const experiments = () => new ExperimentClient(h.t.client, h.taskQueue);
  const run = async (args: Record<string, string | boolean>) => {
    let out = '';
    let err = '';
    const code = await runAb(args, {
      stdout: (s) => void (out += s),
      stderr: (s) => void (err += s),
      config: () => loadConfig({ TEMPORAL_ADDRESS: h.t.address, TASK_QUEUE: h.taskQueue }),
      client: h.t.client,
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
    const result = (await experiments().result(id)) as ExperimentReport;
    const table = r.out.split('\n\n')[0];
    expect(table).toBe(renderTable(result));
    const rows = table.split('\n').slice(2);
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(result.models.map((m) => m.model));
    result.models.forEach((m, i) => expect(rows[i].split(/\s{2,}/)).toEqual(tableRow(m)));
    const cpr = result.models.map((m) => m.costPerRequestUsd!);
    expect(cpr).toEqual([...cpr].sort((a, b) => a - b));
    const page = readFileSync(html, 'utf8');
    expect(page.match(/<svg class="chart"/g)).toHaveLength(SEED_MODELS.length + 2);
    expect(r.err).toContain(
      `modelshift ab: ${id}: 4 model(s) × 2 prompt(s), 3 round(s); Ctrl-C stops after the current round, twice cancels\n`,
    );
    expect(r.err).toContain(`modelshift ab: HTML report written to ${html}\n`);
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

  it('starts the experiment under a new id experiment-<time>-<random> without --id', async () => {
    const r = await run({ models: 'gemini-2.5-flash', rounds: '1', interval: '0s', json: true, progress: false });
    expect(r.code).toBe(0);
    const id = /^modelshift ab: (experiment-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z-[0-9a-f]{6}): /.exec(r.err)?.[1];
    expect(id).toBeDefined();
    expect((await experiments().result(id!)).rounds).toBe(1);
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
    const code = await runAb(
      { rounds: '1' },
      {
        stdout: () => undefined,
        stderr: (s) => void (err += s),
        config: () => loadConfig({ TEMPORAL_ADDRESS: '127.0.0.1:1', TASK_QUEUE: h.taskQueue }),
        handleSigint: false,
      },
    );
    expect(code).toBe(1);
    expect(err).toMatch(/^modelshift ab: Temporal is not reachable at 127\.0\.0\.1:1/);
    expect(err.trim().split('\n')).toHaveLength(1);
  });
});
