/**
 * The verdict: compares green (new model) with blue (current) on cumulative per-arm stats.
 * Pure and deterministic (no I/O, Date, Math.random, Node built-ins): safe in Temporal workflow
 * code. Inputs and outputs are plain, compact JSON. What to do with a verdict (advance / hold /
 * rollback) is policy and lives in the workflow. Methods and guarantees: src/decision/README.md.
 */
import { judged, summarize, type ArmStats, type ArmSummary } from './arm-stats';
import { bernoulliCS, CHECK_MIX, normalMixtureHalfWidth, quantileRankBounds, RATE_MIX, type Mix } from './cs';
import { histogramQuantile, quantileBoundsFromRanks } from './histogram';
import type { Guards } from './guards-schema';
import { fmtConfidence, fmtMs, fmtPercent, fmtPp, fmtRatio, fmtUsd } from '../format';

export type Verdict = 'Pass' | 'Fail' | 'Inconclusive';

export type GuardName =
  | 'errorRate'
  | 'errorCeiling'
  | 'latencyP99'
  | 'latencyP50'
  | 'cost'
  | 'spendCap'
  | 'checks'
  | 'rateLimit';

export interface GuardResult {
  guard: GuardName;
  verdict: Verdict;
  observed: number;
  threshold: number;
  /** One line for a human in the Web UI, with the numbers. */
  detail: string;
  /** Confidence-sequence bounds on `observed` where the guard has them (added field). */
  lower?: number;
  upper?: number;
}

export interface Evaluation {
  verdict: Verdict;
  guards: GuardResult[];
  /** One line: why Fail / why Inconclusive / 'all guards pass'. */
  reason: string;
  /** Set when green's 429 share holds the step (wait for capacity, don't count as errors). */
  greenRateLimitedHold?: boolean;
  /** Point summaries of both arms, for display (added field). */
  blue: ArmSummary;
  green: ArmSummary;
}

export interface EvaluateInput {
  blue: ArmStats;
  green: ArmStats;
  guards: Guards;
  /** Green's spend over the whole rollout, if tracked outside these stats; default green.costUsd. */
  greenSpendUsd?: number;
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
  guard: 'errorRate' | 'checks',
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
  return { guard, verdict, observed: d, threshold: tol, lower, upper, detail };
}

function ceilingGuard(green: ArmStats, g: Guards): GuardResult {
  const n = judged(green);
  const x = green.errors;
  const ci = bernoulliCS(x, n, g.alpha, RATE_MIX);
  const p = n > 0 ? x / n : 0;
  let verdict: Verdict;
  let why: string;
  if (ci.lo > g.maxErrorRate) {
    verdict = 'Fail';
    why = 'lower bound above ceiling';
  } else if (n < g.minSamples) {
    verdict = 'Inconclusive';
    why = `collecting samples (need ${g.minSamples})`;
  } else if (p > g.maxErrorRate) {
    verdict = 'Inconclusive';
    why = 'estimate above ceiling, not yet significant';
  } else {
    verdict = 'Pass';
    why = 'estimate below ceiling';
  }
  const detail =
    `error ceiling: green ${fmtPercent(p)} (${x}/${n}), ${fmtConfidence(g.alpha)} CS [${fmtPercent(ci.lo)}, ${fmtPercent(ci.hi)}], ` +
    `ceiling ${fmtPercent(g.maxErrorRate)} → ${verdict}: ${why}`;
  return { guard: 'errorCeiling', verdict, observed: p, threshold: g.maxErrorRate, lower: ci.lo, upper: ci.hi, detail };
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
  guard: 'latencyP99' | 'latencyP50' | 'cost',
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
  const out: GuardResult = { guard, verdict, observed: finite(r), threshold: k, detail: describe(r, lower, upper, verdict, why) };
  if (Number.isFinite(lower)) out.lower = lower;
  if (Number.isFinite(upper)) out.upper = upper; // omitted when unbounded (JSON has no Infinity)
  return out;
}

function latencyGuard(blue: ArmStats, green: ArmStats, gd: Guards, tau: number, t: number): GuardResult {
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
  const name = tau === 0.99 ? 'p99' : tau === 0.5 ? 'p50' : `q${tau}`;
  return ratioGuard(tau === 0.99 ? 'latencyP99' : 'latencyP50', g, b, t, enough, true, (r, lo, hi, v, why) =>
    `latency ${name}: green ${fmtMs(g.point)} [${fmtMs(g.lo)}, ${fmtMs(g.hi)}] (n=${green.latency.count}) vs blue ${fmtMs(b.point)} ` +
    `[${fmtMs(b.lo)}, ${fmtMs(b.hi)}] (n=${blue.latency.count}): ${fmtRatio(r)}, ${fmtConfidence(gd.alpha)} bounds [${fmtRatio(lo)}, ${fmtRatio(hi)}], ` +
    `tolerance ${fmtRatio(1 + t)} → ${v}: ${why}`,
  );
}

