/**
 * Shadow evidence: real requests mirrored to green by routers during a rollout's shadow phase (issue 14),
 * each a pair of answers to the same request (src/shadow/contract.ts ShadowBatch). Judged with the same
 * paired statistics as probes (./paired, ./probe-guards): errors, latency and cost through the probe
 * evidence, plus what needs no golden answer —
 * - one paired difference per output check (json, schema, toolCall, toolArgs, refusal): over pairs where
 *   both arms were checked (neither -1), D = 1[green failed] − 1[blue failed], tolerance
 *   guards.checks.maxFailRateIncrease;
 * - the length ratio: green's output tokens over blue's per pair both answered (ratio of means, the
 *   normal-mixture bound as the cost guard), tolerance plan.shadow.maxLengthIncrease;
 * - the judge (guards.judge): a paired difference too — per judged pair +1 green lost, −1 green won, 0 a
 *   tie — so green's net loss rate; Fail when confidently above maxLossRate.
 * Pure, deterministic and fixed-size (safe in workflow code; counters only: it never grows with traffic).
 */
import { fmtRatio } from '../format';
import { summarize } from './arm-stats';
import type { Guards } from './guards-schema';
import {
  addJudgeCodes,
  addProbeRound,
  emptyDiff,
  emptyEvidence,
  emptyJudge,
  JUDGE_CODES,
  mergeDiff,
  NOT_ASKED,
  OUTCOME_CODES,
  OUTPUT_CHECKS,
  thresholdsFrom,
  type DiffCounts,
  type JudgeCounts,
  type OutputCheck,
  type ProbeEvidence,
  type ProbeRound,
} from './paired';
import { ceilingGuard, costGuard, differenceGuard, judgeGuard, JUDGE_MIN_PAIRS, latencyGuard, ratioOfMeans } from './probe-guards';
import type { Evaluation, GuardResult, Verdict } from './verdict';

export interface ShadowEvidence {
  batches: number;
  /** errors, latency and cost, paired, as probes (prompt index 0 throughout) */
  pairs: ProbeEvidence;
  /** per output check: pairs both checked, and where only green / only blue failed */
  output: Record<OutputCheck, DiffCounts>;
  /** output tokens of pairs both answered: n, sums and sums of squares and products (length ratio) */
  length: { n: number; g: number; b: number; gg: number; bb: number; gb: number };
  /** judged pairs: n; gOnly green lost, bOnly green won (the rest ties) */
  judge: JudgeCounts;
  judgeMicroUsd: number;
  /** mirrors dropped (full queue) and skipped (opt-out, excluded), as routers reported them */
  dropped: number;
  skipped: number;
  /** pairs routers sampled out of full batches (not judged) and their spend; absent until a batch carried some */
  sampledOut?: { pairs: number; greenMicroUsd: number; blueMicroUsd: number };
}

/** Green's whole shadow spend: the judged pairs' and the sampled-out pairs' (what maxSpendUsd caps). */
export const shadowGreenSpendUsd = (e: ShadowEvidence): number => e.pairs.arms.green.costUsd + (e.sampledOut?.greenMicroUsd ?? 0) / 1e6;

export function emptyShadowEvidence(): ShadowEvidence {
  const output = {} as Record<OutputCheck, DiffCounts>;
  for (const c of OUTPUT_CHECKS) output[c] = emptyDiff();
  return {
    batches: 0,
    pairs: emptyEvidence(),
    output,
    length: { n: 0, g: 0, b: 0, gg: 0, bb: 0, gb: 0 },
    judge: emptyJudge(),
    judgeMicroUsd: 0,
    dropped: 0,
    skipped: 0,
  };
}

const ok = (code: number) =>
  OUTCOME_CODES[code] === 'ok' || OUTCOME_CODES[code] === 'check_failed' || OUTCOME_CODES[code] === 'substituted';

const NO_VERDICT = JUDGE_CODES.indexOf('none');

