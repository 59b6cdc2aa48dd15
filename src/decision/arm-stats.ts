/**
 * Per-arm running statistics: compact, plain JSON (fixed size however many requests they
 * summarize), mergeable, deterministic. Safe to import from Temporal workflow code.
 */
import { addLatency, emptyHistogram, histogramQuantile, mergeHistograms, NUM_BUCKETS, type LatencyHistogram } from './histogram';

export type { LatencyHistogram } from './histogram';

export type ErrorClass =
  | 'server'
  | 'timeout'
  | 'connection'
  | 'rate_limited'
  | 'auth'
  | 'not_found'
  | 'bad_request'
  | 'malformed'
  | 'check_failed'
  /** answered by another model than the one asked for (a gateway-side fallback): a failure of the arm asked */
  | 'substituted';

export interface Outcome {
  ok: boolean;
  errorClass?: ErrorClass;
  latencyMs: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Output validator result when the sample was a golden prompt. */
  check?: { passed: boolean };
}

export interface ArmStats {
  /** Every recorded outcome, 429s included. */
  requests: number;
  /** Completed responses (ok, or errorClass 'check_failed'). */
  successes: number;
  /** Failures that count against the arm; NOT 429s, NOT check failures (those are judged by `checks`). */
  errors: number;
  /** 429 responses: capacity, not quality — excluded from error rates. */
  rateLimited: number;
  /** Every non-ok outcome by class (rate_limited and check_failed included, for display). */
  errorsByClass: Partial<Record<ErrorClass, number>>;
  /** Latency of successes only, fixed log-spaced buckets. */
  latency: LatencyHistogram;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Sum of squared per-request cost (for the variance of the cost guard). Added field. */
  costSqUsd: number;
  checks: { passed: number; failed: number };
}

export function emptyArmStats(): ArmStats {
  return {
    requests: 0,
    successes: 0,
    errors: 0,
    rateLimited: 0,
    errorsByClass: {},
    latency: emptyHistogram(),
    inputTokens: 0,
    outputTokens: 0,
    costUsd: 0,
    costSqUsd: 0,
    checks: { passed: 0, failed: 0 },
  };
}

const num = (x: number) => (Number.isFinite(x) && x > 0 ? x : 0);

/**
 * Records one outcome. MUTATES `s` in place and returns the same object (activities call this
 * once per request; copying the histogram each time would be wasteful). Use mergeArmStats for a
 * non-mutating combination.
 *
 * Classification: rate_limited -> `rateLimited` (not an error, no latency); check_failed (or
 * ok with check.passed = false) -> a completed response whose output failed validation: counted
 * as a success (latency recorded) and in checks.failed, never in `errors`; any other non-ok ->
 * `errors` (errorClass defaults to 'server').
 */
export function recordOutcome(s: ArmStats, o: Outcome): ArmStats {
  s.requests += 1;
  s.inputTokens += num(o.inputTokens);
  s.outputTokens += num(o.outputTokens);
  const c = num(o.costUsd);
  s.costUsd += c;
  s.costSqUsd += c * c;
  const cls: ErrorClass | undefined = o.ok ? undefined : (o.errorClass ?? 'server');
  if (cls) s.errorsByClass[cls] = (s.errorsByClass[cls] ?? 0) + 1;
  if (cls === 'rate_limited') {
    s.rateLimited += 1;
    return s;
  }
  if (cls === 'check_failed' || o.ok) {
    s.successes += 1;
    addLatency(s.latency, o.latencyMs);
    const failed = cls === 'check_failed' ? true : o.check ? !o.check.passed : undefined;
    if (failed === true) s.checks.failed += 1;
    else if (failed === false) s.checks.passed += 1;
    return s;
  }
  s.errors += 1;
  if (o.check && o.check.passed === false) s.checks.failed += 1; // golden prompt that errored out
  return s;
}

/** Returns a NEW ArmStats (inputs untouched). Associative and commutative. */
export function mergeArmStats(a: ArmStats, b: ArmStats): ArmStats {
  const errorsByClass: Partial<Record<ErrorClass, number>> = { ...a.errorsByClass };
  for (const [k, v] of Object.entries(b.errorsByClass) as [ErrorClass, number][]) {
    errorsByClass[k] = (errorsByClass[k] ?? 0) + v;
  }
  return {
    requests: a.requests + b.requests,
    successes: a.successes + b.successes,
    errors: a.errors + b.errors,
    rateLimited: a.rateLimited + b.rateLimited,
    errorsByClass,
    latency: mergeHistograms(a.latency, b.latency),
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    costUsd: a.costUsd + b.costUsd,
    costSqUsd: (a.costSqUsd ?? 0) + (b.costSqUsd ?? 0),
    checks: { passed: a.checks.passed + b.checks.passed, failed: a.checks.failed + b.checks.failed },
  };
}