function costGuard(blue: ArmStats, green: ArmStats, gd: Guards): GuardResult {
  const half = gd.alpha / 2;
  const arm = (s: ArmStats): Bounded => {
    const n = s.requests;
    if (n === 0 || s.successes === 0) return { point: 0, lo: 0, hi: Infinity };
    const m = s.costUsd / n;
    // Floor the variance at a 10% coefficient of variation: identical costs (fixed prompts hitting
    // max_tokens) would otherwise give zero-width bounds and a "confident" verdict after two requests.
    const v = Math.max(n > 1 ? Math.max(0, ((s.costSqUsd ?? 0) - n * m * m) / (n - 1)) : 0, (0.1 * m) ** 2);
    const h = normalMixtureHalfWidth(n, v, half);
    const f = s.successes / n; // cost per success = mean cost per request / success fraction
    return { point: m / f, lo: Math.max(0, m - h) / f, hi: (m + h) / f };
  };
  const g = arm(green);
  const b = arm(blue);
  const t = gd.cost.maxIncrease;
  const enough = green.successes >= gd.minSamples && blue.successes >= gd.minSamples;
  if (enough && b.point === 0 && g.point === 0) {
    return { guard: 'cost', verdict: 'Pass', observed: 1, threshold: 1 + t, detail: 'cost: no cost recorded on either arm → Pass' };
  }
  if (enough && b.point === 0) {
    // Blue has no price (a model missing from the catalog): there is nothing to compare against, and
    // a rollout must not fail on missing price data. The spend cap still applies.
    return { guard: 'cost', verdict: 'Pass', observed: 1, threshold: 1 + t, detail: 'cost: blue has no recorded cost (unpriced in the catalog?) → Pass: not compared' };
  }
  return ratioGuard('cost', g, b, t, enough, false, (r, lo, hi, v, why) =>
    `cost per success: green ${fmtUsd(g.point)} vs blue ${fmtUsd(b.point)}: ${fmtRatio(r)}, ${fmtConfidence(gd.alpha)} bounds ` +
    `[${fmtRatio(lo)}, ${fmtRatio(hi)}], tolerance ${fmtRatio(1 + t)} → ${v}: ${why}`,
    true,
  );
}

function spendCapGuard(green: ArmStats, cap: number, spend: number): GuardResult {
  const verdict: Verdict = spend > cap ? 'Fail' : 'Pass';
  return {
    guard: 'spendCap',
    verdict,
    observed: spend,
    threshold: cap,
    detail: `green spend ${fmtUsd(spend)} of cap ${fmtUsd(cap)} (${green.requests} green requests) → ${verdict}`,
  };
}

function rateLimitGuard(green: ArmStats, maxShare: number): GuardResult {
  const share = green.requests > 0 ? green.rateLimited / green.requests : 0;
  const verdict: Verdict = share > maxShare ? 'Inconclusive' : 'Pass';
  return {
    guard: 'rateLimit',
    verdict,
    observed: share,
    threshold: maxShare,
    detail:
      `green 429s: ${fmtPercent(share)} (${green.rateLimited}/${green.requests}), hold above ${fmtPercent(maxShare)} → ${verdict}` +
      (verdict === 'Inconclusive' ? ': green is rate-limited, hold the step and wait for capacity (429s are not errors)' : ''),
  };
}

export function evaluate(input: EvaluateInput): Evaluation {
  const { blue, green, guards: gd } = input;
  const results: GuardResult[] = [];
  results.push(
    proportionGuard('errorRate', 'error rate', green.errors, judged(green), blue.errors, judged(blue),
      gd.maxErrorRateIncrease, gd.alpha, gd.minSamples, RATE_MIX),
  );
  results.push(ceilingGuard(green, gd));
  if (gd.latency.enabled) {
    results.push(latencyGuard(blue, green, gd, 0.99, gd.latency.p99Tolerance));
    if (gd.latency.p50Tolerance != null) results.push(latencyGuard(blue, green, gd, 0.5, gd.latency.p50Tolerance));
  }
  if (gd.cost.enabled) results.push(costGuard(blue, green, gd));
  if (gd.cost.spendCapUsd != null) {
    results.push(spendCapGuard(green, gd.cost.spendCapUsd, input.greenSpendUsd ?? green.costUsd));
  }
  const ncg = green.checks.passed + green.checks.failed;
  const ncb = blue.checks.passed + blue.checks.failed;
  if (gd.checks.enabled && ncg + ncb > 0) {
    results.push(
      proportionGuard('checks', 'golden-check failures', green.checks.failed, ncg, blue.checks.failed, ncb,
        gd.checks.maxFailRateIncrease, gd.alpha, gd.minSamples, CHECK_MIX),
    );
  }
  const rl = rateLimitGuard(green, gd.rateLimit.maxGreenShare);
  results.push(rl);

  const fails = results.filter((r) => r.verdict === 'Fail');
  const incs = results.filter((r) => r.verdict === 'Inconclusive');
  let verdict: Verdict;
  let reason: string;
  if (fails.length > 0) {
    verdict = 'Fail';
    reason = fails.map((r) => r.detail).join(' | ');
  } else if (incs.length > 0) {
    verdict = 'Inconclusive';
    reason = incs.map((r) => r.detail).join(' | ');
  } else {
    verdict = 'Pass';
    reason = 'all guards pass';
  }
  const out: Evaluation = { verdict, guards: results, reason, blue: summarize(blue), green: summarize(green) };
  if (verdict === 'Inconclusive' && rl.verdict === 'Inconclusive') out.greenRateLimitedHold = true;
  return out;
}
