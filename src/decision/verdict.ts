/**
 * The verdict: green (the new model) against blue (the current one), on paired probes (./paired, judged by
 * ./probe-guards) and on live traffic from routers (per arm, unpaired), each over the whole record and over
 * the current step's window. Pure and deterministic (no I/O, Date, Math.random, Node built-ins): safe in
 * Temporal workflow code. What to do with a verdict (dwell, hold, wait, roll back) is the rollout machine's
 * policy (src/rollout/machine.ts). Methods and guarantees: src/decision/README.md.
 */
import { judged, summarize, type ArmStats, type ArmSummary } from './arm-stats';
import { bernoulliCS, quantileRankBounds, RATE_MIX, type Mix } from './cs';
import type { Guards } from './guards-schema';
import { histogramQuantile, quantileBoundsFromRanks } from './histogram';
import type { JudgeCounts, ProbeEvidence } from './paired';
import {
  ceilingGuard,
  costGuard,
  differenceGuard,
  judgeGuard,
  JUDGE_MIN_PAIRS,
  latencyGuard,
  promptChecksGuard,
  spendCapGuard,
  tailLooksHeavier,
  waitGuards,
} from './probe-guards';
import { fmtConfidence, fmtMs, fmtPercent, fmtPp, fmtRatio } from '../format';

export type Verdict = 'Pass' | 'Fail' | 'Inconclusive';

export type GuardName =
  | 'errorRate'
  | 'errorCeiling'
  | 'latencyTail'
  | 'latencyP50'
  | 'cost'
  | 'spendCap'
  | 'checks'
  | 'promptChecks'
  | 'rateLimit'
  | 'gatewayHealth'
  | 'liveErrorRate'
  | 'liveLatencyTail'
  | 'liveLatencyP50'
  /** the shadow phase's output checks (src/decision/shadow.ts), its length ratio, judge and spend */
  | 'json'
  | 'schema'
  | 'toolCall'
  | 'toolArgs'
  | 'refusal'
  | 'length'
  | 'judge'
  | 'shadowSpend';

export interface GuardResult {
  guard: GuardName;
  verdict: Verdict;
  /** what the guard judged: the whole record of probes, the current step's window, or live traffic */
  scope: 'record' | 'window' | 'live' | 'live window' | 'shadow';
  observed: number;
  threshold: number;
  /** One line for a human in the Web UI, with the numbers. */
  detail: string;
  /** Confidence-sequence bounds on `observed` where the guard has them. */
  lower?: number;
  upper?: number;
  /** the point estimate is within tolerance (a step's window must show this before the step passes) */
  within?: boolean;
  /** an Inconclusive that is a wait, not a lack of evidence: green's capacity or a shared outage */
  wait?: 'capacity' | 'gateway';
  /** the cost was not compared: an arm is unpriced */
  unpriced?: boolean;
  /** Inconclusive only because a planned amount of evidence is still being collected (not a lack of verdict) */
  collecting?: boolean;
  /** green shown worse than blue (a sign test on the discordant pairs), whether or not beyond tolerance */
  worse?: boolean;
}

export interface Evaluation {
  verdict: Verdict;
  guards: GuardResult[];
  /** One line: why Fail / why Inconclusive / 'all guards pass'. */
  reason: string;
  /** Set when the step waits for capacity or a healthy gateway (time budget, not the hold budget). */
  wait?: 'capacity' | 'gateway';
  /** Inconclusive only while planned evidence is collected (the step's pairs, a promotion's, a suspect tail's): no hold is counted. */
  collecting?: boolean;
  /** set when this evaluation found green's tail suspect (the machine keeps it for the rest of the rollout) */
  tailSuspect?: boolean;
  /** Point summaries of both arms' probes, for display. */
  blue: ArmSummary;
  green: ArmSummary;
  /** judged pairs: whole record and this step */
  pairs: { record: number; window: number };
}

export interface EvaluateInput {
  probes: { record: ProbeEvidence; window: ProbeEvidence };
  live?: { record: { blue: ArmStats; green: ArmStats }; window: { blue: ArmStats; green: ArmStats } };
  guards: Guards;
  /** Green's probe spend over the whole rollout (USD), for the spend cap. */
  greenSpendUsd?: number;
  /** names of the golden prompts, by index (for the per-prompt guard's detail) */
  promptNames?: readonly string[];
  /** the last step (its Pass promotes): every guard must pass on the whole record with confidence */
  final?: boolean;
  /** green's tail was found suspect before a promotion: it is judged on a larger record (sticky, the machine keeps it) */
  tailSuspect?: boolean;
}

