/**
 * Live traffic through the router (real HTTP, the real `openai` client, the simulator) and into the
 * rollout's verdict (real dev server and worker).
 */
import OpenAI from 'openai';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRouter, StaticRatioSource, type Router } from '../../src/router';
import { TemporalLiveReporter } from '../../src/router/temporal-reporter';
import { TemporalRatioSource } from '../../src/router/temporal-source';
import { startSimulator, type Simulator } from '../../src/sim/index';
import { result, startTestRollout, testSpec, uniqueTarget, waitForStatus } from '../helpers/rollout';
import { connectTestTemporal, startTestWorker, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { inject } from 'vitest';
import { startDevServer } from '../../src/temporal/devserver';
import { createWorker } from '../../src/worker';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
/** Wait until `cond` holds (the bound only stops a test that would hang; no speed is asserted). */
const until = async (cond: () => boolean, ms = 30_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};
const CLIENT_KEY = 'live-client-key';
let t: TestTemporal;
let samplesSim: Simulator; // what the worker's samples hit
let liveSim: Simulator; // what the router's live traffic hits
let stopWorker: () => Promise<void>;
const taskQueue = uniqueTaskQueue('live');

beforeAll(async () => {
  const healthy = { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } };
  samplesSim = await startSimulator({ latencyScale: 0.02, seed: 5, models: healthy });
  liveSim = await startSimulator({ latencyScale: 0, seed: 6, models: healthy });
  process.env.GATEWAY_BASE_URL = samplesSim.url;
  process.env.GATEWAY_API_KEY = samplesSim.apiKey;
  t = await connectTestTemporal();
  stopWorker = (await startTestWorker(t, taskQueue)).stop;
});
afterAll(async () => {
  await stopWorker?.();
  await t?.close();
  await samplesSim?.close();
  await liveSim?.close();
});

function liveRouter(targets: string[]): Router {
  return createRouter({
    targets: Object.fromEntries(targets.map((n) => [n, { blue: { model: 'gpt-4.1' } }])),
    gateway: { baseURL: liveSim.url },
    env: { GATEWAY_API_KEY: liveSim.apiKey },
    apiKeys: [CLIENT_KEY],
    ratioSource: new TemporalRatioSource({ connection: t.client.connection }),
    reporter: new TemporalLiveReporter({ connection: t.client.connection }),
    pollIntervalMs: 250,
    reportIntervalMs: 500,
    discoverIntervalMs: 0,
    logger: quiet,
  });
}

/** Requests for users user-0, user-(every), … below user-n. */
async function send(url: string, target: string, n: number, concurrency = 32, every = 1) {
  const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: url, maxRetries: 0 });
  const limit = pLimit(concurrency);
  return Promise.all(
    Array.from({ length: Math.ceil(n / every) }, (_, k) =>
      limit(() =>
        client.chat.completions
          .create({ model: target, user: `user-${k * every}`, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 })
          .withResponse(),
      ),
    ),
  );
}