/** The evidence after one more batch (thresholds for latency from the evidence before it). Returns a new object. */
export function addShadowBatch(
  e: ShadowEvidence,
  b: { round: ProbeRound; dropped: number; skipped: number; sampledOut?: { pairs: number; greenMicroUsd: number; blueMicroUsd: number } },
  latency: { tailQuantile: number; p50Tolerance: number; tailTolerance: number },
): ShadowEvidence {
  const r = b.round;
  const ctx = {
    thresholds: thresholdsFrom(e.pairs, latency.tailQuantile),
    tolerance: { p50: latency.p50Tolerance, tail: latency.tailTolerance },
  };
  const output = { ...e.output };
  for (const c of OUTPUT_CHECKS) {
    const col = r.output?.[c];
    if (!col) continue;
    const acc = { n: 0, gOnly: 0, bOnly: 0 };
    for (let i = 0; i < r.prompt.length; i++) {
      const bv = col.blue[i];
      const gv = col.green[i];
      if (bv === -1 || gv === -1 || bv === undefined || gv === undefined) continue;
      acc.n++;
      const d = (gv === 0 ? 1 : 0) - (bv === 0 ? 1 : 0);
      if (d > 0) acc.gOnly++;
      else if (d < 0) acc.bOnly++;
    }
    output[c] = mergeDiff(output[c], acc);
  }
  const length = { ...e.length };
  for (let i = 0; i < r.prompt.length; i++) {
    if (!ok(r.blue.code[i]) || !ok(r.green.code[i])) continue;
    const g = r.green.outputTokens[i];
    const bl = r.blue.outputTokens[i];
    length.n++;
    length.g += g;
    length.b += bl;
    length.gg += g * g;
    length.bb += bl * bl;
    length.gb += g * bl;
  }
  // routers code a mirror the judge was not asked about as 'none', like a call without a verdict: neither is counted as asked
  const judge = addJudgeCodes(
    e.judge,
    r.judge?.map((c) => (c === NO_VERDICT ? NOT_ASKED : c)),
  );
  return {
    batches: e.batches + 1,
    pairs: addProbeRound(e.pairs, r, ctx),
    output,
    length,
    judge,
    judgeMicroUsd: e.judgeMicroUsd + (r.judgeMicroUsd ?? 0),
    dropped: e.dropped + b.dropped,
    skipped: e.skipped + b.skipped,
    ...(e.sampledOut || b.sampledOut
      ? {
          sampledOut: {
            pairs: (e.sampledOut?.pairs ?? 0) + (b.sampledOut?.pairs ?? 0),
            greenMicroUsd: (e.sampledOut?.greenMicroUsd ?? 0) + (b.sampledOut?.greenMicroUsd ?? 0),
            blueMicroUsd: (e.sampledOut?.blueMicroUsd ?? 0) + (b.sampledOut?.blueMicroUsd ?? 0),
          },
        }
      : {}),
  };
}

/** What each output check's failure means, for the reason ("json: green broke JSON in …"). */
const CHECK_WORDS: Record<OutputCheck, string> = {
  json: 'broke JSON',
  schema: "broke the response_format's schema",
  toolCall: 'dropped the tool call',
  toolArgs: 'sent invalid tool arguments',
  refusal: 'refused',
};

function outputGuard(c: OutputCheck, acc: DiffCounts, gd: Guards): GuardResult {
  const r = differenceGuard(c, '', acc, gd.checks.maxFailRateIncrease, gd, 'record');
  const gFailed = acc.gOnly; // discordant only: where blue passed
  const detail = `green ${CHECK_WORDS[c]} in ${gFailed} of ${acc.n} mirrored pairs where blue's answer passed (blue only: ${acc.bOnly})${r.detail}`;
  return { ...r, scope: 'shadow', detail };
}

