import { describe, expect, it } from 'vitest';
import { ExperimentAccumulator } from '../../src/experiment/aggregate';
import { renderMarkdown } from '../../src/experiment/web-ui';
import { DEFAULT_CATALOG } from '../../src/catalog/prices';
import { batch, sampleReport, settings } from './fixtures';

describe('Web UI current details', () => {
  const r = sampleReport();

  it('renders Markdown for the Web UI', () => {
    const md = renderMarkdown({ status: 'running', round: 2, roundsPlanned: 5, batchesInFlight: 3, report: r });
    expect(md).toContain('round 2 of 5');
    expect(md.split('\n').filter((l) => l.startsWith('|'))).toHaveLength(2 + r.models.length);
  });

  it('heads the table with the status, round and batches in flight; no "of" without planned rounds', () => {
    const md = renderMarkdown({ status: 'stopping', round: 7, roundsPlanned: null, batchesInFlight: 4, report: r });
    expect(md.split('\n')[0]).toBe('**Experiment stopping** — round 7, 2 prompt(s) × 4 model(s), 4 batch(es) in flight');
  });

  it('escapes table separators and newlines in cells', () => {
    const acc = new ExperimentAccumulator(['a|b\nc']);
    acc.add(batch('a|b\nc', { requests: 1, latenciesMs: [1] }));
    const md = renderMarkdown({
      status: 'running',
      round: 1,
      roundsPlanned: 1,
      batchesInFlight: 0,
      report: acc.report({ status: 'running', rounds: 1, prompts: ['p'], settings, startedAt: '', catalog: DEFAULT_CATALOG }),
    });
    expect(md).toContain('| a\\|b c (unpriced) |');
  });
});
