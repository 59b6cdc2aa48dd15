/** Terminal views of a rollout's status. */
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
    lastVerdict: s.verdicts.at(-1) ?? null,
    verdicts: s.verdicts,
    updatedAt: s.updatedAt,
  };
}

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : '-');
const ms = (x: number) => (Number.isFinite(x) && x > 0 ? `${Math.round(x)}ms` : '-');

function bar(percent: number, width = 20): string {
  const g = Math.round((percent / 100) * width);
  return `[${'#'.repeat(g)}${'.'.repeat(width - g)}]`;
}

export function statusText(s: RolloutStatus): string {
  const head = `${s.target}: ${s.phase.toUpperCase()}  step ${s.step}/${s.totalSteps}  green ${bar(s.greenPercent)} ${s.greenPercent}%`;
  const rows = (['blue', 'green'] as const).map((arm) => {
    const a = s.arms[arm];
    return `  ${arm.padEnd(5)} ${a.model.padEnd(20)} req ${String(a.requests).padStart(6)}  err ${String(a.errors).padStart(4)} (${pct(a.errorRate).padStart(7)})  429 ${String(a.rateLimited).padStart(3)}  p50 ${ms(a.p50LatencyMs).padStart(7)}  p99 ${ms(a.p99LatencyMs).padStart(7)}  live ${s.live[arm].requests}`;
  });
  const v = s.verdicts.at(-1);
  const lines = [head, ...rows];
  if (v) lines.push(`  verdict (step ${v.step}, round ${v.round}): ${v.evaluation.verdict} — ${v.evaluation.reason}`);
  if (s.reason) lines.push(`  reason: ${s.reason}`);
  return lines.join('\n');
}
