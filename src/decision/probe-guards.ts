/**
 * Guards on paired probe evidence (./paired). Each returns one GuardResult with its numbers on one line.
 * All bounds are time-uniform (./cs): valid however often the rollout looks. Methods: ./README.md.
 */
import { fmtConfidence, fmtMs, fmtPercent, fmtPp, fmtRatio, fmtUsd } from '../format';
import { normalMixtureHalfWidth } from './cs';
import type { Guards } from './guards-schema';
import { histogramQuantile } from './histogram';
import { diffBounds, factorOf, type DiffCounts, type ProbeEvidence } from './paired';
import type { GuardName, GuardResult, Verdict } from './verdict';

type Scope = 'record' | 'window';

/**
 * Is green's tail heavier than blue's? Looked at once, when the last step would otherwise promote: more
 * green-only than blue-only exceedances of blue's p95 (the shoulder, where a heavier tail shows first) or
 * of its tail quantile, by a one-sided sign test at z ≥ 1.28 (10 % each). A false suspicion costs only more
 * probes — the decision is then taken on a record of latency.tailDecisionPairs pairs — a missed one promotes.
 */
const SUSPECT_Z = 1.28;

export function tailLooksHeavier(e: ProbeEvidence, tailQuantile: number): boolean {
  const z = (c: DiffCounts) => (c.gOnly + c.bOnly > 0 ? (c.gOnly - c.bOnly) / Math.sqrt(c.gOnly + c.bOnly) : 0);
  const more = z(e.latency.shoulder.x1) >= SUSPECT_Z || z(e.latency.tail.x1) >= SUSPECT_Z;
  return more && tailRatio(e, tailQuantile) > 1.05;
}

/**
 * Green's tail quantile over blue's, estimated robustly: the geometric mean of the ratios at four
 * quantiles around it (for p99: 0.98, 0.985, 0.99, 0.995) — a single extreme quantile of a heavy tail
 * moves a lot from one answer to the next.
 */
export function tailRatio(e: ProbeEvidence, q: number): number {
  const qs = [q - 0.01, q - 0.005, q, Math.min(0.999, q + 0.005)].filter((x) => x > 0.5 && x < 1);
  let logSum = 0;
  for (const x of qs) {
    const b = histogramQuantile(e.arms.blue.latency, x);
    const g = histogramQuantile(e.arms.green.latency, x);
    if (!(b > 0 && g > 0)) return 1;
    logSum += Math.log(g / b);
  }
  return Math.exp(logSum / qs.length);
}

/**
 * A difference of rates (green − blue per pair) against tolerance δ:
 *   Fail  if  lower > δ                                   (confidently beyond tolerance; any n)
 *         or  (record) n ≥ minSamples, green significantly worse (sign test) and estimate > 1.5 δ
 *             (halfway into the indifference zone: a green truly worse but within tolerance must not
 *             fail because its estimate crossed δ at one of many looks)
 *   Pass  if  n ≥ minSamples && (upper ≤ δ || (upper < 2δ && estimate ≤ δ))
 * Guarantees at any stopping time: P(Fail | green no worse) ≤ α, P(Pass | green worse by ≥ 2δ) ≤ α.
 */
export function differenceGuard(
  guard: GuardName,
  what: string,
  acc: DiffCounts,
  tol: number,
  gd: Guards,
  scope: Scope,
  alpha = gd.alpha,
): GuardResult {
  const b = diffBounds(acc, alpha);
  const d = b.estimate;
  const enough = acc.n >= gd.minSamples;
  let verdict: Verdict;
  let why: string;
  if (acc.n > 0 && b.lo > tol) [verdict, why] = ['Fail', 'confidently above tolerance'];
  // the estimate is read on the whole record only: a step's small window crosses δ by chance too often
  else if (scope === 'record' && enough && b.worse && d > 1.5 * tol)
    [verdict, why] = ['Fail', 'green significantly worse than blue, by well over the tolerance'];
  else if (!enough) [verdict, why] = ['Inconclusive', `collecting pairs (${acc.n} of ${gd.minSamples})`];
  else if (b.hi <= tol) [verdict, why] = ['Pass', 'confidently within tolerance'];
  else if (b.hi < 2 * tol && d <= tol) [verdict, why] = ['Pass', `within tolerance; an increase of ${fmtPp(2 * tol)} or more excluded`];
  else [verdict, why] = ['Inconclusive', 'not enough evidence either way'];
  const detail =
    `${what}${scope === 'window' ? ' (this step)' : ''}: green − blue ${fmtPp(acc.n ? d : 0)} over ${acc.n} pairs, ` +
    `${fmtConfidence(alpha)} CS [${fmtPp(acc.n ? b.lo : -1)}, ${fmtPp(acc.n ? b.hi : 1)}], tolerance ${fmtPp(tol)} → ${verdict}: ${why}`;
  return {
    guard,
    verdict,
    scope,
    observed: acc.n ? d : 0,
    threshold: tol,
    lower: b.lo,
    upper: b.hi,
    within: acc.n === 0 || d <= tol,
    worse: b.worse,
    detail,
  };
}