/** Green's output length over blue's per pair (ratio of means; the cost guard's method on output tokens). */
export function lengthGuard(e: ShadowEvidence, maxIncrease: number, gd: Guards): GuardResult {
  const c = e.length;
  const k = 1 + maxIncrease;
  const { ratio, verdict, why } = ratioOfMeans(c, k, gd, 'longer', 1e-9);
  const per = (x: number) => (c.n ? Math.round((x / c.n) * 10) / 10 : 0);
  const detail = `green's answers ${fmtRatio(Number.isFinite(ratio) ? ratio : 99)} blue's length (${per(c.g)} vs ${per(c.b)} output tokens per pair over ${c.n} pairs), tolerance ${fmtRatio(k)} → ${verdict}: ${why}`;
  return {
    guard: 'length',
    verdict,
    scope: 'shadow',
    observed: Number.isFinite(ratio) ? ratio : Number.MAX_VALUE,
    threshold: k,
    within: ratio <= k,
    detail,
  };
}

export interface ShadowEvaluateInput {
  evidence: ShadowEvidence;
  guards: Guards;
  /** the phase's plan: the pairs it needs, the length tolerance */
  plan: { minPairs: number; maxLengthIncrease: number };
}

/**
 * Green against blue on the mirrored pairs: Fail if any guard fails (error difference and ceiling,
 * latency, cost, every output check seen, length, the judge); Pass once the phase has minPairs judged pairs
 * and every guard passes or is short of evidence with its estimate within tolerance (as a step before the
 * last); otherwise Inconclusive (`collecting` while below minPairs).
 */
export function evaluateShadow(input: ShadowEvaluateInput): Evaluation {
  const { evidence: e, guards: gd, plan } = input;
  const p = e.pairs;
  const guards: GuardResult[] = [
    differenceGuard('errorRate', 'error rate (shadow)', p.errors, gd.maxErrorRateIncrease, gd, 'record'),
    ceilingGuard(p, gd, 'record'),
  ];
  if (gd.latency.enabled) {
    guards.push(latencyGuard(p, gd, 'tail', 'record'));
    if (gd.latency.p50Tolerance != null) guards.push(latencyGuard(p, gd, 'p50', 'record'));
  }
  if (gd.cost.enabled) guards.push(costGuard(p, gd, 'record'));
  if (gd.checks.enabled) for (const c of OUTPUT_CHECKS) if (e.output[c].n > 0) guards.push(outputGuard(c, e.output[c], gd));
  guards.push(lengthGuard(e, plan.maxLengthIncrease, gd));
  if (gd.judge) guards.push(judgeGuard(e.judge, e.judgeMicroUsd, gd.judge.maxLossRate, gd, 'record'));
  const shadowed = guards.map((g) => ({ ...g, scope: 'shadow' as const }));
  const fails = shadowed.filter((g) => g.verdict === 'Fail');
  const off = shadowed.filter(
    (g) => g.verdict === 'Inconclusive' && (g.within === false || (g.guard === 'judge' && e.judge.n < JUDGE_MIN_PAIRS)),
  );
  let verdict: Verdict;
  let reason: string;
  let collecting = false;
  if (fails.length) [verdict, reason] = ['Fail', fails.map((g) => `${g.guard}: ${g.detail}`).join(' | ')];
  else if (p.pairs < plan.minPairs) {
    [verdict, reason] = ['Inconclusive', `shadow phase: ${p.pairs} of the ${plan.minPairs} mirrored pairs it needs`];
    collecting = true;
  } else if (off.length) [verdict, reason] = ['Inconclusive', off.map((g) => g.detail).join(' | ')];
  else [verdict, reason] = ['Pass', `shadow phase passed on ${p.pairs} mirrored pairs: all guards within tolerance`];
  const out: Evaluation = {
    verdict,
    guards: shadowed,
    reason,
    blue: summarize(p.arms.blue),
    green: summarize(p.arms.green),
    pairs: { record: p.pairs, window: p.pairs },
  };
  if (collecting) out.collecting = true;
  return out;
}
