import { describe, expect, it } from 'vitest';
import { DEFAULT_GUARDS, GuardsSchema } from '../../src/decision/guards-schema';
import { seedShouldRollback } from '../../src/decision/seed-rule';

describe('guards schema and seed rule', () => {
  it('GuardsSchema.parse({}) equals DEFAULT_GUARDS; unknown keys refused; partial nested keeps defaults', () => {
    expect(GuardsSchema.parse({})).toEqual(DEFAULT_GUARDS);
    expect(() => GuardsSchema.parse({ maxErorRate: 0.1 })).toThrow();
    expect(() => GuardsSchema.parse({ latency: { p99tolerance: 0.1 } })).toThrow();
    const g = GuardsSchema.parse({ latency: { p99Tolerance: 0.3 }, cost: { spendCapUsd: 5 } });
    expect(g.latency).toEqual({ ...DEFAULT_GUARDS.latency, tailTolerance: 0.3 }); // p99Tolerance: the earlier name
    expect(g.cost.spendCapUsd).toBe(5);
    expect(g.cost.maxIncrease).toBe(DEFAULT_GUARDS.cost.maxIncrease);
  });

  it('seed rule: one green error in the first ten requests rolls back', () => {
    expect(seedShouldRollback(1, 10)).toBe(true);
    expect(seedShouldRollback(0, 10)).toBe(false);
  });
});