/** What green adds to blue's error rate, against the absolute ceiling: Fail only, at any n. */
export function ceilingGuard(e: ProbeEvidence, gd: Guards, scope: Scope): GuardResult {
  const b = diffBounds(e.errors, gd.alpha);
  const verdict: Verdict = e.errors.n > 0 && b.lo > gd.maxErrorRate ? 'Fail' : 'Pass';
  const detail =
    `error ceiling${scope === 'window' ? ' (this step)' : ''}: green adds ${fmtPp(e.errors.n ? b.estimate : 0)} to blue's errors, lower bound ` +
    `${fmtPp(e.errors.n ? b.lo : -1)}, ceiling ${fmtPp(gd.maxErrorRate)} → ${verdict}`;
  return { guard: 'errorCeiling', verdict, scope, observed: e.errors.n ? b.estimate : 0, threshold: gd.maxErrorRate, lower: b.lo, detail };
}

/**
 * A latency quantile (p50 or the tail), green against blue with tolerance t, from exceedances of blue's
 * threshold τ by pair (X_F = 1[green > F·τ] − 1[blue > τ]; mean > 0 ⇔ green's quantile above F × blue's),
 * judged on discordant pairs (./paired diffBounds).
 * p50 — plenty of evidence, so confident routes only:
 *   Fail  if  green's p50 confidently above (1+t) × blue's
 *   Pass  if  n ≥ minSamples, ratio ≤ 1+t, and green's p50 confidently below (1+t) or (1+t)² × blue's
 * tail — a p99 takes thousands of pairs to bound, so the tail is screened, then judged when suspect:
 *   Fail  if  green's tail confidently above (1+t) × blue's; or (record) confidently above √(1+t) × blue's
 *             with the estimated ratio above (1+t)^1.5 (a big regression, caught early)
 *   hold  once the tail is suspect (tailLooksHeavier, checked before promoting), until the record has
 *         latency.tailDecisionPairs pairs; then Fail if the estimated ratio is above 1+t, else Pass
 *   Pass  otherwise (the tail never holds a step without evidence)
 */
