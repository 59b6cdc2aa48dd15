/**
 * Durability: a worker killed mid-batch and replaced, continue-as-new carrying state, and operator
 * signals sent by name with the official Temporal CLI.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/index';
import { findTemporalCli } from '../../src/temporal/cli';
import { rolloutWorkflowId } from '../../src/rollout/contract';
import { connectTestTemporal, startTestWorker, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';
import { result, startTestRollout, status, testSpec, uniqueTarget, waitForStatus } from '../helpers/rollout';

let t: TestTemporal;
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ latencyScale: 0.1, seed: 11, models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } } });
  process.env.GATEWAY_BASE_URL = sim.url;
  process.env.GATEWAY_API_KEY = sim.apiKey;
  t = await connectTestTemporal();
});
afterAll(async () => {
  await t?.close();
  await sim?.close();
});

const totalRequests = () => Object.values(sim.stats()).reduce((a, m) => a + m.requests, 0);

function spawnWorker(taskQueue: string): ChildProcess {
  return spawn(process.execPath, ['bin/modelshift.js', 'worker'], {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: t.address,
      TASK_QUEUE: taskQueue,
      GATEWAY_BASE_URL: sim.url,
      GATEWAY_API_KEY: sim.apiKey,
      MODELSHIFT_LOG_LEVEL: 'ERROR',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

describe('durable rollouts', () => {
  it('continues from the same step after its worker is killed mid-batch; no sample is counted twice', async () => {
    const taskQueue = uniqueTaskQueue('kill');
    const child = spawnWorker(taskQueue);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const spec = testSpec({
      target: uniqueTarget('kill'),
      plan: { steps: [20, 50, 100], dwell: '500ms', samplesPerStep: 120, concurrency: 4 },
    });
    const handle = await startTestRollout(t.client, taskQueue, spec);
    // Wait until step 2 has begun and a batch is in flight, then kill the worker without warning.
    await waitForStatus(t.client, spec.target, (s) => s.step >= 2, 60_000);
    const atStep2 = totalRequests();
    for (let i = 0; i < 100 && totalRequests() <= atStep2 + 10; i++) await new Promise((r) => setTimeout(r, 50));
    const atKill = await status(t.client, spec.target);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(stderr).not.toMatch(/Error/);

    const replacement = await startTestWorker(t, taskQueue);
    try {
      const r = await result(t.client, spec.target);
      expect(r.phase).toBe('promoted');
      const steps = r.status.verdicts.map((v) => v.step);
      expect(steps).toEqual([...steps].sort((a, b) => a - b)); // never went back to an earlier step
      // The replacement picked up at the step the killed worker was on: the verdicts before the kill are
      // kept as they were, and the first verdict after it is at that step (not step 1 again).
      expect(atKill.step).toBeGreaterThanOrEqual(2);
      expect(r.status.verdicts.slice(0, atKill.verdicts.length)).toEqual(atKill.verdicts);
      expect(r.status.verdicts[atKill.verdicts.length].step).toBe(atKill.step);
      // Every pair counted exactly once: pairs sent = rounds × pairs per round, two requests each.
      expect(r.status.probes.sent).toBe(r.status.probes.rounds * spec.probesPerRound);
      expect(r.status.arms.blue.requests + r.status.arms.green.requests).toBe(2 * r.status.probes.sent);
      // And the batch that was interrupted really was retried on the new worker.
      const events = (await handle.fetchHistory()).events ?? [];
      const retried = events.some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
      expect(retried).toBe(true);
    } finally {
      await replacement.stop();
    }
  });

  it('continues as new before history grows large, carrying state and verdicts over', async () => {
    const taskQueue = uniqueTaskQueue('can');
    const w = await startTestWorker(t, taskQueue);
    try {
      const spec = testSpec({
        target: uniqueTarget('can'),
        plan: { steps: [25, 50, 100], dwell: '200ms', samplesPerStep: 100, concurrency: 25 },
      });
      const handle = await startTestRollout(t.client, taskQueue, spec, { historyEventLimit: 10 });
      const r = await result(t.client, spec.target);
      expect(r.phase).toBe('promoted');
      const latest = await t.client.workflow.getHandle(rolloutWorkflowId(spec.target)).describe();
      expect(latest.runId).not.toBe(handle.firstExecutionRunId); // at least one continue-as-new happened
      expect(new Set(r.status.verdicts.map((v) => v.step))).toEqual(new Set([1, 2, 3])); // verdicts of earlier runs kept
      expect(r.status.probes.sent).toBe(r.status.probes.rounds * spec.probesPerRound);
      expect(r.status.arms.green.requests + r.status.arms.blue.requests).toBe(2 * r.status.probes.sent);
    } finally {
      await w.stop();
    }
  });

  it('`temporal workflow signal --name abort` behaves like modelshift abort', async () => {
    const cli = findTemporalCli();
    expect(cli?.path, 'a temporal CLI binary is resolved').toBeTruthy();
    const taskQueue = uniqueTaskQueue('tcli');
    const w = await startTestWorker(t, taskQueue);
    try {
      const spec = testSpec({
        target: uniqueTarget('tcli'),
        plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 100, concurrency: 25 },
      });
      await startTestRollout(t.client, taskQueue, spec);
      await waitForStatus(t.client, spec.target, (s) => s.verdicts.at(-1)?.evaluation.verdict === 'Pass');
      const out = spawnSync(
        cli!.path!,
        [
          'workflow',
          'signal',
          '--address',
          t.address,
          '--namespace',
          'default',
          '--workflow-id',
          rolloutWorkflowId(spec.target),
          '--name',
          'abort',
          '--input',
          '{"reason":"from the temporal CLI"}',
        ],
        { encoding: 'utf8' },
      );
      expect(out.status, out.stderr).toBe(0);
      const r = await result(t.client, spec.target);
      expect(r.phase).toBe('rolled_back');
      expect(r.greenPercent).toBe(0);
      expect(r.reason).toBe('aborted by operator: from the temporal CLI');
    } finally {
      await w.stop();
    }
  });
});
