/**
 * What the Temporal Web UI shows of an experiment: the Markdown "current details" the workflow
 * refreshes at every round (the same rows as the CLI table). Pure; safe in workflow code.
 */
import type { ExperimentProgress } from './contract';
import { TABLE_HEADER, tableRow } from './render';

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