describe('live traffic', () => {
  it("over 10,000 users per step, green gets its ratio within ±2 pp, users keep their arm as it rises, and HTTP serves each user's arm", async () => {
    const source = new StaticRatioSource({ chat: { greenPercent: 10, phase: 'ramping', green: { model: 'gpt-4.1-turbo' } } });
    const router = createRouter({
      targets: { chat: { blue: { model: 'gpt-4.1' } } },
      gateway: { baseURL: liveSim.url },
      env: { GATEWAY_API_KEY: liveSim.apiKey },
      apiKeys: [CLIENT_KEY],
      ratioSource: source,
      pollIntervalMs: 50,
      logger: quiet,
    });
    const { url } = await router.listen(0, '127.0.0.1');
    const users = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
    try {
      let previousGreen = new Set<string>();
      for (const percent of [10, 25, 50]) {
        source.set('chat', { greenPercent: percent, phase: 'ramping', green: { model: 'gpt-4.1-turbo' } });
        await until(() => router.tracker.states.get('chat')!.percent === percent);
        // the router's own assignment for every user…
        const greenUsers = new Set(users.filter((u) => router.route('chat', u)!.arm === 'green'));
        const share = (greenUsers.size / users.length) * 100;
        expect(Math.abs(share - percent), `green share at ${percent}%: ${share.toFixed(2)}%`).toBeLessThanOrEqual(2);
        for (const u of previousGreen) expect(greenUsers.has(u), `${u} stayed on green`).toBe(true);
        previousGreen = greenUsers;
        // …is what real requests get: every 10th user over HTTP (user-0, user-10, …)
        const rs = await send(url, 'chat', 10_000, 64, 10);
        rs.forEach((r, k) => {
          const u = `user-${k * 10}`;
          expect(r.data.model, u).toBe(greenUsers.has(u) ? 'gpt-4.1-turbo' : 'gpt-4.1');
        });
      }
    } finally {
      await router.close();
    }
  }, 300_000);

  it('a green 5xx before the first byte is served by blue and shows as a green error in the rollout status', async () => {
    const target = uniqueTarget('live5xx');
    liveSim.setProfile('gpt-4.1-turbo', { errorRate: 1 });
    const spec = testSpec({
      target,
      plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 100, concurrency: 25 },
      guards: { maxHoldRounds: 1000 },
    });
    const handle = await startTestRollout(t.client, taskQueue, spec);
    await waitForStatus(t.client, target, (s) => s.phase === 'ramping' && s.greenPercent === 50, 120_000);
    const router = liveRouter([target]);
    try {
      const { url } = await router.listen(0, '127.0.0.1');
      await until(() => router.tracker.states.get(target)!.percent === 50); // the first ratio read
      const rs = await send(url, target, 40, 8);
      // Every user got an answer — green's failures were re-sent to blue before any byte went out.
      expect(rs.every((r) => r.response.status === 200)).toBe(true);
      expect(rs.every((r) => r.data.model === 'gpt-4.1')).toBe(true); // blue answered every one
      await router.live.flush();
      const s = await waitForStatus(t.client, target, (x) => x.live.green.requests > 0);
      expect(s.live.green.errors).toBe(s.live.green.requests); // counted against green
      expect(s.live.green.errors).toBeGreaterThan(0);
      // (Those live errors may already have rolled the rollout back; if not, end it.)
      if ((await handle.describe()).status.name === 'RUNNING') await handle.signal('abort', { reason: 'test done' });
      await result(t.client, target);
    } finally {
      await router.close();
      liveSim.setProfile('gpt-4.1-turbo', { errorRate: 0 });
    }
  }, 240_000);

  it('live-traffic errors alone (no sample errors) roll a rollout back', async () => {
    const target = uniqueTarget('liveonly');
    const spec = testSpec({ target, plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 100, concurrency: 25 } });
    await startTestRollout(t.client, taskQueue, spec);
    // Samples pass at 50% and the rollout dwells; then green goes bad for users only.
    await waitForStatus(t.client, target, (s) => s.verdicts.at(-1)?.evaluation.verdict === 'Pass', 120_000);
    liveSim.setProfile('gpt-4.1-turbo', { errorRate: 0.3 });
    const router = liveRouter([target]);
    try {
      const { url } = await router.listen(0, '127.0.0.1');
      await until(() => router.tracker.states.get(target)!.percent === 50);
      let r = await t.client.workflow.getHandle(`rollout-${target}`).describe();
      for (let round = 0; round < 20 && r.status.name === 'RUNNING'; round++) {
        await send(url, target, 200, 32);
        await new Promise((res) => setTimeout(res, 600)); // a live batch goes out every 500 ms
        r = await t.client.workflow.getHandle(`rollout-${target}`).describe();
      }
      const final = await result(t.client, target);
      expect(final.phase).toBe('rolled_back');
      expect(final.greenPercent).toBe(0);
      expect(final.reason).toMatch(/^failed verdict at 50% green: \w*error/i); // the error guard (live or all traffic)
      const samplesGreenErrors = final.status.arms.green.errors - final.status.live.green.errors;
      expect(samplesGreenErrors).toBe(0); // the samples never saw an error…
      expect(final.status.live.green.errors).toBeGreaterThan(0); // …live traffic did
    } finally {
      await router.close();
      liveSim.setProfile('gpt-4.1-turbo', { errorRate: 0 });
    }
  }, 240_000);

  it('Temporal stopped mid-run: the router keeps serving at the last ratio and /healthz says it is stale', async () => {
    // A server of its own, so this test can stop it.
    const server = await startDevServer({ log: () => undefined });
    const native = await NativeConnection.connect({ address: server.address });
    const worker = await createWorker({
      connection: native,
      namespace: 'default',
      taskQueue: 'stop-me',
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    const running = worker.run();
    const client = new Client({ connection: server.env.connection });
    const target = uniqueTarget('static');
    const spec = testSpec({ target, plan: { steps: [25, 100], dwell: '1h', samplesPerStep: 100, concurrency: 25 } });
    await startTestRollout(client, 'stop-me', spec);
    await waitForStatus(client, target, (x) => x.greenPercent === 25);
    // The router's own connection, as in production: stopping the server makes its queries fail; it
    // is not closed under the router's feet (a closed channel is a different, test-only situation).
    const routerConnection = await Connection.connect({ address: server.address });
    const router = createRouter({
      targets: { [target]: { blue: { model: 'gpt-4.1' } } },
      gateway: { baseURL: liveSim.url },
      env: { GATEWAY_API_KEY: liveSim.apiKey },
      apiKeys: [CLIENT_KEY],
      ratioSource: new TemporalRatioSource({ connection: routerConnection, queryTimeoutMs: 300 }),
      pollIntervalMs: 100,
      staleAfterMs: 1000,
      discoverIntervalMs: 0,
      logger: quiet,
    });
    try {
      const { url } = await router.listen(0, '127.0.0.1');
      await until(() => router.tracker.states.get(target)!.percent === 25);
      const healthz = async () =>
        (await (await fetch(url.replace(/\/v1$/, '/healthz'))).json()) as {
          status: string;
          targets: Record<string, { greenPercent: number; stale: boolean }>;
        };
      expect((await healthz()).targets[target]).toMatchObject({ greenPercent: 25, stale: false });
      const before = (await send(url, target, 400)).map((r) => r.data.model);

      worker.shutdown();
      await running;
      await native.close();
      await server.stop(); // Temporal is gone

      await until(() => router.tracker.isStale(target));
      const h = await healthz();
      expect(h.status).toBe('degraded');
      expect(h.targets[target]).toMatchObject({ greenPercent: 25, stale: true });
      const after = (await send(url, target, 400)).map((r) => r.data.model);
      expect(after).toEqual(before); // same users, same arms: still serving the last ratio
      expect(after.filter((m) => m === 'gpt-4.1-turbo').length).toBeGreaterThan(50);
      const metrics = await (await fetch(url.replace(/\/v1$/, '/metrics'))).text();
      expect(metrics).toMatch(new RegExp(`modelshift_router_ratio_stale\\{target="${target}"\\} 1`));
    } finally {
      await router.close();
      await new Promise((r) => setTimeout(r, 1000)); // let the client's pending retries run out first
      await routerConnection.close().catch(() => undefined);
    }
  }, 240_000);
});

