/**
 * Always-valid (time-uniform) confidence sequences used by the verdict guards.
 *
 * Pure and deterministic: only Math.log/exp/sqrt and loops, no I/O, no randomness — safe to run
 * inside Temporal workflow code and to replay.
 *
 * 1. Bernoulli rates (errors, check failures, quantile ranks): Robbins' beta-binomial mixture
 *    martingale. For a stream of n Bernoulli(p) draws with s ones,
 *        M_n(p) = B(a + s, b + n - s) / B(a, b)  /  ( p^s (1 - p)^(n - s) )
 *    is a nonnegative martingale with M_0 = 1 under p, so by Ville's inequality
 *    P(exists n: M_n(p) >= 1/alpha) <= alpha. The confidence sequence is {p : M_n(p) < 1/alpha}:
 *    valid simultaneously for every n, i.e. however often (and whenever) the workflow looks.
 *    It is exact (no normal approximation), so it behaves well at 1 error in 10 requests and at
 *    error rates near 0 — where Hoeffding/sub-Gaussian bounds are several times too wide.
 *    Mixing distributions (the "mixing parameter"): see RATE_MIX / CHECK_MIX / QUANTILE_MIX below.
 *    Reference: Robbins (1970); Howard, Ramdas, McAuliffe, Sekhon (2021) "Time-uniform, nonparametric,
 *    nonasymptotic confidence sequences", Ann. Statist., §3 (beta-binomial mixture).
 *
 * 2. Means of unbounded costs: the two-sided normal-mixture boundary of Howard et al. (2021, eq. 14)
 *    applied with the empirical variance — an asymptotic confidence sequence in the sense of
 *    Waudby-Smith, Arnold, Wu, Howard, Ramdas (2021) "Time-uniform central limit theory".
 */

/**
 * A mixing distribution: a weighted sum of Beta(a, b) components (a mixture of martingales with
 * weights summing to 1 is again a martingale with initial value 1, so validity is unaffected;
 * the mixture only decides where the sequence is tightest).
 */
export type Mix = readonly { w: number; a: number; b: number }[];
/**
 * Error rates: 90% Beta(1, 50) (mean 2%: tight where LLM error rates live, 0.5–10%) and 10%
 * Jeffreys Beta(1/2, 1/2) (keeps the sequence reasonable if an arm runs at 20–50% errors).
 */
export const RATE_MIX: Mix = [
  { w: 0.9, a: 1, b: 50 },
  { w: 0.1, a: 0.5, b: 0.5 },
];
/** Golden-check fail rates: no prior idea of their level, Jeffreys. */
export const CHECK_MIX: Mix = [{ w: 1, a: 0.5, b: 0.5 }];
/** Quantile-rank streams 1[X <= q_tau]: Jeffreys. */
export const QUANTILE_MIX: Mix = [{ w: 1, a: 0.5, b: 0.5 }];

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15). */
export function lgamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) sum += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

