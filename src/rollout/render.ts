/** Terminal views of rollouts: the status (text and --json) and the list. */
import { fmtBar, fmtMs, fmtPercent, fmtUsd } from '../format';
import type { RolloutRow } from './client';
import type { RolloutStatus } from './contract';

export function statusJson(s: RolloutStatus): Record<string, unknown> {
  return {
    target: s.target,
    phase: s.phase,
    step: s.step,
    totalSteps: s.totalSteps,
    greenPercent: s.greenPercent,
    reason: s.reason ?? null,
    blue: s.arms.blue,
    green: s.arms.green,
    live: s.live,
    probes: s.probes,
    ...(s.shadow ? { shadow: s.shadow } : {}),
    ...(s.shadowStats ? { shadowStats: s.shadowStats } : {}),
    waiting: s.waiting ?? null,
    hold: s.hold ?? null,
    lastError: s.lastError ?? null,
    approvals: s.approvals ?? [],
    notifications: s.notifications ?? [],
    lastVerdict: s.verdicts.at(-1) ?? null,
    verdicts: s.verdicts,
    updatedAt: s.updatedAt,
    ...(s.execution ? { execution: s.execution } : {}),
    ...(s.ignoredSignal ? { ignoredSignal: s.ignoredSignal } : {}),
  };
}

const WAITING: Record<NonNullable<RolloutStatus['waiting']>, string> = {
  capacity: "for green's capacity (429s)",
  gateway: 'for the gateway (both arms failing, or refused with 429)',
  approval: 'for an approval',
  window: 'for the schedule window',
};

export function statusText(s: RolloutStatus): string {
  const head = `${s.target}: ${s.phase.toUpperCase()}  step ${s.step}/${s.totalSteps}  green ${fmtBar(s.greenPercent)} ${s.greenPercent}%`;
  const rows = (['blue', 'green'] as const).map((arm) => {
    const a = s.arms[arm];
    return (
      `  ${arm.padEnd(5)} ${a.model.padEnd(20)} req ${String(a.requests).padStart(6)}  err ${String(a.errors).padStart(4)} ` +
      `(${fmtPercent(a.errorRate).padStart(7)})  429 ${String(a.rateLimited).padStart(3)}  p50 ${fmtMs(a.p50LatencyMs || null).padStart(8)}  ` +
      `p99 ${fmtMs(a.p99LatencyMs || null).padStart(8)}  cost/success ${fmtUsd(a.costPerSuccessUsd || null).padStart(9)}  live ${s.live[arm].requests}`
    );
  });
  const v = s.verdicts.at(-1);
  const lines = [head, ...rows];
  const p = s.probes;
  if (p.pairs) {
    const t = p.table;
    lines.push(
      `  probes  ${p.pairs} pairs (${p.stepPairs} this step): both ok ${t.bothOk}, only green failed ${t.greenFailed}, only blue failed ${t.blueFailed}, ` +
        `both failed ${t.bothFailed}${p.substituted ? `, green substituted ${p.substituted}` : ''}; spend ${fmtUsd(p.spendUsd.blue + p.spendUsd.green)}` +
        (p.judge
          ? `; judge ${p.judge.judged} judged of ${p.judge.asked} asked (green lost ${p.judge.greenLost}, won ${p.judge.greenWon}), spend ${fmtUsd(p.judge.spendUsd)}`
          : ''),
    );
  }
  const sh = s.shadowStats;
  if (sh) {
    const checks = Object.entries(sh.checks).map(([c, x]) => `${c} ${x.greenOnly}/${x.n}${x.blueOnly ? ` (blue ${x.blueOnly})` : ''}`);
    lines.push(
      `  shadow  ${sh.pairs}/${sh.minPairs} pairs${s.shadow ? ` (mirroring ${s.shadow.percent}%${s.shadow.stopped ? ', stopped' : ''})` : ''}, ${sh.batches} batches, ` +
        `dropped ${sh.dropped}, skipped ${sh.skipped}${sh.sampledOut ? `, sampled out ${sh.sampledOut}` : ''}; green spend ${fmtUsd(sh.spendUsd.green)}${sh.maxSpendUsd !== undefined ? ` of ${fmtUsd(sh.maxSpendUsd)}` : ''}` +
        `${sh.judge.judged ? `; judge ${sh.judge.judged} judged (green lost ${sh.judge.greenLost}, won ${sh.judge.greenWon}), spend ${fmtUsd(sh.judge.spendUsd)}` : ''}` +
        `${checks.length ? `; green-only check failures: ${checks.join(', ')}` : ''}${sh.stopped ? `; stopped: ${sh.stopped}` : ''}`,
    );
  }
  if (s.hold) lines.push(`  ${s.hold}`);
  else if (s.waiting) lines.push(`  waiting: ${WAITING[s.waiting]}`);
  for (const a of s.approvals ?? [])
    lines.push(`  approved step ${a.step} (${a.greenPercent}%) by ${a.by} at ${a.at}${a.reason ? `: ${a.reason}` : ''}`);
  for (const n of s.notifications ?? []) {
    if (n.failed || n.pending > 3) {
      lines.push(
        `  webhook ${n.target}: ${n.delivered} delivered, ${n.failed} failed, ${n.pending} pending${n.lastError ? `; last error: ${n.lastError}` : ''}`,
      );
    }
  }
  for (const arm of ['blue', 'green', 'judge'] as const) if (s.lastError?.[arm]) lines.push(`  last ${arm} error: ${s.lastError[arm]}`);
  if (v) lines.push(`  verdict (step ${v.step}, round ${v.round}): ${v.evaluation.verdict} — ${v.evaluation.reason}`);
  if (s.reason) lines.push(`  reason: ${s.reason}`);
  if (s.live.dropped) lines.push(`  live batches dropped: ${s.live.dropped} (too many arrived at once)`);
  if (s.ignoredSignal)
    lines.push(`  ignored signal "${s.ignoredSignal.name}" ×${s.ignoredSignal.count} (known: pause, resume, abort, liveMetrics)`);
  return lines.join('\n');
}

export function listText(rows: RolloutRow[]): string {
  if (!rows.length) return 'no rollouts yet; start one with: npx modelshift start --target demo --blue gpt-4.1 --green gpt-4.1-turbo';
  return rows
    .map(
      (r) =>
        `${r.target.padEnd(24)} ${r.phase.padEnd(12)} ${String(r.greenPercent).padStart(3)}%  ${r.blue} → ${r.green}  ${r.status.toLowerCase()}  ${r.startTime}` +
        (r.attempt > 1 ? `  attempt ${r.attempt} (retry of run ${r.previousRunId ?? '?'})` : ''),
    )
    .join('\n');
}