describe('model: auto', () => {
  it('picks a model with the catalog classifier (the seed rule) and passes the request through', async () => {
    const { classify } = await import('../../src/catalog/classify');
    const router = createRouter({
      gateway: { baseURL: liveSim.url },
      env: { GATEWAY_API_KEY: liveSim.apiKey },
      apiKeys: [CLIENT_KEY],
      classify: (m) => classify(Array.isArray(m) ? m : []),
      logger: quiet,
    });
    const { url } = await router.listen(0, '127.0.0.1');
    try {
      const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: url, maxRetries: 0 });
      const short = await client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'Capital of Japan?' }] });
      expect(short.model).toBe('deepseek-v3.2'); // < 500 characters → the cheapest
      const medium = await client.chat.completions.create({
        model: 'auto',
        messages: [{ role: 'user', content: 'Summarise: ' + 'lorem ipsum '.repeat(60) }],
      });
      expect(medium.model).toBe('gemini-2.5-flash'); // 500–3000 characters, no reasoning keyword
      const reasoning = await client.chat.completions.create({
        model: 'auto',
        messages: [{ role: 'user', content: 'Please analyze and compare these two designs in depth. ' + 'detail '.repeat(80) }],
      });
      expect(reasoning.model).toBe('gpt-4.1'); // a reasoning keyword → the strong model
    } finally {
      await router.close();
    }
  });
});
