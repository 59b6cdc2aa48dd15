/**
 * Fixed, log-spaced latency histogram: compact (fixed size however many requests it holds), plain
 * JSON, mergeable by adding counts. Bucket 0 holds [0, 1 ms); bucket i (1..BUCKETS_PER_DECADE*DECADES)
 * holds [10^((i-1)/100), 10^(i/100)) ms — each bucket is 2.3% wide, and quantiles are interpolated
 * within their bucket by rank, so estimates move smoothly rather than in bucket-sized jumps; the last
 * bucket holds everything >= 10^6 ms (~17 min). Routers send it sparse (arm-stats toWireArmStats).
 */
export const BUCKETS_PER_DECADE = 100;
export const DECADES = 6;
export const NUM_BUCKETS = BUCKETS_PER_DECADE * DECADES + 2;

export interface LatencyHistogram {
  /** counts[i] = number of latencies in bucket i; length NUM_BUCKETS. */
  counts: number[];
  count: number;
  sumMs: number;
  minMs: number; // Infinity-free: 0 when count = 0
  maxMs: number;
}

export function emptyHistogram(): LatencyHistogram {
  return { counts: new Array<number>(NUM_BUCKETS).fill(0), count: 0, sumMs: 0, minMs: 0, maxMs: 0 };
}

export function bucketOf(ms: number): number {
  if (!(ms >= 1)) return 0; // also NaN / negative -> underflow bucket
  const i = Math.floor(Math.log10(ms) * BUCKETS_PER_DECADE) + 1;
  return Math.min(i, NUM_BUCKETS - 1);
}

/** Lower edge of bucket i in ms. */
export function bucketLower(i: number): number {
  if (i <= 0) return 0;
  return Math.pow(10, (i - 1) / BUCKETS_PER_DECADE);
}

/** Upper edge of bucket i in ms (Infinity for the overflow bucket). */
export function bucketUpper(i: number): number {
  if (i >= NUM_BUCKETS - 1) return Infinity;
  return Math.pow(10, i / BUCKETS_PER_DECADE);
}

/** Mutates h. */
export function addLatency(h: LatencyHistogram, ms: number): void {
  const v = Number.isFinite(ms) && ms > 0 ? ms : 0;
  h.counts[bucketOf(v)] += 1;
  h.minMs = h.count === 0 ? v : Math.min(h.minMs, v);
  h.maxMs = h.count === 0 ? v : Math.max(h.maxMs, v);
  h.count += 1;
  h.sumMs += v;
}

export function mergeHistograms(a: LatencyHistogram, b: LatencyHistogram): LatencyHistogram {
  const counts = new Array<number>(NUM_BUCKETS);
  for (let i = 0; i < NUM_BUCKETS; i++) counts[i] = (a.counts[i] ?? 0) + (b.counts[i] ?? 0);
  const count = a.count + b.count;
  return {
    counts,
    count,
    sumMs: a.sumMs + b.sumMs,
    minMs: a.count === 0 ? b.minMs : b.count === 0 ? a.minMs : Math.min(a.minMs, b.minMs),
    maxMs: a.count === 0 ? b.maxMs : b.count === 0 ? a.maxMs : Math.max(a.maxMs, b.maxMs),
  };
}

/** Bucket index holding the k-th smallest value (1-based rank); -1 if k is out of range. */
export function bucketOfRank(h: LatencyHistogram, k: number): number {
  if (k < 1 || k > h.count) return -1;
  let cum = 0;
  for (let i = 0; i < NUM_BUCKETS; i++) {
    cum += h.counts[i];
    if (cum >= k) return i;
  }
  return -1;
}

/** Representative value of bucket i: geometric midpoint, clamped to the observed [min, max]. */
function representative(h: LatencyHistogram, i: number): number {
  const lo = bucketLower(i);
  const hi = bucketUpper(i);
  const mid = i === 0 ? 0.5 : hi === Infinity ? lo : Math.sqrt(lo * hi);
  return Math.min(h.maxMs, Math.max(h.minMs, mid));
}

/**
 * Nearest-rank quantile (same definition as src/stats/percentile.ts: rank = max(1, ceil(q n))), read
 * from the histogram: within the bucket holding that rank, interpolated geometrically by the rank's
 * position among the bucket's counts (clamped to the observed [min, max]). NaN if empty.
 */
export function histogramQuantile(h: LatencyHistogram, q: number): number {
  if (h.count === 0) return NaN;
  const rank = Math.min(h.count, Math.max(1, Math.ceil(q * h.count)));
  let before = 0;
  for (let i = 0; i < NUM_BUCKETS; i++) {
    const c = h.counts[i];
    if (before + c >= rank) {
      const lo = bucketLower(i);
      const hi = bucketUpper(i);
      if (i === 0 || hi === Infinity || c === 0) return representative(h, i);
      const f = (rank - before - 0.5) / c;
      return Math.min(h.maxMs, Math.max(h.minMs, lo * Math.pow(hi / lo, f)));
    }
    before += c;
  }
  return h.maxMs;
}

/**
 * Time-uniform bounds on the true tau-quantile from ranks [sLo, sHi] (see quantileRankBounds):
 * lo = lower edge of the bucket holding rank sLo (0 if sLo = 0), hi = upper edge of the bucket
 * holding rank sHi + 1 (Infinity if sHi = n). Conservative by at most one bucket width.
 */
export function quantileBoundsFromRanks(h: LatencyHistogram, sLo: number, sHi: number): { lo: number; hi: number } {
  const lo = sLo <= 0 ? 0 : bucketLower(bucketOfRank(h, sLo));
  const hi = sHi >= h.count ? Infinity : bucketUpper(bucketOfRank(h, sHi + 1));
  return { lo, hi };
}
