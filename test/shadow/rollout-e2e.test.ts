/**
 * The shadow phase end to end on the dev server: a rollout with plan.shadow, the worker, the real router
 * (TemporalRatioSource reads the phase, TemporalLiveReporter signals shadowMetrics) and the simulator as
 * the gateway. Users are answered by blue throughout the phase; the rollout judges the mirrored pairs.
 * Every prompt carries MARK; the last test checks that neither it nor an answer's text reached the
 * exported histories or any log line (router's, worker's).
 */
import { execFileSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CATALOG, estimateCostUsd, isPriced } from '../../src/catalog/prices';
import { createRouter, type Router } from '../../src/router';
import { TemporalLiveReporter } from '../../src/router/temporal-reporter';
import { TemporalRatioSource } from '../../src/router/temporal-source';
import { OUTPUT_CHECKS } from '../../src/decision/paired';
import { rolloutWorkflowId, type RolloutStatus } from '../../src/rollout/contract';
import { roundOf, type ShadowPair } from '../../src/shadow/batch';
import { SHADOW_SIGNAL } from '../../src/shadow/contract';
import { statusJson, statusText } from '../../src/rollout/render';
import { startSimulator, type FaultProfile, type Simulator } from '../../src/sim/index';
import { result, startTestRollout, status, testSpec, uniqueTarget, waitForStatus } from '../helpers/rollout';
import { connectTestTemporal, startTestWorker, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';

const MARK = 'PRIVATE-SHADOW-PROMPT-5f2a';
const ANSWER_WORD = 'Paris';
const CLIENT_KEY = 'shadow-e2e-client-key';
const BLUE = 'gpt-4.1';
const GREEN = 'gpt-4.1-turbo';
const JUDGE = 'deepseek-v3.2';
const TEMPORAL_CLI = join(homedir(), '.cache/modelshift/temporal-cli-v1.5.1/temporal');

const routerLogs: string[] = [];
const logger = {
  info: (m: string, f?: object) => void routerLogs.push(JSON.stringify({ m, ...f })),
  warn: (m: string, f?: object) => void routerLogs.push(JSON.stringify({ m, ...f })),
  error: (m: string, f?: object) => void routerLogs.push(JSON.stringify({ m, ...f })),
};
/** everything this process wrote to stdout/stderr during the tests (the worker's logs among it) */
const processOutput: string[] = [];
const targets: string[] = [];

let t: TestTemporal;
let probeSim: Simulator; // the worker's preflight and probes
let trafficSim: Simulator; // the router's users and mirrors
let stopWorker: () => Promise<void>;
const taskQueue = uniqueTaskQueue('shadow-e2e');
const restore: Array<() => void> = [];

const quiet: Partial<FaultProfile> = { errorRate: 0, timeoutRate: 0, judgeNoise: 0 };

beforeAll(async () => {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      processOutput.push(String(chunk));
      return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stream.write;
    restore.push(() => (stream.write = write));
  }
  probeSim = await startSimulator({ latencyScale: 0.02, seed: 7, models: { [BLUE]: quiet, [GREEN]: quiet } });
  trafficSim = await startSimulator({ latencyScale: 0.02, seed: 8, models: { [BLUE]: quiet, [GREEN]: quiet, [JUDGE]: quiet } });
  process.env.GATEWAY_BASE_URL = probeSim.url;
  process.env.GATEWAY_API_KEY = probeSim.apiKey;
  t = await connectTestTemporal();
  stopWorker = (await startTestWorker(t, taskQueue)).stop;
});
afterAll(async () => {
  await stopWorker?.();
  await t?.close();
  await probeSim?.close();
  await trafficSim?.close();
  restore.forEach((r) => r());
});

