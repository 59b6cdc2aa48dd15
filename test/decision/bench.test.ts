import { describe, expect, it } from 'vitest';
import { benchOurs, DEFAULT_LOOP, SCENARIOS } from '../../bench/verdicts';
import { DEFAULT_GUARDS } from '../../src/decision/defaults';

// The product targets on a reduced, fixed-seed run (the README table uses 1,000 runs):
// false rollbacks at equal arms <= 2%; +4 pp errors rolled back before green passes 25% with
// <= 600 green samples in >= 95% (here >= 93% to allow for 200-run noise); +30% p99 rolled back >= 90%.
describe('bench targets (200 rollouts per scenario, seed 7)', () => {
  const pick = (ids: string[]) => SCENARIOS.filter((s) => ids.includes(s.id));
  const rows = benchOurs(200, 7, { ...DEFAULT_LOOP, guards: DEFAULT_GUARDS }, pick(['eq', 'e4', 'p99']));
  it('equal arms: false rollbacks ≤ 2%', () => {
    expect(rows[0].rollback).toBeLessThanOrEqual(0.02);
    expect(rows[0].viaFail).toBe(0);
  });
  it('+4 pp errors: detected before 25% with ≤ 600 green samples', () => {
    expect(rows[1].earlyRollback).toBeGreaterThanOrEqual(0.95);
    expect(rows[1].early600).toBeGreaterThanOrEqual(0.93);
  });
  it('+30% p99: rolled back ≥ 90%', () => {
    expect(rows[2].rollback).toBeGreaterThanOrEqual(0.9);
  });
}, 60_000);