// ---------- formatting: one module for every view (deterministic, no locale) ----------
// ---------- difference of two proportions (errors, golden-check failures) ----------
/**
 * green - blue rate difference with a time-uniform (1 - alpha) confidence sequence
 * [g.lo - b.hi, g.hi - b.lo] built from one beta-binomial CS per arm at alpha/2 (union bound).
 *   Fail  if  lower > tol                                   (confidently beyond tolerance; any n)
 *         or  enough && lower > 0 && estimate > tol          (confidently worse than blue, estimate beyond tolerance)
 *   Pass  if  enough && (upper <= tol || (upper < 2 tol && estimate <= tol))
 *   else Inconclusive.
 * Guarantees (any number of looks): P(Fail | green no worse than blue) <= alpha;
 * P(Pass | green worse by >= 2 tol) <= alpha. [0, 2 tol] is the indifference zone, centred on tol.
 */
function proportionGuard(
  guard: GuardName,
  what: string,
  xg: number,
  ng: number,
  xb: number,
  nb: number,
  tol: number,
  alpha: number,
  minSamples: number,
  mix: Mix,
): GuardResult {
  const g = bernoulliCS(xg, ng, alpha / 2, mix);
  const b = bernoulliCS(xb, nb, alpha / 2, mix);
  const pg = ng > 0 ? xg / ng : 0;
  const pb = nb > 0 ? xb / nb : 0;
  const d = pg - pb;
  const lower = g.lo - b.hi;
  const upper = g.hi - b.lo;
  const enough = ng >= minSamples && nb >= minSamples;
  let verdict: Verdict;
  let why: string;
  if (lower > tol) {
    verdict = 'Fail';
    why = 'confidently above tolerance';
  } else if (enough && lower > 0 && d > tol) {
    verdict = 'Fail';
    why = 'green significantly worse than blue and increase above tolerance';
  } else if (!enough) {
    verdict = 'Inconclusive';
    why = `collecting samples (need ${minSamples} per arm)`;
  } else if (upper <= tol) {
    verdict = 'Pass';
    why = 'confidently within tolerance';
  } else if (upper < 2 * tol && d <= tol) {
    verdict = 'Pass';
    why = `within tolerance, increase of ${fmtPp(2 * tol)} or more excluded`;
  } else {
    verdict = 'Inconclusive';
    why = 'not enough evidence either way';
  }
  const detail =
    `${what}: green ${fmtPercent(pg)} (${xg}/${ng}) vs blue ${fmtPercent(pb)} (${xb}/${nb}): ${fmtPp(d)}, ` +
    `${fmtConfidence(alpha)} CS [${fmtPp(lower)}, ${fmtPp(upper)}], tolerance ${fmtPp(tol)} → ${verdict}: ${why}`;
  return { guard, verdict, scope: 'live', observed: d, threshold: tol, lower, upper, detail };
}

/** JSON has no Infinity/NaN: clamp for the `observed` field (the detail line still says ∞). */
const finite = (x: number) => (Number.isNaN(x) ? 0 : Math.max(-Number.MAX_VALUE, Math.min(Number.MAX_VALUE, x)));

// ---------- ratio guards (latency quantiles, cost per success) ----------
interface Bounded {
  point: number;
  lo: number;
  hi: number;
}

/**
 * green/blue ratio r with bounds [g.lo / b.hi, g.hi / b.lo] (each arm's CS at alpha/2).
 *   Fail  if  g.lo > (1 + t) b.hi                           (confidently beyond tolerance; any n)
 *         or  enough && g.lo > b.hi && r > 1 + t            (confidently worse than blue, estimate beyond tolerance)
 *   Pass  if  enough && (g.hi <= (1 + t) b.lo || (g.hi < (1 + t)^2 b.lo && r <= 1 + t)
 *                        || (pointPass && r <= 1 + t/2))
 * pointPass (latency only): the p99 of a few hundred samples has no finite upper confidence bound
 * (fewer than ~5 observations above it), so a green whose estimate is within HALF the tolerance
 * passes on the estimate; greens between 1 + t/2 and 1 + t are held until the bounds decide.
 */
