/**
 * The router against the real rollout workflow (dev server, real worker, simulator): it reads the
 * ratio from `status`, reports live outcomes with `liveMetrics` (one signal per batch, deduplicated by
 * batchId), follows an abort within a second, and keeps gateway keys out of workflow history.
 */
import { Metadata, status as grpcStatus } from '@grpc/grpc-js';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import pLimit from 'p-limit';
import { createRouter, type Router, type RouterOptions } from '../../src/router';
import { TemporalLiveReporter } from '../../src/router/temporal-reporter';
import { TemporalRatioSource } from '../../src/router/temporal-source';
import { abortSignal, promoteUpdate, rolloutWorkflowId } from '../../src/rollout/contract';
import { startTestRollout, status, testSpec, uniqueTarget, waitForStatus } from '../helpers/rollout';
import { historyText, startTestWorker, uniqueTaskQueue } from '../helpers/temporal';
import { useHarness } from '../helpers/harness';

const UPSTREAM_KEY = 'sk-router-temporal-SECRET-9e1d';
const CLIENT_KEY = 'router-client-key';

const h = useHarness({
  sim: { latencyScale: 0, seed: 3, apiKey: UPSTREAM_KEY, models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } } },
  queue: 'router',
});

function routerFor(targets: string[], connection = h.t.client.connection, over: Partial<RouterOptions> = {}): Router {
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
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    ...over,
  });
}

