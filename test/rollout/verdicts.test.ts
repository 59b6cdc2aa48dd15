/**
 * The statistical verdict driving real rollouts (dev server, worker, simulator, openai client):
 * equal arms promote; a green that degrades mid-way is rolled back by the error-rate guard.
 */
import { describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/harness';
import { result, startTestRollout, testSpec, uniqueTarget, waitForStatus } from '../helpers/rollout';

const plan = { steps: [10, 25, 50, 100], dwell: '200ms', samplesPerStep: 200, concurrency: 50 };

const h = useHarness({ sim: { latencyScale: 0.02, seed: 2024 }, queue: 'verdict' });

describe('statistical verdicts in real rollouts', () => {
  it('promotes when green is equal to blue (both 1% errors, same latency)', async () => {
    const same = { errorRate: 0.01, latencyMs: { p50: 400, p99: 1200 } };
    h.sim.setProfile('gpt-4.1', same);
    h.sim.setProfile('gpt-4.1-turbo', same);
    const spec = testSpec({ target: uniqueTarget('equal'), plan, guards: { cost: { enabled: false } } });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.reason).toMatch(/all 4 steps passed/);
    expect(r.phase).toBe('promoted');
    expect(r.status.arms.green.errors).toBeGreaterThan(0); // real errors were seen and tolerated
  }, 120_000);

  it('rolls back on the error-rate verdict when green degrades mid-rollout', async () => {
    const same = { errorRate: 0.01, latencyMs: { p50: 400, p99: 1200 } };
    h.sim.setProfile('gpt-4.1', same);
    h.sim.setProfile('gpt-4.1-turbo', same);
    const spec = testSpec({ target: uniqueTarget('degrade'), plan, guards: { cost: { enabled: false } } });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, spec.target, (s) => s.greenPercent >= 25, 90_000);
    // Fault injection through the simulator's admin endpoint, as an operator's chaos test would.
    const res = await fetch(`${h.sim.url.replace(/\/v1$/, '')}/admin/models/gpt-4.1-turbo`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${h.sim.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ errorRate: 0.12 }),
    });
    expect(res.status).toBe(200);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('rolled_back');
    expect(r.greenPercent).toBe(0);
    const last = r.status.verdicts.at(-1)!;
    expect(last.evaluation.verdict).toBe('Fail');
    expect(last.greenPercent).toBeGreaterThanOrEqual(25);
    expect(last.evaluation.guards.find((g) => g.guard === 'errorRate' || g.guard === 'errorCeiling')?.verdict).toBe('Fail');
    expect(r.reason).toMatch(/^failed verdict at \d+% green: error/);
  }, 120_000);
});

describe('guards beyond errors, in real rollouts', () => {
  it('golden prompts: a green whose answers fail the output checks is rolled back by the checks guard', async () => {
    h.sim.setProfile('gpt-4.1', { errorRate: 0, latencyMs: { p50: 400, p99: 1200 } });
    h.sim.setProfile('gpt-4.1-turbo', { errorRate: 0, latencyMs: { p50: 400, p99: 1200 }, outputOverride: 'I am not sure.' });
    const spec = testSpec({ target: uniqueTarget('checks'), plan, guards: { cost: { enabled: false } } });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('rolled_back');
    const failing = r.status.verdicts
      .at(-1)!
      .evaluation.guards.filter((g) => g.verdict === 'Fail')
      .map((g) => g.guard);
    // the pooled check guard and the per-prompt one both fail (every prompt's answers are wrong); nothing else does
    expect([...new Set(failing)].sort()).toEqual(['checks', 'promptChecks']);
    expect(r.status.arms.green.errors).toBe(0); // answers arrived; they were wrong
  }, 120_000);

  it('the spend cap stops a rollout whose samples cost more than allowed on green', async () => {
    h.sim.setProfile('gpt-4.1', { errorRate: 0, outputOverride: null });
    h.sim.setProfile('gpt-4.1-turbo', { errorRate: 0, outputOverride: null });
    const spec = testSpec({
      target: uniqueTarget('spendcap'),
      plan,
      guards: { cost: { enabled: true, maxIncrease: 0.25, spendCapUsd: 0.001 } },
    });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('rolled_back');
    expect(r.reason).toMatch(/spendCap/);
  }, 120_000);
});
