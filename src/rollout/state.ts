/**
 * The rollout's state in one place (carried across continue-as-new), and pure views of it:
 * the status query's answer and the Markdown "current details" shown in the Web UI.
 */
import { mergeArmStats, summarize, type ArmStats } from '../decision/arm-stats';
import type { Evaluation } from '../decision/verdict';
import type { RolloutSpec } from './spec';
import type { ArmSummary, LiveMetricsBatch, Phase, RolloutStatus, VerdictRecord } from './contract';
import { NUM_BUCKETS } from '../decision/histogram';

export interface RolloutState {
  phase: Phase;
  /** Index into spec.steps; -1 before the first step. */
  stepIndex: number;
  greenPercent: number;
  /** Sample rounds over the whole rollout (seeds routing). */
  round: number;
  roundsAtStep: number;
  samples: { blue: ArmStats; green: ArmStats };
  live: { blue: ArmStats; green: ArmStats; batches: number; seenBatchIds: string[] };
  fallbacksServed: number;
  verdicts: VerdictRecord[];
  lastEvaluation?: Evaluation;
  lastError?: { blue?: string; green?: string };
  preflightDone: boolean;
  /** undefined → the step is still being judged; a number → dwelling (0 → advance). */
  dwellRemainingMs: number | undefined;
  reason?: string;
  pauseReason?: string;
  startedAt: string;
  updatedAt?: string;
  /** Workflow runs so far (1 + continue-as-new count). */
  runs: number;
}

function armSummary(model: string, s: ArmStats): ArmSummary {
  return { model, ...summarize(s) };
}

/** Synthetic samples plus live traffic per arm: what the verdict and the status both use. */
export function combined(state: RolloutState): { blue: ArmStats; green: ArmStats } {
  return { blue: mergeArmStats(state.samples.blue, state.live.blue), green: mergeArmStats(state.samples.green, state.live.green) };
}

export function toStatus(spec: RolloutSpec, state: RolloutState): RolloutStatus {
  const all = combined(state);
  return {
    target: spec.target,
    phase: state.phase,
    step: state.stepIndex + 1,
    totalSteps: spec.steps.length,
    greenPercent: state.greenPercent,
    blue: spec.blue,
    green: spec.green,
    reason: state.reason ?? state.pauseReason,
    arms: { blue: armSummary(spec.blue.model, all.blue), green: armSummary(spec.green.model, all.green) },
    live: {
      blue: armSummary(spec.blue.model, state.live.blue),
      green: armSummary(spec.green.model, state.live.green),
      batches: state.live.batches,
    },
    verdicts: state.verdicts,
    updatedAt: state.updatedAt ?? state.startedAt,
  };
}

/** The failing guards' details, or the evaluation's reason, on one line. */
export function describeEvaluation(e: Evaluation): string {
  const failing = e.guards.filter((g) => g.verdict === 'Fail');
  return failing.length ? failing.map((g) => `${g.guard}: ${g.detail}`).join('; ') : e.reason;
}

/** Escape what Markdown renderers would turn into links, math or table cells: [a, b](…), $…$, |. */
const md = (text: string) => text.replace(/[[\]$|\\]/g, (c) => `\\${c}`);

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : '–');
const ms = (x: number) => (Number.isFinite(x) && x > 0 ? `${Math.round(x)} ms` : '–');
const usd = (x: number) => (Number.isFinite(x) && x > 0 ? `\\$${x.toFixed(6)}` : '–');

export function renderDetails(spec: RolloutSpec, state: RolloutState): string {
  const s = toStatus(spec, state);
  const stepLine =
    state.stepIndex < 0
      ? `not started (${spec.steps.length} steps: ${spec.steps.join(' → ')}%)`
      : `step ${s.step} of ${s.totalSteps} (${spec.steps.join(' → ')}%)`;
  const row = (arm: 'blue' | 'green') => {
    const a = s.arms[arm];
    const l = s.live[arm];
    return `| ${arm} | ${a.model} | ${a.requests} | ${a.errors} | ${pct(a.errorRate)} | ${a.rateLimited} | ${ms(a.p50LatencyMs)} | ${ms(a.p99LatencyMs)} | ${usd(a.costPerSuccessUsd)} | ${l.requests} |`;
  };
  const ev = state.lastEvaluation;
  const lines = [
    `## Rollout \`${spec.target}\`: ${s.phase.replace('_', ' ')}`,
    '',
    `**${stepLine}** · green **${s.greenPercent}%** · ${spec.blue.model} → ${spec.green.model}`,
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
  if (state.fallbacksServed) lines.push('', `Green failures served by blue fallback: ${state.fallbacksServed} (counted as green errors).`);
  return lines.filter((l) => l !== '').join('\n').replace(/\n(\| arm)/, '\n\n$1');
}

const count = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;
function isArmStats(x: unknown): boolean {
  const a = x as Record<string, any> | null;
  return (
    !!a &&
    ['requests', 'successes', 'errors', 'rateLimited', 'inputTokens', 'outputTokens', 'costUsd'].every((k) => count(a[k])) &&
    !!a.errorsByClass && typeof a.errorsByClass === 'object' && Object.values(a.errorsByClass).every(count) &&
    !!a.checks && count(a.checks.passed) && count(a.checks.failed) &&
    !!a.latency && Array.isArray(a.latency.counts) && a.latency.counts.length === NUM_BUCKETS && a.latency.counts.every(count) &&
    count(a.latency.count) && count(a.latency.sumMs)
  );
}

/** A liveMetrics signal's payload is checked before it is merged: signals come from outside. */
export function isLiveBatch(b: unknown): b is LiveMetricsBatch {
  const x = b as Partial<LiveMetricsBatch> | null;
  return !!x && typeof x.batchId === 'string' && x.batchId.length > 0 && isArmStats(x.blue) && isArmStats(x.green);
}