export function logBeta(a: number, b: number): number {
  return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/** log M_n(p) for s ones out of n (0 < p < 1) under the mixing distribution `mix`. */
export function logMixture(s: number, n: number, p: number, mix: Mix = RATE_MIX): number {
  const f = n - s;
  const ll = (s > 0 ? s * Math.log(p) : 0) + (f > 0 ? f * Math.log(1 - p) : 0);
  return logMarginal(s, n, mix) - ll;
}

/** log Σ_k w_k B(a_k + s, b_k + n − s) / B(a_k, b_k): the mixture's marginal likelihood, which does not depend on p. */
export function logMarginal(s: number, n: number, mix: Mix = RATE_MIX): number {
  const f = n - s;
  let max = -Infinity;
  const terms = mix.map((c) => {
    const t = Math.log(c.w) + logBeta(c.a + s, c.b + f) - logBeta(c.a, c.b);
    if (t > max) max = t;
    return t;
  });
  let sum = 0;
  for (const t of terms) sum += Math.exp(t - max);
  return max + Math.log(sum);
}

export interface Interval {
  lo: number;
  hi: number;
}

/**
 * Time-uniform (1 - alpha) confidence sequence for a Bernoulli rate after s ones out of n.
 * Returns [0, 1] for n = 0. Found by bisection (60 halvings: deterministic, ~1e-18 precision).
 */
export function bernoulliCS(s: number, n: number, alpha: number, mix: Mix = RATE_MIX): Interval {
  if (!(n > 0)) return { lo: 0, hi: 1 };
  const thr = Math.log(1 / alpha);
  const pHat = s / n;
  // The marginal is the same for every p: computed once, the bisection then costs two logs a step.
  const marginal = logMarginal(s, n, mix);
  const f = n - s;
  const outside = (p: number) => marginal - ((s > 0 ? s * Math.log(p) : 0) + (f > 0 ? f * Math.log(1 - p) : 0)) >= thr;
  let lo = 0;
  if (s > 0 && outside(1e-300)) {
    let a = 1e-300; // outside
    let b = pHat; // inside (M(pHat) <= 1 < 1/alpha)
    for (let i = 0; i < 48; i++) {
      const m = (a + b) / 2;
      if (outside(m)) a = m;
      else b = m;
    }
    lo = a;
  }
  let hi = 1;
  if (s < n && outside(1 - 1e-16)) {
    let a = pHat; // inside
    let b = 1 - 1e-16; // outside
    for (let i = 0; i < 48; i++) {
      const m = (a + b) / 2;
      if (outside(m)) b = m;
      else a = m;
    }
    hi = b;
  }
  return { lo, hi };
}

/**
 * For the tau-quantile of a continuous distribution, S_n = #{X_i <= q_tau} ~ Binomial(n, tau).
 * Returns the integer range [sLo, sHi] of counts s for which tau lies inside the Bernoulli
 * confidence sequence (log M_n(tau; s) < log 1/alpha); with probability >= 1 - alpha, S_n stays
 * in this range for every n. Then q_tau >= X_(sLo) and q_tau < X_(sHi + 1) (order statistics;
 * X_(0) = 0, X_(n+1) = +inf) — a time-uniform, rank-based (outlier-robust) bound on the quantile.
 */
export function quantileRankBounds(n: number, tau: number, alpha: number): { sLo: number; sHi: number } {
  if (n <= 0) return { sLo: 0, sHi: 0 };
  const thr = Math.log(1 / alpha);
  const f = (s: number) => logMixture(s, n, tau, QUANTILE_MIX);
  // log M is convex in s with its minimum near n*tau; M(s*) <= 1 so s* is inside.
  const mid = Math.min(n, Math.max(0, Math.round(n * tau)));
  // lower end: smallest s in [0, mid] with f(s) < thr
  let sLo: number;
  if (f(0) < thr) sLo = 0;
  else {
    let a = 0; // outside
    let b = mid; // inside
    while (b - a > 1) {
      const m = Math.floor((a + b) / 2); // not (a + b) >> 1: that wraps past 2^31
      if (f(m) >= thr) a = m;
      else b = m;
    }
    sLo = b;
  }
  let sHi: number;
  if (f(n) < thr) sHi = n;
  else {
    let a = mid; // inside
    let b = n; // outside
    while (b - a > 1) {
      const m = Math.floor((a + b) / 2); // not (a + b) >> 1: that wraps past 2^31
      if (f(m) >= thr) b = m;
      else a = m;
    }
    sHi = a;
  }
  return { sLo, sHi };
}

/**
 * Half-width of the two-sided normal-mixture confidence sequence for a mean after n observations
 * with (empirical) variance v: |mean_n - mu| < sqrt((n v + rho) * log((n v + rho) / (rho * alpha^2))) / n.
 * rho = v * rhoSamples makes the boundary tightest around n ≈ rhoSamples * 2 log(1/alpha).
 */
export function normalMixtureHalfWidth(n: number, v: number, alpha: number, rhoSamples = 50): number {
  if (n <= 1) return Infinity;
  const vv = Math.max(v, 1e-300);
  const V = n * vv;
  const rho = vv * rhoSamples;
  return Math.sqrt((V + rho) * Math.log((V + rho) / (rho * alpha * alpha))) / n;
}