function ratioGuard(
  guard: GuardName,
  g: Bounded,
  b: Bounded,
  t: number,
  enough: boolean,
  pointPass: boolean,
  describe: (r: number, lo: number, hi: number, verdict: Verdict, why: string) => string,
  /** Even the "confidently above" Fail waits for minSamples (bounds that rest on an estimated variance). */
  failNeedsEnough = false,
): GuardResult {
  const r = b.point > 0 ? g.point / b.point : g.point > 0 ? Infinity : 1;
  const lower = b.hi > 0 ? g.lo / b.hi : 0;
  const upper = b.lo > 0 ? g.hi / b.lo : Infinity;
  const k = 1 + t;
  let verdict: Verdict;
  let why: string;
  if (g.lo > k * b.hi && (enough || !failNeedsEnough)) {
    verdict = 'Fail';
    why = 'confidently above tolerance';
  } else if (enough && g.lo > b.hi && r > k) {
    verdict = 'Fail';
    why = 'green significantly worse than blue and ratio above tolerance';
  } else if (!enough) {
    verdict = 'Inconclusive';
    why = 'collecting samples';
  } else if (g.hi <= k * b.lo) {
    verdict = 'Pass';
    why = 'confidently within tolerance';
  } else if (g.hi < k * k * b.lo && r <= k) {
    verdict = 'Pass';
    why = `within tolerance, ratio of ${fmtRatio(k * k)} or more excluded`;
  } else if (pointPass && r <= 1 + t / 2) {
    verdict = 'Pass';
    why = `estimate within half the tolerance (${fmtRatio(1 + t / 2)})`;
  } else {
    verdict = 'Inconclusive';
    why = r > k ? 'estimate above tolerance, not yet significant' : 'not enough evidence either way';
  }
  const out: GuardResult = {
    guard,
    verdict,
    scope: 'live',
    observed: finite(r),
    threshold: k,
    detail: describe(r, lower, upper, verdict, why),
  };
  if (Number.isFinite(lower)) out.lower = lower;
  if (Number.isFinite(upper)) out.upper = upper; // omitted when unbounded (JSON has no Infinity)
  return out;
}

// ---------- live traffic (unpaired, per arm): Fail only, it never needs to pass ----------

function liveLatencyGuard(blue: ArmStats, green: ArmStats, gd: Guards, tau: number, t: number, scope: GuardResult['scope']): GuardResult {
  const half = gd.alpha / 2;
  const arm = (s: ArmStats): Bounded => {
    const h = s.latency;
    const { sLo, sHi } = quantileRankBounds(h.count, tau, half);
    const ci = h.count > 0 ? quantileBoundsFromRanks(h, sLo, sHi) : { lo: 0, hi: Infinity };
    return { point: h.count > 0 ? histogramQuantile(h, tau) : 0, lo: ci.lo, hi: ci.hi };
  };
  const g = arm(green);
  const b = arm(blue);
  const enough = green.latency.count >= gd.minSamples && blue.latency.count >= gd.minSamples;
  const name = tau === 0.5 ? 'p50' : `p${Math.round(tau * 1000) / 10}`;
  const r = ratioGuard(
    tau === 0.5 ? 'liveLatencyP50' : 'liveLatencyTail',
    g,
    b,
    t,
    enough,
    false,
    (ratio, lo, hi, v, why) =>
      `live latency ${name}${scope === 'live window' ? ' (this step)' : ''}: green ${fmtMs(g.point)} (n=${green.latency.count}) vs blue ${fmtMs(b.point)} ` +
      `(n=${blue.latency.count}): ${fmtRatio(ratio)}, ${fmtConfidence(gd.alpha)} bounds [${fmtRatio(lo)}, ${fmtRatio(hi)}], tolerance ${fmtRatio(1 + t)} → ${v}: ${why}`,
  );
  // only the confident route: live traffic is looked at every few seconds, so an estimate crosses the
  // tolerance by chance; the bounds stay valid however often one looks
  const confident = r.verdict === 'Fail' && r.detail.includes('confidently above tolerance');
  return { ...r, scope, verdict: confident ? 'Fail' : 'Pass' };
}

