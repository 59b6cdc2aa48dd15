import { describe, expect, it } from 'vitest';
import { bernoulliCS, lgamma, quantileRankBounds } from '../../src/decision/cs';
import { mulberry32 } from '../../bench/verdicts';

describe('confidence sequences', () => {
  it('lgamma matches known values', () => {
    expect(lgamma(1)).toBeCloseTo(0, 12);
    expect(lgamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(lgamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(lgamma(1001)).toBeCloseTo(5912.1281784, 5); // ln(1000!)
  });

  it('difference CS: false-positive rate under repeated looks ≤ alpha (seeded)', () => {
    // 300 simulated equal-arm rollouts, 2% errors both arms, green share 30%, a look every 50
    // requests up to 6,000 requests (120 looks): count runs whose CS for green − blue EVER excludes 0.
    const rng = mulberry32(42);
    const alpha = 0.05;
    let bad = 0;
    let armMiss = 0;
    const runs = 300;
    for (let r = 0; r < runs; r++) {
      let xg = 0,
        ng = 0,
        xb = 0,
        nb = 0;
      let excluded = false;
      let missed = false;
      for (let look = 0; look < 120 && !(excluded && missed); look++) {
        for (let i = 0; i < 50; i++) {
          const e = rng() < 0.02 ? 1 : 0;
          if (rng() < 0.3) {
            ng++;
            xg += e;
          } else {
            nb++;
            xb += e;
          }
        }
        const g = bernoulliCS(xg, ng, alpha / 2);
        const b = bernoulliCS(xb, nb, alpha / 2);
        if (g.lo - b.hi > 0 || g.hi - b.lo < 0) excluded = true;
        const one = bernoulliCS(xb, nb, alpha);
        if (one.lo > 0.02 || one.hi < 0.02) missed = true;
      }
      if (excluded) bad++;
      if (missed) armMiss++;
    }
    expect(bad / runs).toBeLessThanOrEqual(alpha);
    expect(armMiss / runs).toBeLessThanOrEqual(alpha);
  });

  it('quantile rank bounds bracket n·tau and narrow with n', () => {
    const a = quantileRankBounds(1000, 0.99, 0.025);
    const b = quantileRankBounds(10000, 0.99, 0.025);
    expect(a.sLo).toBeLessThan(990);
    expect(a.sHi).toBeGreaterThanOrEqual(990);
    expect((b.sHi - b.sLo) / 10000).toBeLessThan((a.sHi - a.sLo) / 1000);
  });
});

describe('confidence sequences at very large counts', () => {
  it('quantile rank bounds stay ordered and bracket n·tau past 2^31 (no 32-bit wrap in the bisection)', () => {
    for (const n of [1.07e9, 2 ** 31 + 7, 3e9, 1e12]) {
      const { sLo, sHi } = quantileRankBounds(n, 0.99, 0.05);
      expect(sLo).toBeGreaterThan(0);
      expect(sLo).toBeLessThanOrEqual(Math.round(n * 0.99));
      expect(sHi).toBeGreaterThanOrEqual(Math.round(n * 0.99));
      expect(sHi).toBeLessThanOrEqual(n);
    }
  });
});
