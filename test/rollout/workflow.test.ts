/**
 * The durable rollout against the real dev server, a real worker, the real simulator and the real
 * `openai` client: promote, automatic rollback, pause/resume, abort mid-dwell, promote, preflight.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { abortSignal, pauseSignal, promoteUpdate, resumeSignal, rolloutWorkflowId } from '../../src/rollout/contract';
import { GreenPercent, RolloutPhase } from '../../src/rollout/contract';
import { historyText } from '../helpers/temporal';
import { useHarness } from '../helpers/harness';
import { result, startTestRollout, status, testSpec, uniqueTarget, waitForStatus } from '../helpers/rollout';

const h = useHarness({ sim: { latencyScale: 0.02, seed: 7, apiKey: 'sk-test-rollout-SECRET-4242' }, queue: 'rollout' });
beforeEach(() => {
  h.sim.reset();
  // Equal, healthy arms unless a test says otherwise.
  h.sim.setProfile('gpt-4.1', { errorRate: 0 });
  h.sim.setProfile('gpt-4.1-turbo', { errorRate: 0 });
});

describe('rollout workflow', () => {
  it('promotes a healthy green step by step to 100%, keeping search attributes current', async () => {
    const spec = testSpec({ target: uniqueTarget('happy') });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('promoted');
    expect(r.greenPercent).toBe(100);
    expect(r.status.step).toBe(2);
    expect(r.status.verdicts.at(-1)?.evaluation.verdict).toBe('Pass');
    expect(r.status.arms.green.requests).toBeGreaterThan(0);
    expect(r.status.arms.blue.requests).toBeGreaterThan(0);
    const desc = await handle.describe();
    expect(desc.typedSearchAttributes.get(RolloutPhase)).toBe('promoted');
    expect(desc.typedSearchAttributes.get(GreenPercent)).toBe(100);
  });

  it('rolls back to 0% at once when green errors spike, keeping the reason and the numbers', async () => {
    h.sim.setProfile('gpt-4.1-turbo', { errorRate: 0.5 });
    const spec = testSpec({
      target: uniqueTarget('spike'),
      plan: { steps: [10, 50, 100], dwell: '300ms', samplesPerStep: 100, concurrency: 25 },
    });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('rolled_back');
    expect(r.greenPercent).toBe(0);
    expect(r.reason).toMatch(/failed verdict at 10% green/);
    expect(r.reason).toMatch(/error/i);
    expect(r.status.arms.green.errors).toBeGreaterThan(0);
    expect(r.status.arms.green.errorRate).toBeGreaterThan(0.2);
    expect(r.status.verdicts.at(-1)?.evaluation.verdict).toBe('Fail');
  });

  it('counts every failed green probe as a green failure: probes never fall back to blue', async () => {
    h.sim.setProfile('gpt-4.1-turbo', { errorRate: 1 });
    const spec = testSpec({ target: uniqueTarget('nofallback'), retry: { attempts: 1 } });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('rolled_back');
    const green = r.status.arms.green;
    expect(green.requests).toBeGreaterThan(0);
    expect(green.errors).toBe(green.requests);
    // One blue request per pair, none for green's failures: nothing answered in green's place.
    expect(h.sim.stats()['gpt-4.1'].requests).toBe(r.status.probes.pairs);
  });

  it('pause holds the ratio and stops sampling until resume', async () => {
    const spec = testSpec({
      target: uniqueTarget('pause'),
      plan: { steps: [25, 50, 100], dwell: '10m', samplesPerStep: 100, concurrency: 25 },
    });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, spec.target, (s) => s.step === 1 && s.verdicts.length > 0);
    await handle.signal(pauseSignal, { reason: 'looking at dashboards' });
    const paused = await waitForStatus(h.t.client, spec.target, (s) => s.phase === 'paused');
    expect(paused.greenPercent).toBe(25);
    expect(paused.reason).toBe('looking at dashboards');
    await new Promise((r) => setTimeout(r, 1500)); // the in-flight batch sees its cancellation on its next heartbeat
    const before = h.sim.stats();
    const sent = (s: Record<string, { requests: number }>) => Object.values(s).reduce((a, m) => a + m.requests, 0);
    await new Promise((r) => setTimeout(r, 1500));
    const held = await status(h.t.client, spec.target);
    expect(held.phase).toBe('paused');
    expect(held.greenPercent).toBe(25);
    expect(sent(h.sim.stats())).toBe(sent(before)); // no sampling while paused
    await handle.signal(resumeSignal);
    const resumed = await waitForStatus(h.t.client, spec.target, (s) => s.phase === 'ramping');
    expect(resumed.greenPercent).toBe(25);
    await handle.signal(abortSignal, { reason: 'test done' });
    expect((await result(h.t.client, spec.target)).phase).toBe('rolled_back');
  });

  it('abort during a long dwell takes effect within a second', async () => {
    const spec = testSpec({ target: uniqueTarget('abort'), plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 100, concurrency: 25 } });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, spec.target, (s) => s.verdicts.at(-1)?.evaluation.verdict === 'Pass');
    const sentAt = Date.now();
    await handle.signal(abortSignal, { reason: 'bad vibes' });
    const r = await result(h.t.client, spec.target);
    const tookMs = Date.now() - sentAt;
    expect(tookMs).toBeLessThan(1000);
    expect(r.phase).toBe('rolled_back');
    expect(r.greenPercent).toBe(0);
    expect(r.reason).toBe('aborted by operator: bad vibes');
  });

  it('promote jumps to 100% and completes; promote on a finished rollout is rejected by the validator', async () => {
    const spec = testSpec({
      target: uniqueTarget('promote'),
      plan: { steps: [10, 25, 50, 100], dwell: '1h', samplesPerStep: 100, concurrency: 25 },
    });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, spec.target, (s) => s.phase === 'ramping' && s.step >= 1);
    const s = await handle.executeUpdate(promoteUpdate, { args: [{ reason: 'looks great' }] });
    expect(s.phase).toBe('promoted');
    expect(s.greenPercent).toBe(100);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('promoted');
    expect(r.reason).toBe('promoted by operator: looks great');
    await expect(handle.executeUpdate(promoteUpdate, { args: [{}] })).rejects.toThrow();
  });

  it('refuses promote on a rollout that already rolled back', async () => {
    h.sim.setProfile('gpt-4.1-turbo', { errorRate: 0.9 });
    const spec = testSpec({ target: uniqueTarget('late-promote') });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    expect((await result(h.t.client, spec.target)).phase).toBe('rolled_back');
    // A closed rollout has completed its workflow: the server refuses the update outright (the
    // validator covers the window where the phase is closed but the workflow has not returned yet).
    const err = await handle.executeUpdate(promoteUpdate, { args: [{}] }).catch((e) => e);
    expect(err).toBeInstanceOf(WorkflowNotFoundError);
    expect(String(err.message)).toMatch(/already completed/);
  });

  it('refuses a second rollout for a target that has one running', async () => {
    const spec = testSpec({ target: uniqueTarget('dup'), plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 50, concurrency: 10 } });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    await expect(startTestRollout(h.t.client, h.taskQueue, spec)).rejects.toThrow(
      `target ${spec.target} already has a running rollout (rollout-${spec.target}); abort or promote it first`,
    );
    await h.t.client.workflow.getHandle(rolloutWorkflowId(spec.target)).signal(abortSignal, {});
    await result(h.t.client, spec.target);
  });

  it('fails in preflight on an unknown green model: the ratio never leaves 0', async () => {
    const spec = testSpec({ target: uniqueTarget('unknown'), green: { model: 'gpt-5-nonexistent' } });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('failed');
    expect(r.greenPercent).toBe(0);
    expect(r.reason).toMatch(/model `gpt-5-nonexistent` does not exist on 127\.0\.0\.1:\d+/);
    expect(r.status.verdicts).toHaveLength(0);
    expect(r.status.arms.green.requests).toBe(0);
    expect(h.sim.stats()['gpt-4.1-turbo']?.requests ?? 0).toBe(0);
  });

  it('fails with a clear, non-retried error on a rejected key', async () => {
    process.env.WRONG_GATEWAY_KEY = 'sk-wrong-key-000000000';
    process.env.WORKER_KEY_ENVS = 'WRONG_GATEWAY_KEY'; // allowed on this worker, but the gateway rejects it
    const spec = testSpec({ target: uniqueTarget('badkey'), green: { model: 'gpt-4.1-turbo', apiKeyEnv: 'WRONG_GATEWAY_KEY' } });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('failed');
    expect(r.reason).toMatch(/rejected the key in WRONG_GATEWAY_KEY \(401\)/);
    const history = await handle.fetchHistory();
    const attempts = (history.events ?? [])
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => e.activityTaskStartedEventAttributes!.attempt);
    expect(attempts).toEqual([1]); // no retry storm
  });

  it('never writes the gateway key into workflow input or history', async () => {
    const spec = testSpec({ target: uniqueTarget('nokey') });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    await result(h.t.client, spec.target);
    const history = historyText(await handle.fetchHistory());
    expect(history.includes('What is the capital of Japan?'), 'decoded payloads are searchable').toBe(true);
    expect(history.includes(h.sim.apiKey), 'the key string appears in history').toBe(false);
    expect(history.includes('SECRET-4242'), 'part of the key appears in history').toBe(false);
  });
});

describe('operator messages at awkward moments', () => {
  it('a pause in the middle of a sample batch holds the rollout instead of failing it; resume carries on', async () => {
    // ~50 ms per request (2,500 ms × latencyScale 0.02), one at a time: a batch of 400 takes ~20 s.
    h.sim.setProfile('gpt-4.1', { latencyMs: 2500 });
    h.sim.setProfile('gpt-4.1-turbo', { latencyMs: 2500 });
    const spec = testSpec({
      target: uniqueTarget('midpause'),
      plan: { steps: [50, 100], dwell: '300ms', samplesPerStep: 400, concurrency: 1 },
    });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, spec.target, (s) => s.phase === 'ramping');
    const sent = () => Object.values(h.sim.stats()).reduce((a, m) => a + m.requests, 0);
    const start = sent();
    while (sent() < start + 30) await new Promise((r) => setTimeout(r, 20)); // a batch is in flight
    await handle.signal(pauseSignal, { reason: 'mid-batch' });
    await new Promise((r) => setTimeout(r, 2500));
    const s = await status(h.t.client, spec.target);
    expect(s.phase).toBe('paused');
    expect(s.reason).toBe('mid-batch');
    expect(s.verdicts).toHaveLength(0); // the interrupted round did not count
    await handle.signal(resumeSignal);
    const resumed = await waitForStatus(h.t.client, spec.target, (x) => x.phase === 'ramping');
    expect(resumed.reason).toBeUndefined();
    await handle.signal(abortSignal, { reason: 'enough' });
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('rolled_back');
    expect(r.reason).toBe('aborted by operator: enough');
  });

  it('a pause that arrives with the start holds green at 0% until resume', async () => {
    const spec = testSpec({ target: uniqueTarget('startpaused') });
    const handle = await h.t.client.workflow.signalWithStart('rolloutWorkflow', {
      workflowId: `rollout-${spec.target}`,
      taskQueue: h.taskQueue,
      args: [{ spec }],
      signal: pauseSignal,
      signalArgs: [{ reason: 'change freeze' }],
    });
    await new Promise((r) => setTimeout(r, 1500));
    const held = await status(h.t.client, spec.target);
    expect(held).toMatchObject({ phase: 'paused', greenPercent: 0, step: 0, reason: 'change freeze' });
    await handle.signal(resumeSignal);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('promoted');
  });

  it('drops a malformed liveMetrics signal instead of wedging the rollout', async () => {
    const spec = testSpec({
      target: uniqueTarget('badlive'),
      plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 100, concurrency: 25 },
    });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, spec.target, (s) => s.verdicts.length > 0);
    await handle.signal('liveMetrics', { batchId: 'hand-made', blue: { requests: 5 } });
    await handle.signal('liveMetrics', 'not even an object');
    await handle.signal(abortSignal, { reason: 'still listening' });
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('rolled_back');
    expect(r.reason).toBe('aborted by operator: still listening');
    expect(r.status.live.batches).toBe(0);
  });
});

describe('the promote validator and the verdict policy', () => {
  it('the validator refuses promote while the rollout is closed but still draining, and before preflight has passed', async () => {
    // Closed but draining: abort during a slow round; until the round's cancellation completes the
    // workflow runs on in a closed phase, and promote must be refused by the validator.
    h.sim.setProfile('gpt-4.1', { latencyMs: 2500 });
    h.sim.setProfile('gpt-4.1-turbo', { latencyMs: 2500 });
    const spec = testSpec({
      target: uniqueTarget('draining'),
      plan: { steps: [50, 100], dwell: '300ms', samplesPerStep: 400, concurrency: 1 },
    });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, spec.target, (s) => s.phase === 'ramping');
    await handle.signal(abortSignal, { reason: 'stop' });
    const refused = await handle.executeUpdate(promoteUpdate, { args: [{}] }).catch((e) => e);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(String(refused.cause?.message)).toMatch(/is already rolled_back; nothing to promote/);
    expect((await result(h.t.client, spec.target)).phase).toBe('rolled_back');

    // Before preflight: green's gateway accepts the connection and never answers, so preflight hangs.
    const silent = createServer(() => undefined).listen(0, '127.0.0.1');
    await new Promise((r) => silent.once('listening', r));
    try {
      const port = (silent.address() as { port: number }).port;
      process.env.WORKER_ALLOWED_ORIGINS = `http://127.0.0.1:${port}`;
      const spec2 = testSpec({
        target: uniqueTarget('unchecked'),
        green: { model: 'gpt-4.1-turbo', baseURL: `http://127.0.0.1:${port}/v1` },
      });
      const h2 = await startTestRollout(h.t.client, h.taskQueue, spec2);
      await waitForStatus(h.t.client, spec2.target, (s) => s.phase === 'preflight');
      const early = await h2.executeUpdate(promoteUpdate, { args: [{}] }).catch((e) => e);
      expect(early).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(String(early.cause?.message)).toMatch(/has not passed preflight yet/);
      await h2.signal(abortSignal, {});
      expect((await result(h.t.client, spec2.target)).phase).toBe('rolled_back');
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('onFailure: pause holds the ratio for a human after a failed verdict; abort then rolls back', async () => {
    h.sim.setProfile('gpt-4.1-turbo', { errorRate: 0.6 });
    const spec = testSpec({ target: uniqueTarget('holdforhuman'), onFailure: 'pause' });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    const held = await waitForStatus(h.t.client, spec.target, (s) => s.phase === 'paused');
    expect(held.greenPercent).toBe(50); // held where it was, not rolled back
    expect(held.reason).toMatch(/^failed verdict at 50% green: error/);
    expect(held.verdicts.at(-1)?.evaluation.verdict).toBe('Fail');
    await new Promise((r) => setTimeout(r, 800));
    expect((await status(h.t.client, spec.target)).phase).toBe('paused');
    await handle.signal(abortSignal, { reason: 'confirmed bad' });
    const r = await result(h.t.client, spec.target);
    expect(r).toMatchObject({ phase: 'rolled_back', greenPercent: 0, reason: 'aborted by operator: confirmed bad' });
  });

  it('an Inconclusive step is held up to maxHoldPairs (here 3 rounds), then the policy applies', async () => {
    // minSamples far above what 3 rounds can gather: every round is Inconclusive.
    const spec = testSpec({
      target: uniqueTarget('holdlimit'),
      plan: { steps: [50, 100], dwell: '300ms', samplesPerStep: 20, concurrency: 10 },
      guards: { minSamples: 100_000, maxHoldRounds: 3 },
    });
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('rolled_back');
    expect(r.reason).toMatch(/^no verdict after 60 pairs at 50% \(3 rounds\): error rate: /); // maxHoldRounds × probesPerRound
    expect(r.status.verdicts.map((v) => v.evaluation.verdict)).toEqual(['Inconclusive', 'Inconclusive', 'Inconclusive']);
  });
});
