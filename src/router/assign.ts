/**
 * Sticky blue/green assignment. A user hashes to one of 10,000 buckets per target; buckets
 * [0, greenPercent × 100) are green. Raising the ratio only adds buckets, so users already on green
 * stay on green (and lowering it only moves users back to blue). Requests without a user get a
 * random bucket.
 */
export type Arm = 'blue' | 'green';

export const BUCKETS = 10_000;

/** FNV-1a over UTF-16 code units, then murmur3's fmix32 so the low digits spread evenly. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The bucket (0..9,999) of `user` for `target`; salted by target so targets ramp different users first. */
export function bucketOf(target: string, user: string): number {
  return hash32(`${target}\u0000${user}`) % BUCKETS;
}

/** Green threshold in buckets for a percentage (0..100, fractional allowed: 0.01 % = one bucket). */
export function greenBuckets(greenPercent: number): number {
  if (!(greenPercent > 0)) return 0;
  if (greenPercent >= 100) return BUCKETS;
  return Math.round(greenPercent * (BUCKETS / 100));
}

/**
 * Pick the arm for one request. `user` undefined/empty → random bucket (`random` injectable for tests).
 */
export function assignArm(target: string, greenPercent: number, user: string | undefined, random: () => number = Math.random): Arm {
  const threshold = greenBuckets(greenPercent);
  if (threshold === 0) return 'blue';
  if (threshold === BUCKETS) return 'green';
  const bucket = user ? bucketOf(target, user) : Math.floor(random() * BUCKETS);
  return bucket < threshold ? 'green' : 'blue';
}
