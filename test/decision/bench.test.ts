/**
 * The verdicts' targets on a reduced, fixed-seed run of the bench (the README's table uses 400 runs a
 * scenario): wrong decisions per class, and the speed of an identical pair. Statistical, so each bound
 * leaves room for the Monte-Carlo noise of 120 runs.
 */
import { describe, expect, it } from 'vitest';
import { bench, DEFAULT_CONFIG, SCENARIOS } from '../../bench/verdicts';

const rows = bench(
  { ...DEFAULT_CONFIG, runs: 120, seed: 7 },
  SCENARIOS.filter((s) => ['eq', 'eq-outage', 'eq-8', 'e4', 'p99', 'prompt', 'late', 'tol-err', 'subst'].includes(s.id)),
);
const row = (id: string) => rows.find((r) => r.scenario.id === id)!;

describe('bench targets (120 rollouts per scenario, seed 7)', () => {
  it('identical arms, a shared outage, 8 % base errors: ≤ 4 % rolled back (target ≤ 2 % at 400 runs)', () => {
    for (const id of ['eq', 'eq-outage', 'eq-8']) expect(row(id).rolledBack, id).toBeLessThanOrEqual(0.04);
  });
  it('+4 pp errors caught ≥ 95 %; a +30 % p99 ≥ 85 %, mostly by a Fail verdict; a one-prompt and a late regression ≥ 90 %', () => {
    expect(row('e4').rolledBack).toBeGreaterThanOrEqual(0.95);
    expect(row('p99').rolledBack).toBeGreaterThanOrEqual(0.85);
    expect(row('p99').byFail / row('p99').rolledBack).toBeGreaterThanOrEqual(0.7);
    expect(row('prompt').rolledBack).toBeGreaterThanOrEqual(0.9);
    expect(row('late').rolledBack).toBeGreaterThanOrEqual(0.9);
    expect(row('subst').rolledBack).toBe(1);
  });
  it('a green within tolerance (+1 pp errors at half the cost) promotes ≥ 80 %', () => {
    expect(row('tol-err').rolledBack).toBeLessThanOrEqual(0.2);
  });
  it('identical arms promote within 8 minutes (median) on ≤ 1,740 probe requests (half of the routed design)', () => {
    expect(row('eq').minutesMedian).toBeLessThanOrEqual(8);
    expect(row('eq').probeRequests).toBeLessThanOrEqual(1740);
  });
}, 120_000);