function liveGuards(live: { blue: ArmStats; green: ArmStats }, gd: Guards, scope: GuardResult['scope']): GuardResult[] {
  const { blue, green } = live;
  if (judged(green) === 0 || judged(blue) === 0) return [];
  const err = proportionGuard(
    'liveErrorRate',
    `live error rate${scope === 'live window' ? ' (this step)' : ''}`,
    green.errors,
    judged(green),
    blue.errors,
    judged(blue),
    gd.maxErrorRateIncrease,
    gd.alpha,
    gd.minSamples,
    RATE_MIX,
  );
  const confident = err.verdict === 'Fail' && err.detail.includes('confidently above tolerance');
  const out: GuardResult[] = [{ ...err, scope, verdict: confident ? 'Fail' : 'Pass' }];
  if (gd.latency.enabled) {
    out.push(liveLatencyGuard(blue, green, gd, gd.latency.tailQuantile, gd.latency.tailTolerance, scope));
    if (gd.latency.p50Tolerance != null) out.push(liveLatencyGuard(blue, green, gd, 0.5, gd.latency.p50Tolerance, scope));
  }
  return out;
}

// ---------- probes, by scope ----------

function probeGuards(
  e: ProbeEvidence,
  gd: Guards,
  scope: 'record' | 'window',
  promptNames: readonly string[],
  tailSuspect: boolean,
): GuardResult[] {
  const out: GuardResult[] = [
    differenceGuard('errorRate', 'error rate', e.errors, gd.maxErrorRateIncrease, gd, scope),
    ceilingGuard(e, gd, scope),
  ];
  if (gd.latency.enabled) {
    out.push(latencyGuard(e, gd, 'tail', scope, tailSuspect));
    if (gd.latency.p50Tolerance != null) out.push(latencyGuard(e, gd, 'p50', scope));
  }
  if (gd.cost.enabled) out.push(costGuard(e, gd, scope));
  if (gd.checks.enabled && e.checks.pooled.n > 0) {
    out.push(differenceGuard('checks', 'golden-check failures', e.checks.pooled, gd.checks.maxFailRateIncrease, gd, scope));
    const byPrompt = promptChecksGuard(e, gd, promptNames, scope);
    if (byPrompt) out.push(byPrompt);
  }
  // the judge's grades of probe pairs: on the whole record only (it grades a sample, a step's share is small)
  if (gd.judge && scope === 'record' && e.judge) out.push(probeJudgeGuard(e.judge, e.judgeMicroUsd ?? 0, gd));
  return out;
}

/**
 * The judge answers when, of the first JUDGE_MIN_PAIRS pairs asked on, at least half got a verdict. A judge
 * that does not (refused, failing, unreadable) cannot settle anything: its hold spends the hold budget.
 */
const judgeAnswers = (j: JudgeCounts): boolean => j.asked < JUDGE_MIN_PAIRS || j.n >= j.asked / 2;

/** The judge on probe pairs, marked `collecting` while it answers and is short of JUDGE_MIN_PAIRS with an estimate within tolerance. */
function probeJudgeGuard(j: JudgeCounts, microUsd: number, gd: Guards): GuardResult {
  const g = judgeGuard(j, microUsd, gd.judge!.maxLossRate, gd, 'record');
  if (!judgeAnswers(j)) return { ...g, detail: `${g.detail}; the judge answered only ${j.n} of ${j.asked} asked` };
  return g.verdict === 'Inconclusive' && g.within !== false && j.n < JUDGE_MIN_PAIRS ? { ...g, collecting: true } : g;
}

/**
 * Does an Inconclusive guard hold the step? Before the last step, only when its estimate is outside
 * tolerance or the record is short of minSamples (the window is checked too); at the last step, every
 * guard must be confident — except the judge, a sampled secondary signal: it holds only once it has
 * JUDGE_MIN_PAIRS judged pairs and its estimate is outside tolerance, and at the last step while it has
 * fewer than that.
 */
function holds(g: GuardResult, record: ProbeEvidence, gd: Guards, final: boolean): boolean {
  if (g.verdict !== 'Inconclusive') return false;
  if (g.guard === 'judge') {
    const n = record.judge?.n ?? 0;
    return (g.within === false && n >= JUDGE_MIN_PAIRS) || (final && n < JUDGE_MIN_PAIRS);
  }
  return final || g.within === false || record.pairs < gd.minSamples || g.guard === 'latencyTail';
}

/**
 * Green against blue, on everything: Fail if any guard fails in any scope (record, this step's window,
 * live, live window). Otherwise a wait (capacity, shared outage) if the last round says so. Otherwise
 * Pass if every guard passes on the whole record AND this step's window has its minimum pairs with every
 * point estimate within tolerance (a regression that appears at this step is not diluted by earlier
 * ones). Otherwise Inconclusive.
 */