const waitFor = async (cond: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** The connection, counting the gRPC calls made through it by method name. */
function countingConnection(real: Client['connection']) {
  const calls: Record<string, number> = {};
  const service = new Proxy(real.workflowService, {
    get: (t, p) => {
      const v = Reflect.get(t, p);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls[String(p)] = (calls[String(p)] ?? 0) + 1;
        return (v as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
  return { calls, connection: new Proxy(real, { get: (t, p) => (p === 'workflowService' ? service : Reflect.get(t, p)) }) };
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
      // the batch went as the sparse wire form (toWireArmStats): [bucket, count] pairs, not the dense array
      const signal = (await h.t.client.workflow.getHandle(rolloutWorkflowId(target)).fetchHistory()).events!.find(
        (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'liveMetrics',
      )!;
      const sent = JSON.parse(Buffer.from(signal.workflowExecutionSignaledEventAttributes!.input!.payloads![0].data!).toString('utf8'));
      expect(sent.blue.latency.counts).toBeUndefined();
      expect(sent.blue.latency.buckets.length).toBeGreaterThan(0);
      for (const pair of sent.blue.latency.buckets) expect(pair).toEqual([expect.any(Number), expect.any(Number)]);
      expect(history).not.toContain(UPSTREAM_KEY);
      expect(history).not.toContain(CLIENT_KEY);
    } finally {
      await router.close();
    }
  });

  it('keeps a promoted target on green after retention deletes the workflow, and asks about a closed rollout only rarely', async () => {
    const target = uniqueTarget('retained');
    const spec = testSpec({ target, plan: { steps: [10, 100], dwell: '1h', samplesPerStep: 50, concurrency: 25 } });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, target, (s) => s.phase === 'ramping' && s.step >= 1);
    await handle.executeUpdate(promoteUpdate, { args: [{ reason: 'router test' }] });
    await handle.result();
    let gone = false;
    const real = h.t.client.connection;
    const notFound = () =>
      Object.assign(new Error('5 NOT_FOUND: workflow execution not found'), {
        code: grpcStatus.NOT_FOUND,
        details: 'workflow execution not found',
        metadata: new Metadata(),
      });
    const deleted = new Set(['describeWorkflowExecution', 'queryWorkflow', 'getWorkflowExecutionHistory']);
    const service = new Proxy(real.workflowService, {
      get: (t, p) =>
        gone && deleted.has(String(p))
          ? async () => {
              throw notFound();
            }
          : Reflect.get(t, p),
    });
    const retained = new Proxy(real, { get: (t, p) => (p === 'workflowService' ? service : Reflect.get(t, p)) });
    const counted = countingConnection(retained);
    const calls = (m: string) => counted.calls[m] ?? 0;
    const source = new TemporalRatioSource({ connection: counted.connection, closedRecheckMs: 1_500 });
    const router = createRouter({
      targets: { [target]: { blue: { model: 'gpt-4.1' } } },
      gateway: { baseURL: h.sim.url },
      env: { GATEWAY_API_KEY: UPSTREAM_KEY },
      apiKeys: [CLIENT_KEY],
      ratioSource: source,
      pollIntervalMs: 100,
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    try {
      await router.ready;
      expect(router.route(target, 'anyone')).toMatchObject({ arm: 'green', model: 'gpt-4.1-turbo' });
      expect(calls('getWorkflowExecutionHistory')).toBe(1); // read from the recorded result…
      expect(calls('queryWorkflow')).toBe(0); // …never from a query, which needs a worker
      const before = calls('describeWorkflowExecution');
      await new Promise((r) => setTimeout(r, 1_000)); // 10 polls
      expect(calls('describeWorkflowExecution') - before).toBeLessThanOrEqual(1); // a closed rollout is not asked about every poll

      // Temporal's retention removes the closed workflow: from then on the server answers NOT_FOUND.
      // (The dev server does not carry out DeleteWorkflowExecution within a test's time, so the
      // connection answers for it exactly as the server then does: a gRPC NOT_FOUND.)
      gone = true;
      await expect(new Client({ connection: retained }).workflow.getHandle(rolloutWorkflowId(target)).describe()).rejects.toThrow(
        WorkflowNotFoundError,
      );
      const d = calls('describeWorkflowExecution');
      await waitFor(() => calls('describeWorkflowExecution') > d, 10_000); // asked again, got not-found
      await new Promise((r) => setTimeout(r, 300));
      expect(router.tracker.states.get(target)!.snapshot).toMatchObject({ phase: 'promoted' });
      expect(router.tracker.isStale(target)).toBe(false);
      for (let i = 0; i < 20; i++) expect(router.route(target, `u${i}`)).toMatchObject({ arm: 'green', model: 'gpt-4.1-turbo' });
      expect(calls('queryWorkflow')).toBe(0);
    } finally {
      await router.close();
    }
  });

  it('reads a closed rollout whose task queue has no worker from its result — no query, never stale — and tracks configured targets only', async () => {
    // A rollout on a queue of its own, rolled back, and its worker gone: a query could not be answered.
    const queue = uniqueTaskQueue('gone');
    const lone = await startTestWorker(h.t, queue);
    const target = uniqueTarget('closed');
    const handle = await startTestRollout(
      h.t.client,
      queue,
      testSpec({ target, plan: { steps: [30, 100], dwell: '1h', samplesPerStep: 50, concurrency: 25 } }),
    );
    await waitForStatus(h.t.client, target, (s) => s.phase === 'ramping' && s.greenPercent === 30);
    await handle.signal(abortSignal, { reason: 'router test' });
    expect((await handle.result()).phase).toBe('rolled_back');
    await lone.stop();
    // another rollout, running, of a target the router was not configured with
    const other = uniqueTarget('unconfigured');
    const otherHandle = await startTestRollout(
      h.t.client,
      h.taskQueue,
      testSpec({ target: other, plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 50, concurrency: 25 } }),
    );

    const counted = countingConnection(h.t.client.connection);
    const source = new TemporalRatioSource({ connection: counted.connection, closedRecheckMs: 200 });
    const router = createRouter({
      targets: { [target]: { blue: { model: 'gpt-4.1' } } },
      gateway: { baseURL: h.sim.url },
      env: { GATEWAY_API_KEY: UPSTREAM_KEY },
      apiKeys: [CLIENT_KEY],
      ratioSource: source, // no discoverIntervalMs: the default
      pollIntervalMs: 100,
      staleAfterMs: 1_000,
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    try {
      const { url } = await router.listen(0, '127.0.0.1');
      await router.ready;
      await waitFor(() => (counted.calls.describeWorkflowExecution ?? 0) >= 15, 20_000); // several rechecks of the closed rollout
      const base = url.replace(/\/v1$/, '');
      const health = (await (await fetch(`${base}/healthz`)).json()) as {
        status: string;
        targets: Record<string, { stale: boolean; phase: string }>;
      };
      expect(health.status).toBe('ok');
      expect(health.targets[target]).toMatchObject({ stale: false, phase: 'rolled_back', greenPercent: 0 });
      expect(Object.keys(health.targets)).toEqual([target]); // the unconfigured rollout is not tracked
      expect(await (await fetch(`${base}/metrics`)).text()).toMatch(new RegExp(`modelshift_router_ratio_stale\\{target="${target}"\\} 0`));
      expect(router.tracker.states.get(target)!.snapshot).toMatchObject({ green: { model: 'gpt-4.1-turbo' } }); // arms from the result
      expect(router.tracker.states.get(target)!.consecutiveFailures).toBe(0);
      expect(counted.calls.queryWorkflow ?? 0).toBe(0);
      expect(counted.calls.listWorkflowExecutions ?? 0).toBe(0);
      expect(counted.calls.getWorkflowExecutionHistory).toBe(1); // the result, once
      const models = JSON.parse(await (await fetch(`${url}/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).text());
      expect(models.data.map((m: { id: string }) => m.id)).not.toContain(other);
    } finally {
      await router.close();
      await otherHandle.terminate('test done');
    }
  });

  it('serves a fractional step at its exact ratio: 0.4 % of 4,000 users, not the rounded 0 %', async () => {
    const target = uniqueTarget('fraction');
    const spec = testSpec({ target, plan: { steps: [0.4, 100], dwell: '1h', samplesPerStep: 50, concurrency: 25 } });
    const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
    await waitForStatus(h.t.client, target, (s) => s.phase === 'ramping' && s.greenPercent === 0.4);
    const counted = countingConnection(h.t.client.connection);
    const describes = () => counted.calls.describeWorkflowExecution ?? 0;
    const source = new TemporalRatioSource({ connection: counted.connection });
    const router = routerFor([target], h.t.client.connection, { ratioSource: source, pollIntervalMs: 100 });
    try {
      const { url } = await router.listen(0, '127.0.0.1');
      await router.ready;
      // past several polls that read only the (rounded: 0) GreenPercent attribute
      const d = describes();
      await waitFor(() => describes() >= d + 5, 10_000);
      expect(router.tracker.states.get(target)!.percent).toBe(0.4);
      const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: url, maxRetries: 0 });
      const limit = pLimit(32);
      const N = 4_000;
      const arms = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          limit(async () => {
            const r = await client.chat.completions
              .create({ model: target, user: `frac-${i}`, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 })
              .withResponse();
            return r.response.headers.get('x-modelshift-arm');
          }),
        ),
      );
      const green = arms.filter((a) => a === 'green').length;
      // expected 16; a binomial(4000, 0.004) is within 16 ± 12 (3 standard deviations) but for 0.3 % of draws
      expect(green, `green answered ${green} of ${N}`).toBeGreaterThanOrEqual(4);
      expect(green).toBeLessThanOrEqual(28);
      expect(describes()).toBeGreaterThan(d + 5);
    } finally {
      await router.close();
      await handle.terminate('test done');
    }
  }, 120_000);

  it('close() waits for every call in flight — describes too, not only queries — before the connection may close', async () => {
    const real = h.t.client.connection;
    let settledAt = 0;
    const service = new Proxy(real.workflowService, {
      get: (t, p) =>
        p === 'describeWorkflowExecution'
          ? async (req: unknown) => {
              await new Promise((r) => setTimeout(r, 400));
              try {
                return await (t as unknown as Record<string, (r: unknown) => Promise<unknown>>).describeWorkflowExecution(req);
              } finally {
                settledAt = Date.now();
              }
            }
          : Reflect.get(t, p),
    });
    const slow = new Proxy(real, { get: (t, p) => (p === 'workflowService' ? service : Reflect.get(t, p)) });
    const source = new TemporalRatioSource({ connection: slow });
    const read = source.get(uniqueTarget('closing')).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50)); // the describe is in flight
    await source.close();
    const closedAt = Date.now();
    expect(settledAt, 'the describe had settled when close() returned').toBeGreaterThan(0);
    expect(settledAt).toBeLessThanOrEqual(closedAt);
    await read;
    await expect(source.get('after-close')).rejects.toThrow(/closed/); // and no call starts after it
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
