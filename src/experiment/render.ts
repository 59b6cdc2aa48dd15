/**
 * Text renderings of an experiment report: the CLI table, the notes under it and the CLI's progress
 * lines. Numbers read through src/format.ts, as everywhere else. Pure: also used from workflow code
 * (./web-ui builds the Web UI's Markdown from the same rows).
 */
import { fmtMsValue, fmtPercent, fmtUsd } from '../format';
import type { ExperimentInput, ExperimentProgress, ExperimentReport, ModelReport } from './contract';
import { plannedRounds } from './plan';

export const TABLE_HEADER = ['model', 'requests', 'success', 'avg ms', 'p50 ms', 'p99 ms', 'tokens', 'cost', '$/request', '$/success'];

export function tableRow(m: ModelReport): string[] {
  return [
    m.priced ? m.model : `${m.model} (unpriced)`,
    String(m.requests),
    fmtPercent(m.successRate, 1),
    fmtMsValue(m.avgLatencyMs),
    fmtMsValue(m.p50LatencyMs),
    fmtMsValue(m.p99LatencyMs),
    String(m.totalTokens),
    fmtUsd(m.costUsd),
    fmtUsd(m.costPerRequestUsd),
    fmtUsd(m.costPerSuccessUsd),
  ];
}

/** Plain-text table, rows in the report's order (cheapest cost per request first). */
export function renderTable(report: ExperimentReport): string {
  const rows = [TABLE_HEADER, ...report.models.map(tableRow)];
  const widths = TABLE_HEADER.map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  const out = [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  return out.join('\n');
}

/** Summary lines under the table: status, errors, failed batches, unpriced models. */
export function renderNotes(report: ExperimentReport): string[] {
  const notes: string[] = [];
  const s = report.settings;
  const plan = s.rounds !== undefined ? `${s.rounds} planned` : `duration ${Math.round((s.durationMs ?? 0) / 1000)}s`;
  notes.push(
    `${report.status}: ${report.rounds} round(s) (${plan}, every ${s.intervalMs / 1000}s) × ${report.prompts.length} prompt(s); latency over successful requests, p50/p99 nearest-rank; sorted by cost per request`,
  );
  for (const m of report.models) {
    const errs = Object.entries(m.errors)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    if (errs) notes.push(`${m.model}: failures ${errs}${m.lastError ? ` (last: ${m.lastError})` : ''}`);
    if (m.failedBatches)
      notes.push(`${m.model}: ${m.failedBatches} batch(es) failed as a whole and are not counted${m.lastError ? `: ${m.lastError}` : ''}`);
    if (!m.priced) notes.push(`${m.model}: not in the price catalog; cost shown as $0 (add it with --catalog)`);
  }
  return notes;
}

/** The CLI's line when an experiment starts: what it runs, and how Ctrl-C ends it. */
export function startLine(workflowId: string, input: ExperimentInput): string {
  const s = input.settings;
  const rounds =
    s.rounds !== undefined ? `${s.rounds} round(s)` : `up to ${plannedRounds(s)} round(s) over ${Math.round((s.durationMs ?? 0) / 1000)}s`;
  return `${workflowId}: ${input.models.length} model(s) × ${input.prompts.length} prompt(s), ${rounds}; Ctrl-C stops after the current round, twice cancels`;
}

/** The CLI's progress line after a round. */
export function progressLine(p: ExperimentProgress): string {
  const done = p.report.models.reduce((n, m) => n + m.requests, 0);
  return `round ${p.report.rounds}${p.roundsPlanned ? `/${p.roundsPlanned}` : ''} done, ${done} request(s)`;
}

/** Models whose every batch failed (nothing measured), as one line; undefined when there are none. */
export function deadModelsLine(report: ExperimentReport): string | undefined {
  const dead = report.models.filter((m) => m.requests === 0 && m.failedBatches > 0);
  if (!dead.length) return undefined;
  return `every batch failed for ${dead.map((m) => m.model).join(', ')}: ${dead[0].lastError ?? 'see the workflow history'}`;
}
