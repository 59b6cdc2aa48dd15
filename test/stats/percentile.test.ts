import { describe, expect, it } from 'vitest';
import { percentile, percentileSorted } from '../../src/stats/percentile';

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1); // 1..n

describe('nearest-rank percentile (no off-by-one)', () => {
  it.each<[number[], number, number]>([
    [range(100), 0.99, 99], // the seed's sorted[int(100*0.99)] gave 100
    [range(100), 0.5, 50],
    [range(100), 1, 100],
    [range(100), 0, 1],
    [range(10), 0.99, 10],
    [range(10), 0.9, 9],
    [range(10), 0.5, 5],
    [range(200), 0.99, 198], // seed: sorted[198] = 199
    [range(1000), 0.99, 990],
    [range(1), 0.99, 1],
    [[5, 1, 4, 2, 3], 0.5, 3],
    [[5, 1, 4, 2, 3], 0.99, 5],
    [[7, 7, 7, 100], 0.75, 7],
    [[7, 7, 7, 100], 0.76, 100],
  ])('%j at q=%d → %d', (data, q, expected) => {
    const before = [...data];
    expect(percentile(data, q)).toBe(expected);
    expect(data).toEqual(before); // input not mutated (percentile sorts a copy)
  });

  it('is NaN on no data and rejects q outside [0,1]', () => {
    expect(percentile([], 0.99)).toBeNaN();
    expect(() => percentileSorted([1], 1.5)).toThrow(RangeError);
  });

  it('does not mutate its input', () => {
    const d = [3, 1, 2];
    percentile(d, 0.5);
    expect(d).toEqual([3, 1, 2]);
  });
});