/**
 * Halve every count (rounding), keeping the stats consistent: requests = successes + errors + rateLimited
 * and the histogram's count = successes. Used to keep decision inputs bounded on long rollouts: live
 * evidence above a cap is decayed, so recent traffic weighs more and counts never grow without limit.
 */
export function halveArmStats(s: ArmStats): ArmStats {
  const half = (x: number) => Math.round(x / 2);
  const counts = s.latency.counts.map(half);
  const count = counts.reduce((a, b) => a + b, 0);
  const errors = half(s.errors);
  const rateLimited = half(s.rateLimited);
  const f = s.latency.count > 0 ? count / s.latency.count : 0;
  const errorsByClass: Partial<Record<ErrorClass, number>> = {};
  for (const [k, v] of Object.entries(s.errorsByClass) as [ErrorClass, number][]) errorsByClass[k] = half(v);
  const failed = Math.min(half(s.checks.failed), count + errors);
  return {
    requests: count + errors + rateLimited,
    successes: count,
    errors,
    rateLimited,
    errorsByClass,
    latency: { counts, count, sumMs: s.latency.sumMs * f, minMs: count ? s.latency.minMs : 0, maxMs: count ? s.latency.maxMs : 0 },
    inputTokens: half(s.inputTokens),
    outputTokens: half(s.outputTokens),
    costUsd: s.costUsd / 2,
    costSqUsd: (s.costSqUsd ?? 0) / 2,
    checks: { passed: Math.min(half(s.checks.passed), count + errors - failed), failed },
  };
}

/** `s`, halved until it holds at most `maxRequests` requests. */
export function boundArmStats(s: ArmStats, maxRequests: number): ArmStats {
  let out = s;
  while (out.requests > maxRequests) out = halveArmStats(out);
  return out;
}

/**
 * ArmStats as sent over the wire (routers' live batches): the same fields, with the latency histogram
 * as [bucket, count] pairs of its non-empty buckets instead of the dense array — a batch is a few hundred
 * bytes, so even a flood of them decodes quickly inside the workflow.
 */
export type WireArmStats = Omit<ArmStats, 'latency'> & {
  latency: Omit<LatencyHistogram, 'counts'> & { counts?: number[]; buckets?: [number, number][] };
};

export function toWireArmStats(s: ArmStats): WireArmStats {
  const buckets: [number, number][] = [];
  s.latency.counts.forEach((c, i) => c > 0 && buckets.push([i, c]));
  const { counts: _dense, ...latency } = s.latency;
  return { ...s, latency: { ...latency, buckets } };
}

/** Dense ArmStats from either wire form; `undefined` when the histogram is neither a dense array nor valid pairs. */
export function fromWireArmStats(w: WireArmStats): ArmStats | undefined {
  const { buckets, counts, ...rest } = w.latency;
  if (Array.isArray(counts) && buckets === undefined) return w as ArmStats;
  if (!Array.isArray(buckets) || counts !== undefined || buckets.length > NUM_BUCKETS) return undefined;
  const dense = new Array<number>(NUM_BUCKETS).fill(0);
  let last = -1;
  for (const pair of buckets) {
    if (!Array.isArray(pair) || pair.length !== 2) return undefined;
    const [i, c] = pair;
    if (!Number.isSafeInteger(i) || i <= last || i >= NUM_BUCKETS || !Number.isSafeInteger(c) || c <= 0) return undefined;
    dense[i] = c;
    last = i;
  }
  return { ...w, latency: { ...rest, counts: dense } };
}

/** Requests that got an answer (429s excluded): the denominator of the error rate. */
export function judged(s: ArmStats): number {
  return s.requests - s.rateLimited;
}

export interface ArmSummary {
  requests: number;
  errors: number;
  errorRate: number;
  rateLimited: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  avgLatencyMs: number;
  costPerSuccessUsd: number;
  checkFailRate: number;
}

/** Point summary for display. Rates are 0 and latencies 0 when there is no data (JSON has no NaN). */
export function summarize(s: ArmStats): ArmSummary {
  const n = judged(s);
  const nc = s.checks.passed + s.checks.failed;
  return {
    requests: s.requests,
    errors: s.errors,
    errorRate: n > 0 ? s.errors / n : 0,
    rateLimited: s.rateLimited,
    p50LatencyMs: s.latency.count > 0 ? histogramQuantile(s.latency, 0.5) : 0,
    p99LatencyMs: s.latency.count > 0 ? histogramQuantile(s.latency, 0.99) : 0,
    avgLatencyMs: s.latency.count > 0 ? s.latency.sumMs / s.latency.count : 0,
    costPerSuccessUsd: s.successes > 0 ? s.costUsd / s.successes : 0,
    checkFailRate: nc > 0 ? s.checks.failed / nc : 0,
  };
}
