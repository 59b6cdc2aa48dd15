/**
 * The router against the real rollout workflow (dev server, real worker, simulator): it reads the
 * ratio from `status`, reports live outcomes with `liveMetrics` (one signal per batch, deduplicated by
 * batchId), follows an abort within a second, and keeps gateway keys out of workflow history.
 */
import { Metadata, status as grpcStatus } from '@grpc/grpc-js';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createRouter, type Router } from '../../src/router';
import { TemporalLiveReporter } from '../../src/router/temporal-reporter';
import { TemporalRatioSource } from '../../src/router/temporal-source';
import { abortSignal, promoteUpdate, rolloutWorkflowId } from '../../src/rollout/contract';
import { startTestRollout, status, testSpec, uniqueTarget, waitForStatus } from '../helpers/rollout';
import { historyText } from '../helpers/temporal';
import { useHarness } from '../helpers/harness';

const UPSTREAM_KEY = 'sk-router-temporal-SECRET-9e1d';
const CLIENT_KEY = 'router-client-key';

const h = useHarness({
  sim: { latencyScale: 0, seed: 3, apiKey: UPSTREAM_KEY, models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } } },
  queue: 'router',
});

function routerFor(targets: string[], connection = h.t.client.connection): Router {
  return createRouter({
    targets: Object.fromEntries(targets.map((n) => [n, { blue: { model: 'gpt-4.1' } }])),
    gateway: { baseURL: h.sim.url },
    env: { GATEWAY_API_KEY: UPSTREAM_KEY },
    apiKeys: [CLIENT_KEY],
    ratioSource: new TemporalRatioSource({ connection, namespace: 'default' }),
    reporter: new TemporalLiveReporter({ connection, namespace: 'default' }),
    pollIntervalMs: 250,
    reportIntervalMs: 60_000, // flushed by hand below, so the batch count is deterministic (the timer is tested in reporter.test.ts)
    staleAfterMs: 1_000,
    discoverIntervalMs: 0,
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
}

describe('router with the rollout workflow', () => {
  it("serves the rollout's ratio, reports live batches into it, and follows an abort within a second", async () => {
    const target = uniqueTarget('router');
    const spec = testSpec({ target, plan: { steps: [25, 100], dwell: '1h', samplesPerStep: 50, concurrency: 25 } });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, target, (s) => s.phase === 'ramping' && s.greenPercent === 25);
    const router = routerFor([target, 'never-rolled-out']);
    try {
      const { url } = await router.listen(0, '127.0.0.1');
      const end = Date.now() + 5_000;
      while (router.tracker.states.get(target)?.percent !== 25 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      expect(router.tracker.states.get(target)!.snapshot).toMatchObject({
        phase: 'ramping',
        greenPercent: 25,
        green: { model: 'gpt-4.1-turbo' },
      });
      expect(router.tracker.states.get('never-rolled-out')!.snapshot).toBeNull(); // no workflow → 100 % blue
      // rollouts of targets the router was not configured with are found through visibility
      const discovered = await new TemporalRatioSource({ connection: h.t.client.connection }).discoverTargets();
      expect(discovered).toContain(target);

      const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: url, maxRetries: 0 });
      const N = 60;
      const rs = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          client.chat.completions.create({ model: target, user: `u${i}`, messages: [{ role: 'user', content: 'hi' }] }).withResponse(),
        ),
      );
      const green = rs.filter((r) => r.response.headers.get('x-modelshift-arm') === 'green').length;
      expect(green).toBeGreaterThan(0);
      expect(green).toBeLessThan(N);
      for (const r of rs) expect(r.data.model).toBe(r.response.headers.get('x-modelshift-arm') === 'green' ? 'gpt-4.1-turbo' : 'gpt-4.1');

      await router.live.flush();
      const withLive = await waitForStatus(h.t.client, target, (s) => s.live.blue.requests + s.live.green.requests === N, 10_000);
      expect(withLive.live.green.requests).toBe(green);
      expect(withLive.live.batches).toBe(1); // one signal for the whole interval, not one per request

      // Time from the workflow's own change (seen by a direct query) to the router acting on it.
      const sentAt = Date.now();
      await handle.signal(abortSignal, { reason: 'router test' });
      const poll = async (done: () => Promise<boolean> | boolean) => {
        while (!(await done())) {
          if (Date.now() - sentAt > 10_000) throw new Error('abort never arrived');
          await new Promise((r) => setTimeout(r, 25)); // light polling: this measurement must not load the worker it measures
        }
        return Date.now();
      };
      const [changedAt, routerAt] = await Promise.all([
        poll(async () => (await status(h.t.client, target)).phase === 'rolled_back'), // the workflow's own view
        poll(() => router.route(target, 'u1')!.arm === 'blue' && router.tracker.states.get(target)!.snapshot?.phase === 'rolled_back'),
      ]);
      expect(routerAt - changedAt).toBeLessThan(1_000);
      expect(routerAt - sentAt, 'from the abort signal to the router sending 0% to green').toBeLessThan(1_000);
      for (let i = 0; i < N; i++) expect(router.route(target, `u${i}`)!.arm).toBe('blue');
      expect((await status(h.t.client, target)).phase).toBe('rolled_back');

      const history = historyText(await h.t.client.workflow.getHandle(rolloutWorkflowId(target)).fetchHistory());
      expect(history).toContain('liveMetrics');
      expect(history).not.toContain(UPSTREAM_KEY);
      expect(history).not.toContain(CLIENT_KEY);
    } finally {
      await router.close();
    }
  });

  it('keeps a promoted target on green after retention deletes the workflow, and re-queries a closed rollout only rarely', async () => {
    const target = uniqueTarget('retained');
    const spec = testSpec({ target, plan: { steps: [10, 100], dwell: '1h', samplesPerStep: 50, concurrency: 25 } });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, target, (s) => s.phase === 'ramping' && s.step >= 1);
    await handle.executeUpdate(promoteUpdate, { args: [{ reason: 'router test' }] });
    await handle.result();
    let gone = false;
    const real = h.t.client.connection;
    const notFound = Object.assign(new Error('5 NOT_FOUND: workflow execution not found'), {
      code: grpcStatus.NOT_FOUND,
      details: 'workflow execution not found',
      metadata: new Metadata(),
    });
    const service = new Proxy(real.workflowService, {
      get: (t, p) =>
        p === 'queryWorkflow' && gone
          ? async () => {
              throw notFound;
            }
          : Reflect.get(t, p),
    });
    const retained = new Proxy(real, { get: (t, p) => (p === 'workflowService' ? service : Reflect.get(t, p)) });
    const source = new TemporalRatioSource({ connection: retained, closedRecheckMs: 1_500 });
    const router = createRouter({
      targets: { [target]: { blue: { model: 'gpt-4.1' } } },
      gateway: { baseURL: h.sim.url },
      env: { GATEWAY_API_KEY: UPSTREAM_KEY },
      apiKeys: [CLIENT_KEY],
      ratioSource: source,
      pollIntervalMs: 100,
      discoverIntervalMs: 0,
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    try {
      await router.ready;
      expect(router.route(target, 'anyone')).toMatchObject({ arm: 'green', model: 'gpt-4.1-turbo' });
      const before = source.queries;
      await new Promise((r) => setTimeout(r, 1_000)); // 10 polls
      expect(source.queries - before).toBeLessThanOrEqual(1); // a closed rollout is not re-queried every poll

      // Temporal's retention removes the closed workflow: from then on the server answers NOT_FOUND.
      // (The dev server does not carry out DeleteWorkflowExecution within a test's time, so the
      // connection answers for it exactly as the server then does: a gRPC NOT_FOUND.)
      gone = true;
      await expect(new Client({ connection: retained }).workflow.getHandle(rolloutWorkflowId(target)).query('status')).rejects.toThrow(
        WorkflowNotFoundError,
      );
      const q = source.queries;
      const end = Date.now() + 5_000;
      while (source.queries === q && Date.now() < end) await new Promise((r) => setTimeout(r, 100)); // asked again, got not-found
      await new Promise((r) => setTimeout(r, 300));
      expect(source.queries).toBeGreaterThan(q);
      expect(router.tracker.states.get(target)!.snapshot).toMatchObject({ phase: 'promoted' });
      for (let i = 0; i < 20; i++) expect(router.route(target, `u${i}`)).toMatchObject({ arm: 'green', model: 'gpt-4.1-turbo' });
    } finally {
      await router.close();
    }
  });

  it('fails static when Temporal cannot be reached', async () => {
    const target = uniqueTarget('static');
    const dead = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 300 });
    const source = new TemporalRatioSource({ connection: dead, queryTimeoutMs: 300 });
    await expect(source.get(target)).rejects.toThrow();
    const router = routerFor([target], dead as unknown as Client['connection']);
    try {
      await router.listen(0, '127.0.0.1');
      await router.ready;
      await new Promise((r) => setTimeout(r, 1_200));
      expect(router.tracker.isStale(target)).toBe(true);
      expect(router.route(target, 'x')).toMatchObject({ arm: 'blue', model: 'gpt-4.1' }); // never read → configured blue
    } finally {
      await router.close();
      await new Promise((r) => setTimeout(r, 1000)); // let the client's pending retries run out first
      await dead.close().catch(() => undefined);
    }
  });
});