export function latencyGuard(e: ProbeEvidence, gd: Guards, level: 'p50' | 'tail', scope: Scope, tailSuspect = false): GuardResult {
  const t = level === 'p50' ? (gd.latency.p50Tolerance ?? 0) : gd.latency.tailTolerance;
  const q = level === 'p50' ? 0.5 : gd.latency.tailQuantile;
  const acc = e.latency[level];
  const n = acc.x1.n;
  const bq = histogramQuantile(e.arms.blue.latency, q);
  const gq = histogramQuantile(e.arms.green.latency, q);
  const ratio = level === 'tail' ? tailRatio(e, q) : bq > 0 && gq > 0 ? gq / bq : 1;
  const at = (k: keyof typeof acc) => diffBounds(acc[k], gd.alpha);
  const k = 1 + t;
  const tol = at('tol');
  const enough = n >= gd.minSamples;
  const name = level === 'p50' ? 'p50' : `p${Math.round(q * 1000) / 10}`;
  let verdict: Verdict;
  let why: string;
  let collecting = false;
  if (n > 0 && tol.worse && tol.estimate > 0) [verdict, why] = ['Fail', `green's ${name} confidently above ${fmtRatio(k)} blue's`];
  else if (level === 'p50') {
    if (!enough) [verdict, why] = ['Inconclusive', `collecting pairs (${n} of ${gd.minSamples})`];
    else if (ratio <= k && (tol.better || at('tol2').better))
      [verdict, why] = ['Pass', `within tolerance (${fmtRatio(tol.better ? k : k * k)} or more excluded)`];
    else [verdict, why] = ['Inconclusive', 'not enough evidence either way'];
  } else if (scope === 'record' && at('half').worse && ratio > k ** 1.5) {
    [verdict, why] = ['Fail', `green's ${name} confidently above ${fmtRatio(factorOf('half', t))} blue's, estimate ${fmtRatio(ratio)}`];
  } else if (!tailSuspect) [verdict, why] = ['Pass', `no sign of a tail beyond tolerance`];
  else if (scope === 'window') [verdict, why] = ['Pass', 'judged on the whole record'];
  else if (n >= gd.latency.tailDecisionPairs / 2 && n < gd.latency.tailDecisionPairs && ratio <= Math.sqrt(k)) {
    [verdict, why] = ['Pass', `suspect tail cleared at half the decision record: ${fmtRatio(ratio)} over ${n} pairs`];
  } else if (n >= gd.latency.tailDecisionPairs / 2 && ratio >= k ** 2) {
    [verdict, why] = ['Fail', `suspect tail beyond tolerance at half the decision record: ${fmtRatio(ratio)} over ${n} pairs`];
  } else if (n < gd.latency.tailDecisionPairs) {
    [verdict, why] = [
      'Inconclusive',
      `green's tail looks heavier than blue's: collecting ${gd.latency.tailDecisionPairs} pairs to judge by how much (${n} so far)`,
    ];
    collecting = true;
  } else if (ratio > k) [verdict, why] = ['Fail', `green's tail heavier than blue's, by ${fmtRatio(ratio)} over ${n} pairs`];
  else [verdict, why] = ['Pass', `green's tail a little heavier than blue's, within tolerance (${fmtRatio(ratio)} over ${n} pairs)`];
  const guard: GuardName = level === 'p50' ? 'latencyP50' : 'latencyTail';
  const detail =
    `latency ${name}${scope === 'window' ? ' (this step)' : ''}: green ${fmtMs(gq)} vs blue ${fmtMs(bq)} (${fmtRatio(ratio)}) over ${n} pairs; ` +
    `green over ${fmtRatio(k)} blue's ${name} minus blue over it: ${fmtPp(n ? tol.estimate : 0)} [${fmtPp(n ? tol.lo : -1)}, ${fmtPp(n ? tol.hi : 1)}], ` +
    `tolerance ${fmtRatio(k)} → ${verdict}: ${why}`;
  // A tail quantile of a step's window (a hundred pairs) is too noisy to gate a step on its estimate.
  const within = level === 'tail' ? undefined : ratio <= k;
  return {
    guard,
    verdict,
    scope,
    observed: ratio,
    threshold: k,
    lower: tol.lo,
    upper: tol.hi,
    within,
    detail,
    ...(collecting ? { collecting } : {}),
  };
}

/**
 * Probe cost per pair, green against blue (1 + t): the mean of c_g − k·c_b per pair both answered, with the
 * normal-mixture boundary on its empirical variance (floored at a 10 % CV of blue's cost).
 *   Fail  if  n ≥ minSamples && lower(c_g − k c_b) > 0, or lower(c_g − c_b) > 0 && ratio > k
 *   Pass  if  n ≥ minSamples && (upper(c_g − k c_b) < 0 || (upper(c_g − k² c_b) < 0 && ratio ≤ k))
 * An arm missing from the price catalog is not compared (the guard says so: unpriced).
 */
/** Paired sums for a ratio of means: pairs, green's and blue's sums, their squares and cross product. */
export interface RatioSums {
  n: number;
  g: number;
  b: number;
  gg: number;
  bb: number;
  gb: number;
}

/**
 * Green's mean over blue's (a ratio of means: cost per pair, output tokens per pair) against k = 1 + t,
 * from the normal-mixture bound on the mean of g − f·b at f = k, 1 and k²:
 *   Fail  if  n ≥ minSamples and (lower(k) > 0, or lower(1) > 0 and the ratio > k^1.5)
 *   Pass  if  n ≥ minSamples and (upper(k) < 0, or upper(k²) < 0 and the ratio ≤ k)
 * `varianceFloor` keeps the bound finite when every pair has the same value (the length guard's).
 */