export function evaluate(input: EvaluateInput): Evaluation {
  const { probes, guards: gd } = input;
  const names = input.promptNames ?? [];
  const record = probeGuards(probes.record, gd, 'record', names, Boolean(input.tailSuspect));
  const window = probeGuards(probes.window, gd, 'window', names, Boolean(input.tailSuspect));
  // Live traffic is judged per step only: within a step the ratio is fixed, so both arms see the same
  // moments (an outage hits them in proportion); across steps green's share changes, and a cumulative
  // comparison would blame green for whatever happened while it served most of the traffic.
  const live = input.live ? liveGuards(input.live.window, gd, 'live window') : [];
  const waits = waitGuards(probes.window, gd);
  const spend =
    gd.cost.spendCapUsd != null ? [spendCapGuard(input.greenSpendUsd ?? probes.record.arms.green.costUsd, gd.cost.spendCapUsd)] : [];
  const shownWindow = window.filter((g) => g.verdict === 'Fail' || g.within === false);
  const guards = [...record, ...shownWindow, ...live, ...waits, ...spend];

  const fails = [...record, ...window, ...live, ...spend].filter((g) => g.verdict === 'Fail');
  const waiting = waits.find((g) => g.wait);
  // Before the last step a guard may still be collecting evidence if its estimate is within tolerance
  // (the step's window is checked too); the last step promotes only on confidence. A heavier tail than
  // blue's, or too few pairs, holds at any step.
  const holding = record.filter((g) => holds(g, probes.record, gd, Boolean(input.final)));
  const windowShort = probes.window.pairs < gd.windowMinPairs;
  const windowOff = window.filter((g) => g.within === false);
  let verdict: Verdict;
  let reason: string;
  let collecting = false;
  let suspectNow = false;
  if (fails.length) [verdict, reason] = ['Fail', fails.map((g) => g.detail).join(' | ')];
  else if (waiting) [verdict, reason] = ['Inconclusive', waiting.detail];
  else if (holding.length) {
    [verdict, reason] = ['Inconclusive', holding.map((g) => g.detail).join(' | ')];
    // at the last step, a guard whose estimate is within tolerance, or that has not shown green worse than
    // blue at all, is only short of confidence: more pairs will settle it (the machine bounds how many),
    // so the hold budget is not spent on it
    collecting = holding.every(
      (g) =>
        g.collecting ||
        // the judge is collecting only while it answers (probeJudgeGuard); otherwise its hold spends the budget
        (g.guard !== 'judge' && input.final && probes.record.pairs >= gd.minSamples && (g.within === true || g.worse === false)),
    );
  } else if (windowShort) {
    [verdict, reason] = ['Inconclusive', `this step has ${probes.window.pairs} of the ${gd.windowMinPairs} pairs it needs of its own`];
    collecting = true;
  } else if (input.final && probes.record.pairs < gd.promoteMinPairs) {
    [verdict, reason] = [
      'Inconclusive',
      `collecting the ${gd.promoteMinPairs} pairs a promotion needs (${probes.record.pairs} so far): the tail and per-prompt checks need them`,
    ];
    collecting = true;
  } else if (windowOff.length)
    [verdict, reason] = ['Inconclusive', `this step's own estimate is outside tolerance: ${windowOff.map((g) => g.detail).join(' | ')}`];
  else if (input.final && gd.latency.enabled && !input.tailSuspect && tailLooksHeavier(probes.record, gd.latency.tailQuantile)) {
    // checked once, at the promotion: a suspect tail is judged on a larger record before green serves everyone
    [verdict, reason] = [
      'Inconclusive',
      `green's tail looks heavier than blue's: judging it on ${gd.latency.tailDecisionPairs} pairs before promoting`,
    ];
    collecting = true;
    suspectNow = true;
  } else [verdict, reason] = ['Pass', input.final ? 'all guards pass' : 'all guards within tolerance (the last step needs them confident)'];
  const out: Evaluation = {
    verdict,
    guards,
    reason,
    blue: summarize(probes.record.arms.blue),
    green: summarize(probes.record.arms.green),
    pairs: { record: probes.record.pairs, window: probes.window.pairs },
  };
  if (verdict === 'Inconclusive' && waiting && !fails.length) out.wait = waiting.wait;
  else if (verdict === 'Inconclusive' && collecting) out.collecting = true;
  if (suspectNow) out.tailSuspect = true;
  return out;
}
