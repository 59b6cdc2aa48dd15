/**
 * What the Temporal Web UI shows of a rollout: the static summary and details set at start, and the
 * Markdown "current details" the workflow refreshes on every change. Pure; safe in workflow code.
 */
import { formatDuration } from '../spec/duration';
import { toStatus, type RolloutState } from './machine';
import type { RolloutSpec } from './spec';

/** Escape what Markdown renderers would turn into links, math, emphasis, code or table cells. */
export const md = (text: string): string => text.replace(/[[\]$|\\*_`<>]/g, (c) => `\\${c}`);

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : '–');
const ms = (x: number) => (Number.isFinite(x) && x > 0 ? `${Math.round(x)} ms` : '–');
const usd = (x: number) => (Number.isFinite(x) && x > 0 ? `\\$${x.toFixed(6)}` : '–');

export function staticSummary(spec: RolloutSpec): string {
  const shadow = spec.shadow ? `, shadow ${spec.shadow.percent}% first` : '';
  const judge = spec.guards.judge ? `, judge ${spec.guards.judge.model} on ${spec.guards.judge.samplePercent}%` : '';
  return `${spec.target}: ${spec.blue.model} → ${spec.green.model}${shadow}, steps ${spec.steps.join('→')}%, dwell ${formatDuration(spec.dwellMs)}${judge}`;
}

export function staticDetails(spec: RolloutSpec): string {
  const g = spec.guards as Record<string, unknown>;
  const arm = (a: RolloutSpec['blue']) => `\`${md(a.model)}\`${a.baseURL ? ` @ ${md(a.baseURL)}` : ''}`;
  return [
    `**Rollout** \`${spec.target}\`: blue ${arm(spec.blue)} → green ${arm(spec.green)}`,
    '',
    `| plan | |`,
    `|---|---|`,
    `| steps | ${spec.steps.join(' → ')} % |`,
    `| dwell | ${formatDuration(spec.dwellMs)} |`,
    `| probes per round | ${spec.probesPerRound} pairs (each prompt to both arms at once; concurrency ${spec.concurrency}, ${spec.rateLimit.requestsPerMinute} rpm per model) |`,
    ...(spec.shadow
      ? [
          `| shadow phase | before step 1: ${spec.shadow.percent}% of requests mirrored to green (users stay on blue), ${spec.shadow.minPairs} pairs` +
            `${spec.shadow.maxSpendUsd !== undefined ? `, green spend cap ${usd(spec.shadow.maxSpendUsd)}` : ''}` +
            `${spec.shadow.maxDurationMs !== undefined ? `, at most ${formatDuration(spec.shadow.maxDurationMs)}` : ''} |`,
        ]
      : []),
    `| on failure | ${spec.onFailure} |`,
    `| guards | ${md(
      Object.entries(g)
        .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
        .join(', '),
    )} |`,
    `| prompts | ${spec.prompts.length} (${spec.prompts.filter((p) => p.expect).length} with output checks) |`,
  ].join('\n');
}

export function renderDetails(spec: RolloutSpec, state: RolloutState): string {
  const s = toStatus(spec, state);
  const stepLine =
    state.stepIndex < 0
      ? `not started (${spec.steps.length} steps: ${spec.steps.join(' → ')}%)`
      : `step ${s.step} of ${s.totalSteps} (${spec.steps.join(' → ')}%)`;
  const row = (arm: 'blue' | 'green') => {
    const a = s.arms[arm];
    const l = s.live[arm];
    return `| ${arm} | ${md(a.model)} | ${a.requests} | ${a.errors} | ${pct(a.errorRate)} | ${a.rateLimited} | ${ms(a.p50LatencyMs)} | ${ms(a.p99LatencyMs)} | ${usd(a.costPerSuccessUsd)} | ${l.requests} |`;
  };
  const ev = state.lastEvaluation;
  const lines = [
    `## Rollout \`${spec.target}\`: ${s.phase.replace('_', ' ')}`,
    '',
    `**${stepLine}** · green **${s.greenPercent}%** · ${md(spec.blue.model)} → ${md(spec.green.model)}`,
    s.reason ? `\n> ${md(s.reason)}\n` : '',
    '| arm | model | requests | errors | error rate | 429s | p50 | p99 | cost/success | live requests |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    row('blue'),
    row('green'),
    '',
    ev ? `**Last verdict: ${ev.verdict}** — ${md(ev.reason)}` : '_No verdict yet._',
  ];
  if (ev) {
    lines.push('', '| guard | verdict | detail |', '|---|---|---|');
    for (const g of ev.guards) lines.push(`| ${g.guard} | ${g.verdict} | ${md(g.detail)} |`);
  }
  const p = s.probes;
  lines.push(
    '',
    `Probe pairs: ${p.pairs} judged (${p.stepPairs} this step); green alone failed ${p.table.greenFailed}, blue alone ${p.table.blueFailed}, ` +
      `both ${p.table.bothFailed}${p.substituted ? `; green answered by another model ${p.substituted}×` : ''}. ` +
      `Probe spend: green ${usd(p.spendUsd.green)}, blue ${usd(p.spendUsd.blue)}.`,
  );
  const sh = s.shadowStats;
  if (sh) {
    lines.push(
      '',
      `Shadow pairs: ${sh.pairs} of ${sh.minPairs} judged (${sh.batches} batches; mirrors dropped ${sh.dropped}, skipped ${sh.skipped}). ` +
        `Shadow spend: green ${usd(sh.spendUsd.green)}, judge ${usd(sh.spendUsd.judge)}` +
        `${sh.judge.judged ? ` (${sh.judge.judged} judged: green lost ${sh.judge.greenLost}, won ${sh.judge.greenWon})` : ''}.` +
        `${sh.stopped ? ` Mirroring stopped: ${md(sh.stopped)}.` : ''}`,
    );
  }
  if (s.hold)
    lines.push(
      '',
      `**Holding:** ${md(s.hold)}${s.waiting === 'approval' ? ' — or send the update `approve` (input `{"by": "you", "reason": "…"}`) from this page.' : ''}`,
    );
  else if (s.waiting)
    lines.push(
      '',
      `**Waiting** for ${s.waiting === 'capacity' ? "green's capacity (429s)" : 'the gateway (both arms failing, or refused with 429)'}.`,
    );
  for (const a of s.approvals ?? [])
    lines.push('', `Step ${a.step} (${a.greenPercent}%) approved by ${md(a.by)} at ${a.at}${a.reason ? `: ${md(a.reason)}` : ''}.`);
  for (const n of s.notifications ?? []) {
    lines.push(
      '',
      `Webhook ${md(n.target)}: ${n.delivered} delivered, ${n.failed} failed, ${n.pending} pending${n.lastError ? ` (last error: ${md(n.lastError)})` : ''}.`,
    );
  }
  for (const arm of ['blue', 'green'] as const) {
    const err = s.lastError?.[arm];
    if (err) lines.push('', `Last ${arm} gateway error: ${md(err)}`);
  }
  return lines
    .filter((l) => l !== '')
    .join('\n')
    .replace(/\n(\| arm)/, '\n\n$1');
}