export function ratioOfMeans(
  c: RatioSums,
  k: number,
  gd: Guards,
  worse: string,
  varianceFloor = 0,
): { ratio: number; verdict: Verdict; why: string } {
  const ratio = c.b > 0 ? c.g / c.b : c.g > 0 ? Infinity : 1;
  const bound = (f: number) => {
    if (c.n < 2) return { lo: -Infinity, hi: Infinity };
    const mean = (c.g - f * c.b) / c.n;
    const v = Math.max((c.gg - 2 * f * c.gb + f * f * c.bb) / c.n - mean * mean, (0.1 * (c.b / c.n)) ** 2, varianceFloor);
    const h = normalMixtureHalfWidth(c.n, v, gd.alpha);
    return { lo: mean - h, hi: mean + h };
  };
  const [atK, at1, atK2] = [bound(k), bound(1), bound(k * k)];
  const enough = c.n >= gd.minSamples;
  let verdict: Verdict;
  let why: string;
  if (enough && atK.lo > 0) [verdict, why] = ['Fail', 'confidently above tolerance'];
  else if (enough && at1.lo > 0 && ratio > k ** 1.5) [verdict, why] = ['Fail', `green significantly ${worse}, by well over the tolerance`];
  else if (!enough) [verdict, why] = ['Inconclusive', `collecting pairs (${c.n} of ${gd.minSamples})`];
  else if (atK.hi < 0) [verdict, why] = ['Pass', 'confidently within tolerance'];
  else if (atK2.hi < 0 && ratio <= k) [verdict, why] = ['Pass', `within tolerance; ${fmtRatio(k * k)} or more excluded`];
  else [verdict, why] = ['Inconclusive', 'not enough evidence either way'];
  return { ratio, verdict, why };
}

export function costGuard(e: ProbeEvidence, gd: Guards, scope: Scope): GuardResult {
  const c = e.cost;
  const t = gd.cost.maxIncrease;
  const k = 1 + t;
  if (c.unpricedPairs > 0 && c.n === 0) {
    const detail = `cost${scope === 'window' ? ' (this step)' : ''}: not compared — an arm is unpriced in the worker's catalog (add it to MODELSHIFT_CATALOG)`;
    return { guard: 'cost', verdict: 'Pass', scope, observed: 1, threshold: k, unpriced: true, detail };
  }
  const { ratio, verdict, why } = ratioOfMeans(c, k, gd, 'dearer');
  const per = (x: number) => fmtUsd(c.n ? x / c.n : 0);
  const detail = `cost${scope === 'window' ? ' (this step)' : ''}: green ${per(c.g)} vs blue ${per(c.b)} per pair (${fmtRatio(ratio)}) over ${c.n} pairs, tolerance ${fmtRatio(k)} → ${verdict}: ${why}`;
  return {
    guard: 'cost',
    verdict,
    scope,
    observed: Number.isFinite(ratio) ? ratio : Number.MAX_VALUE,
    threshold: k,
    within: ratio <= k,
    detail,
  };
}

/** Golden checks per prompt: one broken prompt type fails the rollout. Bonferroni over the prompts judged; Fail only. */
export function promptChecksGuard(e: ProbeEvidence, gd: Guards, prompts: readonly string[], scope: Scope): GuardResult | undefined {
  const entries = Object.entries(e.checks.byPrompt).filter(([, acc]) => acc.n > 0);
  if (entries.length < 2) return undefined; // one prompt: the pooled guard is the same test
  const alpha = gd.alpha / entries.length;
  const tol = gd.checks.maxFailRateIncrease;
  const minPairs = Math.max(10, Math.ceil(gd.minSamples / entries.length));
  const results = entries.map(([p, acc]) => ({
    p,
    g: differenceGuard('checks', 'x', acc, tol, { ...gd, minSamples: minPairs }, scope, alpha),
  }));
  const failing = results.filter((r) => r.g.verdict === 'Fail');
  const worst = [...results].sort((a, b) => b.g.observed - a.g.observed)[0];
  const label = (p: string) => prompts[Number(p)] ?? `prompt ${p}`;
  const verdict: Verdict = failing.length ? 'Fail' : 'Pass';
  const shown = failing[0] ?? worst;
  const detail =
    `golden checks by prompt${scope === 'window' ? ' (this step)' : ''} (${entries.length} prompts, ${fmtConfidence(gd.alpha)} overall): ` +
    `${failing.length ? `${failing.length} failing, e.g.` : 'worst'} ${label(shown.p)}: green − blue ${fmtPp(shown.g.observed)} ` +
    `[${fmtPp(shown.g.lower ?? -1)}, ${fmtPp(shown.g.upper ?? 1)}] over ${e.checks.byPrompt[shown.p].n} pairs, tolerance ${fmtPp(tol)} → ${verdict}`;
  return { guard: 'promptChecks', verdict, scope, observed: shown.g.observed, threshold: tol, detail };
}

/**
 * Share of a round's pairs refused with 429 on both arms above which the step waits for the gateway:
 * so few pairs get through that the step would crawl (the worker paces itself down meanwhile).
 */
export const SHARED_LIMIT_SHARE = 0.5;

