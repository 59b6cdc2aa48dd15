/**
 * Nearest-rank percentile: the smallest value such that at least q of the data is ≤ it.
 * Written here (rather than simple-statistics' interpolating quantile) because operators read "p99"
 * as "99% of requests were at or below this observed latency": it must be a value that occurred.
 * The seed used sorted[int(n * 0.99)], which on n ≤ 100 returns the maximum plus an off-by-one
 * (n = 100 gives index 99, the max, instead of rank 99, the 99th value).
 */
export function percentileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  if (!(q >= 0 && q <= 1)) throw new RangeError(`percentile q must be in [0, 1], got ${q}`);
  const rank = Math.max(1, Math.ceil(q * sorted.length)); // 1-based nearest rank
  return sorted[Math.min(rank, sorted.length) - 1];
}

export function percentile(values: readonly number[], q: number): number {
  return percentileSorted(
    [...values].sort((a, b) => a - b),
    q,
  );
}
