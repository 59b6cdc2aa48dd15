import { describe, expect, it } from 'vitest';
import { ExperimentAccumulator } from '../../src/experiment/aggregate';
import { DEFAULT_TEST_CASES } from '../../src/experiment/prompts';
import { deadModelsLine, progressLine, renderNotes, renderTable, startLine, tableRow } from '../../src/experiment/render';
import { fmtUsd } from '../../src/format';
import { DEFAULT_CATALOG } from '../../src/catalog/prices';
import { batch, input, sampleReport, settings } from './fixtures';

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
    expect(fmtUsd(null)).toBe('–'); // src/format.ts: a missing value reads as an en dash (the old local fmtUsd printed '-')
  });

  it('shows a model without requests with dashes, through src/format.ts', () => {
    const acc = new ExperimentAccumulator(['gpt-4.1']);
    const m = acc.report({ status: 'cancelled', rounds: 0, prompts: [], settings, startedAt: '', catalog: DEFAULT_CATALOG }).models[0];
    expect(tableRow(m)).toEqual(['gpt-4.1', '0', '–', '–', '–', '–', '0', '$0', '–', '–']);
  });

  it('formats success rates with one decimal and latencies whole from 100 ms, one decimal below', () => {
    const acc = new ExperimentAccumulator(['gpt-4.1']);
    acc.add(batch('gpt-4.1', { requests: 3, latenciesMs: [12.34, 250.6], errors: { server: 1 } }));
    const m = acc.report({ status: 'completed', rounds: 1, prompts: ['a'], settings, startedAt: '', catalog: DEFAULT_CATALOG }).models[0];
    expect(tableRow(m).slice(2, 6)).toEqual(['66.7%', '132', '12.3', '251']);
  });

  it('notes the status, failures, failed batches and unpriced models under the table', () => {
    const notes = renderNotes(r);
    expect(notes[0]).toMatch(/^completed: 2 round\(s\) \(2 planned, every 5s\) × 2 prompt\(s\)/);
    expect(notes).toContain('claude-sonnet-4.5: 1 batch(es) failed as a whole and are not counted: activity timed out');
    expect(notes).toContain('mystery-model: not in the price catalog; cost shown as $0 (add it with --catalog)');
  });
});

describe('CLI lines', () => {
  it('says what an experiment runs when it starts', () => {
    const fixed = input({ rounds: 3 }, ['a', 'b'], DEFAULT_TEST_CASES);
    expect(startLine('experiment-x', fixed)).toBe(
      'experiment-x: 2 model(s) × 2 prompt(s), 3 round(s); Ctrl-C stops after the current round, twice cancels',
    );
    const timed = input({ durationMs: 60_000, intervalMs: 5000 }, ['a'], DEFAULT_TEST_CASES);
    expect(startLine('experiment-y', timed)).toBe(
      'experiment-y: 1 model(s) × 2 prompt(s), up to 12 round(s) over 60s; Ctrl-C stops after the current round, twice cancels',
    );
  });

  it('counts finished rounds and requests in the progress line', () => {
    const r = sampleReport();
    expect(progressLine({ status: 'running', round: 3, roundsPlanned: 5, batchesInFlight: 4, report: r })).toBe(
      'round 2/5 done, 123 request(s)',
    );
    expect(progressLine({ status: 'running', round: 3, roundsPlanned: null, batchesInFlight: 4, report: r })).toBe(
      'round 2 done, 123 request(s)',
    );
  });

  it('names models with nothing measured because every batch failed', () => {
    const acc = new ExperimentAccumulator(['a', 'b']);
    acc.add(batch('a', { requests: 1, latenciesMs: [1] }));
    acc.addFailedBatch('b', 'GatewayConfig: no key');
    const report = acc.report({ status: 'completed', rounds: 1, prompts: ['p'], settings, startedAt: '', catalog: DEFAULT_CATALOG });
    expect(deadModelsLine(report)).toBe('every batch failed for b: GatewayConfig: no key');
    expect(deadModelsLine(sampleReport())).toBeUndefined();
  });
});