/**
 * Waits that are nobody's fault, from the last round: green's own capacity (its 429 share exceeds
 * blue's by more than maxGreenShare), the gateway refusing both arms (429s on most pairs), or a shared
 * outage (both arms failing). 429s are never errors; pairs with one are not judged.
 */
export function waitGuards(e: ProbeEvidence, gd: Guards): GuardResult[] {
  const l = e.last;
  const out: GuardResult[] = [];
  const greenShare = l.sent > 0 ? l.greenRateLimited / l.sent : 0;
  const blueShare = l.sent > 0 ? l.blueRateLimited / l.sent : 0;
  const excess = greenShare - blueShare;
  const capacity = excess > gd.rateLimit.maxGreenShare;
  const shared = !capacity && Math.min(greenShare, blueShare) > SHARED_LIMIT_SHARE;
  const why = capacity
    ? "waiting for green's capacity (429s are not errors)"
    : shared
      ? "waiting for the gateway's rate limit: both arms refused on most pairs (the worker paces itself down)"
      : blueShare > 0 && greenShare > 0
        ? 'Pass: both arms limited alike (the gateway’s limit, not green’s)'
        : 'Pass';
  out.push({
    guard: 'rateLimit',
    verdict: capacity || shared ? 'Inconclusive' : 'Pass',
    scope: 'window',
    observed: excess,
    threshold: gd.rateLimit.maxGreenShare,
    wait: capacity ? 'capacity' : shared ? 'gateway' : undefined,
    detail:
      `429s in the last round: green ${fmtPercent(greenShare)}, blue ${fmtPercent(blueShare)} of ${l.sent} pairs; ` +
      `hold when green's exceeds blue's by over ${fmtPercent(gd.rateLimit.maxGreenShare)} → ${why}`,
  });
  const bothShare = l.pairs > 0 ? l.bothFailed / l.pairs : 0;
  const outage = bothShare > gd.gatewayHealth.maxBothFailedShare;
  out.push({
    guard: 'gatewayHealth',
    verdict: outage ? 'Inconclusive' : 'Pass',
    scope: 'window',
    observed: bothShare,
    threshold: gd.gatewayHealth.maxBothFailedShare,
    wait: outage ? 'gateway' : undefined,
    detail:
      `both arms failed ${fmtPercent(bothShare)} of the last round's ${l.pairs} pairs, hold above ${fmtPercent(gd.gatewayHealth.maxBothFailedShare)} → ` +
      (outage ? 'waiting for the gateway: a shared outage, not green' : 'Pass'),
  });
  return out;
}

/** Green's probe spend against the cap (USD). */
export function spendCapGuard(spendUsd: number, cap: number): GuardResult {
  const verdict: Verdict = spendUsd > cap ? 'Fail' : 'Pass';
  return {
    guard: 'spendCap',
    verdict,
    scope: 'record',
    observed: spendUsd,
    threshold: cap,
    detail: `green probe spend ${fmtUsd(spendUsd)} of cap ${fmtUsd(cap)} → ${verdict}`,
  };
}

/** The fewest judged pairs the judge's guard needs before it may pass (a few hundred mirrors at 20 %). */
export const JUDGE_MIN_PAIRS = 30;

/**
 * The LLM judge's net loss rate — (green lost − green won) / judged pairs, a paired difference like the
 * error rate — against guards.judge.maxLossRate. Used on shadow pairs and on probe pairs (record scope).
 */
export function judgeGuard(
  acc: DiffCounts & { asked?: number },
  microUsd: number,
  maxLossRate: number,
  gd: Guards,
  scope: Scope,
): GuardResult {
  const r = differenceGuard('judge', '', acc, maxLossRate, { ...gd, minSamples: Math.min(gd.minSamples, JUDGE_MIN_PAIRS) }, scope);
  const ties = acc.n - acc.gOnly - acc.bOnly;
  const detail =
    `the judge preferred blue in ${acc.gOnly}, green in ${acc.bOnly}, tied ${ties} of ${acc.n} judged pairs: net loss rate ${fmtPp(acc.n ? r.observed : 0)}, ` +
    `${fmtConfidence(gd.alpha)} CS [${fmtPp(acc.n ? (r.lower ?? -1) : -1)}, ${fmtPp(acc.n ? (r.upper ?? 1) : 1)}], max ${fmtPercent(maxLossRate)} → ${r.verdict}` +
    `${acc.asked && acc.asked > acc.n ? `; no verdict on ${acc.asked - acc.n} asked` : ''}; judge spend ${fmtUsd(microUsd / 1e6)}`;
  return { ...r, detail };
}
