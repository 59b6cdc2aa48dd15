/**
 * Text renderings of an experiment report: the CLI table and the Markdown shown in the Temporal
 * Web UI (workflow "current details"). Pure: also used from workflow code.
 */
import type { ExperimentProgress, ExperimentReport, ModelReport } from './contract';

export function fmtUsd(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '-';
  if (x === 0) return '$0';
  const digits = Math.min(12, Math.max(2, 3 - Math.ceil(Math.log10(Math.abs(x)))));
  return `$${x.toFixed(digits)}`;
}

export function fmtMs(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '-';
  return x >= 100 ? String(Math.round(x)) : String(Math.round(x * 10) / 10);
}

export function fmtPct(x: number | null): string {
  return x === null || !Number.isFinite(x) ? '-' : `${(Math.round(x * 1000) / 10).toFixed(1)}%`;
}

export const TABLE_HEADER = ['model', 'requests', 'success', 'avg ms', 'p50 ms', 'p99 ms', 'tokens', 'cost', '$/request', '$/success'];

export function tableRow(m: ModelReport): string[] {
  return [
    m.priced ? m.model : `${m.model} (unpriced)`,
    String(m.requests),
    fmtPct(m.successRate),
    fmtMs(m.avgLatencyMs),
    fmtMs(m.p50LatencyMs),
    fmtMs(m.p99LatencyMs),
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
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd();
  const out = [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
  return out.join('\n');
}

/** Summary lines under the table: status, errors, failed batches, unpriced models. */
export function renderNotes(report: ExperimentReport): string[] {
  const notes: string[] = [];
  const s = report.settings;
  const plan = s.rounds !== undefined ? `${s.rounds} planned` : `duration ${Math.round((s.durationMs ?? 0) / 1000)}s`;
  notes.push(`${report.status}: ${report.rounds} round(s) (${plan}, every ${s.intervalMs / 1000}s) × ${report.prompts.length} prompt(s); latency over successful requests, p50/p99 nearest-rank; sorted by cost per request`);
  for (const m of report.models) {
    const errs = Object.entries(m.errors).map(([k, n]) => `${k} ${n}`).join(', ');
    if (errs) notes.push(`${m.model}: failures ${errs}${m.lastError ? ` (last: ${m.lastError})` : ''}`);
    if (m.failedBatches) notes.push(`${m.model}: ${m.failedBatches} batch(es) failed as a whole and are not counted${m.lastError ? `: ${m.lastError}` : ''}`);
    if (!m.priced) notes.push(`${m.model}: not in the price catalog; cost shown as $0 (add it with --catalog)`);
  }
  return notes;
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Markdown for the Web UI's "current details". */
export function renderMarkdown(p: ExperimentProgress): string {
  const r = p.report;
  const planned = p.roundsPlanned !== null ? ` of ${p.roundsPlanned}` : '';
  const head = `**Experiment ${p.status}** — round ${p.round}${planned}, ${r.prompts.length} prompt(s) × ${r.models.length} model(s), ${p.batchesInFlight} batch(es) in flight`;
  const rows = [TABLE_HEADER, TABLE_HEADER.map(() => '---'), ...r.models.map(tableRow)];
  return [head, '', ...rows.map((row) => `| ${row.map(mdEscape).join(' | ')} |`)].join('\n');
}
