/**
 * Sticky blue/green assignment (src/router/assign.ts).
 */
import { describe, expect, it } from 'vitest';
import { assignArm, bucketOf, BUCKETS, greenBuckets } from '../../src/router/assign';
import { mulberry32 } from '../../src/stats/rng';

describe('assignment', () => {
  it('puts 10,000 users on green within ±2 pp of the ratio', () => {
    for (const pct of [1, 10, 25, 50, 90]) {
      let green = 0;
      for (let i = 0; i < 10_000; i++) if (assignArm('chat-default', pct, `user-${i}`) === 'green') green++;
      expect(Math.abs(green / 100 - pct)).toBeLessThanOrEqual(2);
    }
  });

  it('puts 10,000 anonymous requests on green within ±2 pp (random bucket)', () => {
    const rng = mulberry32(7);
    let green = 0;
    for (let i = 0; i < 10_000; i++) if (assignArm('chat-default', 25, undefined, rng) === 'green') green++;
    expect(Math.abs(green / 100 - 25)).toBeLessThanOrEqual(2);
  });

  it('keeps users on green as the ratio rises 10 → 25 → 50 (and only adds users)', () => {
    const users = Array.from({ length: 5_000 }, (_, i) => `u${i}@example.com`);
    let prev = new Set<string>();
    for (const pct of [10, 25, 50]) {
      const green = new Set(users.filter((u) => assignArm('chat-default', pct, u) === 'green'));
      for (const u of prev) expect(green.has(u)).toBe(true);
      expect(green.size).toBeGreaterThan(prev.size);
      prev = green;
    }
  });

  it('edges: 0 % is all blue, 100 % all green, buckets are stable and in range', () => {
    expect(assignArm('t', 0, 'a')).toBe('blue');
    expect(assignArm('t', 100, 'a')).toBe('green');
    expect(greenBuckets(0.01)).toBe(1);
    expect(greenBuckets(150)).toBe(BUCKETS);
    const b = bucketOf('t', 'alice');
    expect(b).toBe(bucketOf('t', 'alice'));
    expect(b).toBeGreaterThanOrEqual(0);
    expect(b).toBeLessThan(BUCKETS);
  });
});