function shadowRouter(target: string): Router {
  return createRouter({
    // `<target>-control` has no rollout: always blue, never mirrored (users' latency without mirroring, same run)
    targets: { [target]: { blue: { model: BLUE } }, [`${target}-control`]: { blue: { model: BLUE } } },
    gateway: { baseURL: trafficSim.url },
    env: { GATEWAY_API_KEY: trafficSim.apiKey },
    apiKeys: [CLIENT_KEY],
    ratioSource: new TemporalRatioSource({ connection: t.client.connection }),
    reporter: new TemporalLiveReporter({ connection: t.client.connection }),
    pollIntervalMs: 200,
    reportIntervalMs: 400,
    discoverIntervalMs: 0,
    cost: (model, u) => estimateCostUsd(DEFAULT_CATALOG, model, u),
    priced: (m) => isPriced(DEFAULT_CATALOG, m),
    logger,
  });
}

/**
 * Steady user traffic through the router until `done` holds for the rollout's status: each user's arm
 * (from the router's header) and the phase the status had just before the request was sent.
 */
async function traffic(url: string, target: string, done: (s: RolloutStatus) => boolean, o: { json?: boolean } = {}) {
  const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: url, maxRetries: 0 });
  const limit = pLimit(8);
  const served: Array<{ arm: string | null; phase: string; ms: number; control: boolean }> = [];
  const end = Date.now() + 150_000;
  let k = 0;
  for (;;) {
    const s = await status(t.client, target);
    if (done(s)) return { status: s, served };
    if (Date.now() > end) throw new Error(`timed out; last status ${JSON.stringify(statusJson(s)).slice(0, 2000)}`);
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        limit(async () => {
          const control = i % 2 === 1;
          const t0 = performance.now();
          const { response } = await client.chat.completions
            .create({
              model: control ? `${target}-control` : target,
              user: `user-${k++}`,
              messages: [{ role: 'user', content: `${MARK} What is the capital of France?` }],
              max_tokens: 64,
              ...(o.json ? { response_format: { type: 'json_object' as const } } : {}),
            })
            .withResponse();
          served.push({ arm: response.headers.get('x-modelshift-arm'), phase: s.phase, ms: performance.now() - t0, control });
        }),
      ),
    );
  }
}

async function withRollout<T>(target: string, fn: (url: string, router: Router) => Promise<T>): Promise<T> {
  await waitForStatus(t.client, target, (s) => s.phase === 'shadow', 60_000);
  const router = shadowRouter(target);
  try {
    const { url } = await router.listen(0, '127.0.0.1');
    await router.ready;
    return await fn(url, router);
  } finally {
    await router.close();
  }
}

const plan = (shadow: object) => ({
  steps: [50, 100],
  dwell: '1h',
  samplesPerStep: 100,
  concurrency: 25,
  shadow: { percent: 100, minPairs: 200, ...shadow },
});

