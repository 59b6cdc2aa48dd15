/**
 * Verdicts in conditions production gateways have, as real rollouts: the dev server, a real worker, the
 * real simulator as the gateway and the real `openai` client; the CLI as a real process.
 * - a gateway that rate-limits both models: an identical pair still promotes (the 429s hit both arms of
 *   each pair alike);
 * - a gateway that answers green's requests from blue's model (a gateway-side fallback) rolls green back
 *   as `substituted`, and status shows the last green error;
 * - an unpriced green: a spend cap is refused before anything starts; without one the cost guard says
 *   "unpriced" instead of passing on $0.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { beforeEach, describe, expect, it } from 'vitest';
import { rolloutWorkflowId } from '../../src/rollout/contract';
import { useHarness } from '../helpers/harness';
import { result, startTestRollout, testSpec, uniqueTarget } from '../helpers/rollout';
import { modelshift } from '../helpers/processes';

const h = useHarness({ sim: { latencyScale: 0.02, seed: 11 }, queue: 'real' });
beforeEach(() => {
  h.sim.reset();
  for (const m of ['gpt-4.1', 'gpt-4.1-turbo'])
    h.sim.setProfile(m, { errorRate: 0.01, rpm: null, substituteModel: null, fallbackHeader: false });
});

const cli = (args: string[]) => modelshift(args, { TEMPORAL_ADDRESS: h.t.address, TASK_QUEUE: h.taskQueue });

describe('verdicts in real conditions', () => {
  it('behind a gateway that rate-limits both models, an identical pair promotes', async () => {
    // The gateway allows 500 requests a minute per model (a burst of 500, then ~8 a second); we send up to
    // 6,000: once the burst is spent, 429s on both arms.
    for (const m of ['gpt-4.1', 'gpt-4.1-turbo']) h.sim.setProfile(m, { rpm: 500 });
    const spec = testSpec({
      target: uniqueTarget('ratelimited'),
      plan: { steps: [50, 100], dwell: '300ms', probesPerRound: 50, concurrency: 10 },
      rateLimit: { requestsPerMinute: 6000 },
      retry: { attempts: 3, minBackoff: '50ms', maxBackoff: '400ms' },
    });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase, r.reason).toBe('promoted');
    const stats = h.sim.stats();
    expect(stats['gpt-4.1'].rateLimited + stats['gpt-4.1-turbo'].rateLimited).toBeGreaterThan(0); // the limit was real
    expect(r.status.probes.pairs).toBeGreaterThanOrEqual(spec.guards.promoteMinPairs);
    // The worker paced itself down to the gateway's limit instead of spending most requests on 429s.
    expect(stats['gpt-4.1'].rateLimited).toBeLessThan(stats['gpt-4.1'].requests / 2);
  }, 240_000);

  it('a gateway that answers green from blue’s model rolls green back as substituted; status shows why', async () => {
    // Green "succeeds" every time, but the answer is gpt-4.1's and the gateway says it fell back.
    h.sim.setProfile('gpt-4.1-turbo', { errorRate: 0, substituteModel: 'gpt-4.1', fallbackHeader: true });
    const spec = testSpec({ target: uniqueTarget('substituted') });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('rolled_back');
    expect(r.status.probes.substituted).toBeGreaterThan(0);
    expect(r.status.arms.green.errors).toBe(r.status.arms.green.requests);
    expect(r.status.lastError?.green).toMatch(/^substituted: /);
    const json = await cli(['status', spec.target, '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ phase: 'rolled_back', lastError: { green: expect.stringMatching(/^substituted: /) } });
    const text = await cli(['status', spec.target]);
    expect(text.stdout).toMatch(/last green error: substituted: /);
    expect(text.stdout).toMatch(/green substituted \d+/);
  }, 120_000);

  it('an unpriced green: a spend cap is refused before anything starts; without one the cost guard says unpriced', async () => {
    h.sim.setProfile('acme-finetune-7', { errorRate: 0.01 });
    const target = uniqueTarget('unpriced');
    const capped = await cli(['start', '--target', target, '--blue', 'gpt-4.1', '--green', 'acme-finetune-7', '--spend-cap', '5']);
    expect(capped.code).toBe(2);
    expect(capped.stderr.trim().split('\n')).toHaveLength(1);
    expect(capped.stderr).toMatch(/guards\.cost\.spendCapUsd: green model acme-finetune-7 is not in the price catalog/);
    await expect(h.t.client.workflow.getHandle(rolloutWorkflowId(target)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);

    const plain = await cli([
      'start',
      '--target',
      target,
      '--blue',
      'gpt-4.1',
      '--green',
      'acme-finetune-7',
      '--steps',
      '50,100',
      '--dwell',
      '300ms',
      '--rpm',
      '100000',
      '--concurrency',
      '25',
    ]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/warning: guards\.cost: green model acme-finetune-7 is not in the price catalog/);
    const r = await result(h.t.client, target);
    const cost = r.status.verdicts.at(-1)!.evaluation.guards.find((g) => g.guard === 'cost');
    expect(cost).toMatchObject({ unpriced: true });
    expect(cost!.detail).toMatch(/unpriced/);
  }, 240_000);
});