describe('the shadow phase on the dev server, with the real router', () => {
  it('an equal green passes the phase (the judge on, noisy) and reaches step 1; users were answered by blue; green’s and the judge’s spend counted', async () => {
    const target = uniqueTarget('shadow-eq');
    targets.push(target);
    trafficSim.setProfile(JUDGE, { judgeNoise: 0.1 });
    const guards = { maxHoldRounds: 1000, judge: { model: JUDGE, samplePercent: 50 } };
    const handle = await startTestRollout(t.client, taskQueue, testSpec({ target, plan: plan({ maxSpendUsd: 5 }), guards }));
    const { status: s, served } = await withRollout(target, (url) =>
      traffic(url, target, (x) => x.phase !== 'shadow', { json: true }),
    ).finally(() => trafficSim.setProfile(JUDGE, { judgeNoise: 0 }));
    expect(s.phase, s.reason).toBe('ramping');
    expect(s.step).toBe(1);
    expect(s.greenPercent).toBe(50);
    expect(served.filter((r) => r.phase === 'shadow' && !r.control).every((r) => r.arm === 'blue')).toBe(true);
    // Users' latency with and without mirroring, interleaved in the same run (printed, never asserted: speed lives in bench/).
    const q = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
    const during = served.filter((r) => r.phase === 'shadow');
    const mirrored = during.filter((r) => !r.control).map((r) => r.ms);
    const plain = during.filter((r) => r.control).map((r) => r.ms);
    expect(mirrored.length).toBeGreaterThan(0);
    expect(plain.length).toBeGreaterThan(0);
    console.log(
      `[shadow e2e] users' latency during the phase: mirrored target p50 ${q(mirrored, 0.5).toFixed(1)} ms / p99 ${q(mirrored, 0.99).toFixed(1)} ms (${mirrored.length} requests); ` +
        `control target (no mirroring) p50 ${q(plain, 0.5).toFixed(1)} ms / p99 ${q(plain, 0.99).toFixed(1)} ms (${plain.length})`,
    );
    const sh = s.shadowStats!;
    expect(sh.pairs).toBeGreaterThanOrEqual(200);
    expect(sh.spendUsd.green).toBeGreaterThan(0);
    expect(sh.checks.json?.n).toBeGreaterThan(0);
    expect(sh.checks.json?.greenOnly).toBe(0);
    expect(s.verdicts.find((v) => v.step === 0)?.evaluation.verdict).toBe('Pass');
    expect(sh.judge.judged).toBeGreaterThanOrEqual(30);
    expect(sh.spendUsd.judge).toBeGreaterThan(0);
    expect(statusText(s)).toMatch(/shadow {2}\d+\/200 pairs, \d+ batches, dropped \d+, skipped \d+; green spend \$/);
    console.log(
      `[shadow e2e] equal green: ${sh.pairs} pairs in ${sh.batches} batches, green spend $${sh.spendUsd.green.toFixed(6)}, blue $${sh.spendUsd.blue.toFixed(6)}; ` +
        `judge ${sh.judge.judged} judged (lost ${sh.judge.greenLost}, won ${sh.judge.greenWon}), spend $${sh.spendUsd.judge.toFixed(6)}`,
    );
    await handle.signal('abort', { reason: 'test done' });
    await result(t.client, target);
  }, 240_000);

  it('a green that breaks JSON under response_format is rolled back in the phase before any user is served by it; the reason names the check', async () => {
    const target = uniqueTarget('shadow-json');
    targets.push(target);
    trafficSim.setProfile(GREEN, { brokenJsonShare: 0.5 });
    try {
      await startTestRollout(t.client, taskQueue, testSpec({ target, plan: plan({}), guards: { maxHoldRounds: 1000 } }));
      const { served } = await withRollout(target, (url) => traffic(url, target, (x) => x.phase !== 'shadow', { json: true }));
      const r = await result(t.client, target);
      expect(r.phase).toBe('rolled_back');
      expect(r.status.step).toBe(0);
      expect(r.reason).toMatch(/shadow phase.*json: green broke JSON in \d+ of \d+ mirrored pairs/);
      expect(served.every((x) => x.arm === 'blue')).toBe(true);
      expect(r.status.live.green.requests).toBe(0);
      // no probe of green ran either: the phase came first
      expect(r.status.probes.pairs).toBe(0);
      console.log(`[shadow e2e] broken JSON: ${r.reason!.slice(0, 300)}`);
    } finally {
      trafficSim.setProfile(GREEN, { brokenJsonShare: 0 });
    }
  }, 240_000);

  it("with the judge on, a degraded green is rolled back on the judge's loss rate; the judge's spend is reported", async () => {
    const target = uniqueTarget('shadow-judge');
    targets.push(target);
    trafficSim.setProfile(GREEN, { degradedShare: 0.5 });
    try {
      const spec = testSpec({
        target,
        plan: plan({}),
        guards: { maxHoldRounds: 1000, judge: { model: JUDGE, samplePercent: 50, maxLossRate: 0.1 } },
      });
      await startTestRollout(t.client, taskQueue, spec);
      await withRollout(target, (url) => traffic(url, target, (x) => x.phase !== 'shadow'));
      const r = await result(t.client, target);
      expect(r.phase).toBe('rolled_back');
      expect(r.reason).toMatch(/shadow phase.*judge: the judge preferred blue in \d+/);
      const sh = r.status.shadowStats!;
      expect(sh.judge.judged).toBeGreaterThan(0);
      expect(sh.judge.greenLost).toBeGreaterThan(sh.judge.greenWon);
      expect(sh.spendUsd.judge).toBeGreaterThan(0);
      expect(statusText(r.status)).toMatch(/judge \d+ judged \(green lost \d+, won \d+\), spend \$/);
      console.log(
        `[shadow e2e] judge: ${sh.judge.judged} judged, lost ${sh.judge.greenLost}, won ${sh.judge.greenWon}, judge spend $${sh.spendUsd.judge.toFixed(6)}; ${r.reason!.slice(0, 200)}`,
      );
    } finally {
      trafficSim.setProfile(GREEN, { degradedShare: 0 });
    }
  }, 240_000);

  it('a judge the gateway does not have fails preflight, naming the judge (checked as an arm)', async () => {
    const target = uniqueTarget('shadow-nojudge');
    const only = await startSimulator({ latencyScale: 0, seed: 9, onlyModels: true, models: { [BLUE]: quiet, [GREEN]: quiet } });
    const before = { url: process.env.GATEWAY_BASE_URL, key: process.env.GATEWAY_API_KEY };
    try {
      const spec = testSpec({ target, plan: plan({}), guards: { judge: { model: 'no-such-judge' } } });
      process.env.GATEWAY_BASE_URL = only.url; // the in-process worker's gateway for this test
      process.env.GATEWAY_API_KEY = only.apiKey;
      await startTestRollout(t.client, taskQueue, spec);
      const r = await result(t.client, target);
      expect(r.phase).toBe('failed');
      expect(r.reason).toMatch(/preflight failed: judge: model `no-such-judge` does not exist/);
    } finally {
      process.env.GATEWAY_BASE_URL = before.url;
      process.env.GATEWAY_API_KEY = before.key;
      await only.close();
    }
  }, 120_000);

  it('without router traffic the phase waits, bounded by maxDuration; pause, resume and promote work in it', async () => {
    const idle = uniqueTarget('shadow-idle');
    await startTestRollout(t.client, taskQueue, testSpec({ target: idle, plan: plan({ maxDuration: '2s' }) }));
    const r = await result(t.client, idle);
    expect(r.phase).toBe('rolled_back');
    expect(r.reason).toMatch(/no verdict in the shadow phase within 2s.*no router sent mirrored pairs/);

    const target = uniqueTarget('shadow-ops');
    const handle = await startTestRollout(t.client, taskQueue, testSpec({ target, plan: plan({}) }));
    const s = await waitForStatus(t.client, target, (x) => x.phase === 'shadow', 60_000);
    expect(s.greenPercent).toBe(0);
    expect(s.shadow).toEqual({ percent: 100 });
    await handle.executeUpdate('pause', { args: [{ reason: 'look first' }] });
    const paused = await status(t.client, target);
    expect(paused.phase).toBe('paused');
    expect(paused.shadow).toEqual({ percent: 100, stopped: true }); // routers stop mirroring while paused
    await handle.executeUpdate('resume', { args: [] });
    const resumed = await status(t.client, target);
    expect(resumed.phase).toBe('shadow');
    expect(resumed.shadow).toEqual({ percent: 100 });
    await handle.executeUpdate('promote', { args: [{ reason: 'known good' }] });
    const done = await result(t.client, target);
    expect(done.phase).toBe('promoted');
    expect(done.greenPercent).toBe(100);
  }, 120_000);

  it("the spend cap's stop reaches a router's ratio source within a poll, without waiting for its periodic full read", async () => {
    const target = uniqueTarget('shadow-cap');
    const handle = await startTestRollout(t.client, taskQueue, testSpec({ target, plan: plan({ maxSpendUsd: 0.002, minPairs: 5000 }) }));
    await waitForStatus(t.client, target, (x) => x.phase === 'shadow', 60_000);
    const source = new TemporalRatioSource({ connection: t.client.connection, fullRefreshMs: 600_000 });
    try {
      const before = await source.get(target);
      expect(before?.shadow).toEqual({ percent: 100 });
      // one router's batch whose sampled-out pairs alone cost green $0.01: past the $0.002 cap
      const side = { code: 0, ms: 50, microUsd: 10, inputTokens: 10, outputTokens: 10, check: -1, retriedFailures: 0 };
      const output = Object.fromEntries(OUTPUT_CHECKS.map((c) => [c, { blue: -1, green: -1 }])) as ShadowPair['output'];
      const pairs: ShadowPair[] = Array.from({ length: 5 }, () => ({ blue: side, green: side, output, judge: 0 }));
      const sent = Date.now();
      await handle.signal(SHADOW_SIGNAL, {
        batchId: `${target}-cap-1`,
        round: roundOf(pairs),
        dropped: 0,
        skipped: 0,
        sampledOut: { pairs: 1000, greenMicroUsd: 10_000, blueMicroUsd: 10_000 },
      });
      let snap = before;
      while (snap?.phase === 'shadow' && !snap.shadow?.stopped && Date.now() - sent < 20_000) {
        await new Promise((r) => setTimeout(r, 100));
        snap = await source.get(target);
      }
      const ms = Date.now() - sent;
      console.log(`[shadow e2e] spend cap → ratio source: ${ms} ms (phase ${snap?.phase}, full reads every 600 s)`);
      expect(snap?.phase).toBe('rolled_back');
      expect(snap?.greenPercent).toBe(0);
      expect(snap?.shadow).toBeUndefined(); // no orders to mirror
      const r = await result(t.client, target);
      expect(r.reason).toMatch(/mirroring stopped \(green's shadow spend \$0\.01\d* reached plan\.shadow\.maxSpendUsd \$0\.002/);
      expect(r.status.shadowStats?.sampledOut).toBe(1000);

      // the cap crossed by a batch merged while paused: on resume the phase is judged at once (no router mirrors any more)
      const held = uniqueTarget('shadow-cap-paused');
      const h2 = await startTestRollout(
        t.client,
        taskQueue,
        testSpec({ target: held, plan: plan({ maxSpendUsd: 0.002, minPairs: 5000 }) }),
      );
      await waitForStatus(t.client, held, (x) => x.phase === 'shadow', 60_000);
      await h2.executeUpdate('pause', { args: [{ reason: 'hold on' }] });
      await h2.signal(SHADOW_SIGNAL, {
        batchId: `${held}-cap-1`,
        round: roundOf(pairs),
        dropped: 0,
        skipped: 0,
        sampledOut: { pairs: 1000, greenMicroUsd: 10_000, blueMicroUsd: 10_000 },
      });
      await waitForStatus(t.client, held, (x) => x.shadowStats?.sampledOut === 1000, 20_000);
      await h2.executeUpdate('resume', { args: [] });
      const r2 = await Promise.race([
        result(t.client, held),
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error('the phase did not end within 60 s of resume')), 60_000)),
      ]);
      expect(r2.phase).toBe('rolled_back');
      expect(r2.reason).toMatch(/mirroring stopped \(green's shadow spend/);
    } finally {
      await source.close();
    }
  }, 120_000);

  it('no prompt or answer text in the exported histories or in any log line', () => {
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) {
      const history = execFileSync(
        TEMPORAL_CLI,
        ['workflow', 'show', '-w', rolloutWorkflowId(target), '-o', 'json', '--address', t.address],
        { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
      );
      expect(history).toContain('shadowMetrics');
      expect(history.includes(MARK), `${target}: prompt text in history`).toBe(false);
      expect(history.includes(ANSWER_WORD), `${target}: answer text in history`).toBe(false);
    }
    const logs = [...routerLogs, ...processOutput].join('\n');
    expect(routerLogs.length).toBeGreaterThan(0);
    expect(logs.includes(MARK)).toBe(false);
    expect(logs.includes(ANSWER_WORD)).toBe(false);
  });
});
