/**
 * The router's shadow phase over real HTTP: the in-process router, the real simulator as the gateway
 * (blue gpt-4.1, green gpt-4.1-turbo, the judge deepseek-v3.2), the `openai` client as the user, an
 * in-memory ratio source standing in for the rollout's status, and the router's reporter interface
 * capturing the ShadowBatches it would signal. (The rollout side consumes them; its end-to-end test on
 * the dev server belongs with it.) Every prompt carries MARK and every answer says ANSWER: the last test
 * of the file checks that no log line, batch, /metrics or /healthz text ever showed either.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { DEFAULT_CATALOG, estimateCostUsd, isPriced } from '../../src/catalog/prices';
import { JUDGE_CODES, OUTCOME_CODES, type ProbeRound } from '../../src/decision/paired';
import { createRouter, type Router, type RouterOptions } from '../../src/router';
import { loadRouterSettings } from '../../src/router/config';
import { effectivePercent, StaticRatioSource, type RatioSnapshot } from '../../src/router/ratio';
import { isPermanent, type LiveBatch, type LiveReporter } from '../../src/router/reporter';
import { TemporalLiveReporter } from '../../src/router/temporal-reporter';
import { toSnapshot } from '../../src/router/temporal-source';
import type { RolloutStatus } from '../../src/rollout/contract';
import { SHADOW_OPT_OUT_HEADER, type ShadowBatch } from '../../src/shadow/contract';
import type { ShadowOrders } from '../../src/shadow/orders';
import { startSimulator, type FaultProfile, type Simulator } from '../../src/sim';

const KEY = 'sk-upstream-shadow-K3Y-never-shown';
const CLIENT_KEY = 'shadow-client-key';
const MARK = 'PRIVATE-PROMPT-7d1e9';
/** what the simulator's answers to these prompts say */
const ANSWER = 'The capital of France is Paris';
const T = 'chat-default';
const BLUE = 'gpt-4.1';
const GREEN = 'gpt-4.1-turbo';
const JUDGE = 'deepseek-v3.2';

const logs: string[] = [];
const exported: string[] = []; // every batch, /metrics and /healthz text the tests saw
const logger = {
  info: (m: string, f?: object) => logs.push(JSON.stringify({ m, ...f })),
  warn: (m: string, f?: object) => logs.push(JSON.stringify({ m, ...f })),
  error: (m: string, f?: object) => logs.push(JSON.stringify({ m, ...f })),
};

const sims: Simulator[] = [];
const routers: Router[] = [];
let sim: Simulator;

async function simulator(latencyScale: number, models: Record<string, Partial<FaultProfile>> = {}): Promise<Simulator> {
  const base = { errorRate: 0, timeoutRate: 0, completionTokens: 40, latencyMs: 0, judgeNoise: 0 };
  const s = await startSimulator({
    apiKey: KEY,
    latencyScale,
    seed: 5,
    onlyModels: true,
    models: { [BLUE]: { ...base, ...models[BLUE] }, [GREEN]: { ...base, ...models[GREEN] }, [JUDGE]: { ...base, ...models[JUDGE] } },
  });
  sims.push(s);
  return s;
}

beforeAll(async () => {
  sim = await simulator(0);
});
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
  sim.reset();
});
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

interface Harness {
  router: Router;
  source: StaticRatioSource;
  client: OpenAI;
  url: string;
  shadow: ShadowBatch[];
  live: LiveBatch[];
  /** set the target's shadow orders (phase shadow) and wait until the router serves them */
  orders(o: ShadowOrders | undefined, phase?: RatioSnapshot['phase']): Promise<void>;
  /** wait until no mirror is queued or in flight, then close the router: its last batches go out */
  finish(): Promise<ProbeRound>;
  /** /metrics and /healthz as finish() found them */
  metrics: string;
  health: string;
}

const cost = (model: string, u: { inputTokens: number; outputTokens: number }) => estimateCostUsd(DEFAULT_CATALOG, model, u);

async function start(o: { sim?: Simulator; orders?: ShadowOrders; extra?: Partial<RouterOptions> } = {}): Promise<Harness> {
  const s = o.sim ?? sim;
  const source = new StaticRatioSource();
  const shadow: ShadowBatch[] = [];
  const live: LiveBatch[] = [];
  const reporter: LiveReporter = {
    report: async (_t, b) => void live.push(b),
    reportShadow: async (t, b) => {
      expect(t).toBe(T);
      shadow.push(b);
      exported.push(JSON.stringify(b));
    },
  };
  const router = createRouter({
    targets: { [T]: { blue: { model: BLUE } } },
    gateway: { baseURL: s.url },
    env: { GATEWAY_API_KEY: KEY },
    apiKeys: [CLIENT_KEY],
    ratioSource: source,
    pollIntervalMs: 20,
    reporter,
    reportIntervalMs: 60_000,
    cost,
    priced: (m) => isPriced(DEFAULT_CATALOG, m),
    logger,
    ...o.extra,
  });
  routers.push(router);
  const { url } = await router.listen(0, '127.0.0.1');
  const h: Harness = {
    router,
    source,
    url,
    shadow,
    live,
    client: new OpenAI({ apiKey: CLIENT_KEY, baseURL: url, maxRetries: 0 }),
    async orders(orders, phase = 'shadow') {
      const snap: RatioSnapshot = {
        greenPercent: 0,
        phase,
        blue: { model: BLUE },
        green: { model: GREEN },
        ...(orders ? { shadow: orders } : {}),
      };
      source.set(T, snap);
      await waitFor(() => JSON.stringify(router.tracker.states.get(T)?.snapshot) === JSON.stringify(snap));
    },
    metrics: '',
    health: '',
    async finish() {
      await waitFor(() => router.shadow.load.queued + router.shadow.load.inFlight === 0);
      h.metrics = await text(url, '/metrics');
      h.health = await text(url, '/healthz');
      exported.push(h.metrics, h.health);
      await router.close();
      routers.splice(routers.indexOf(router), 1);
      return merged(shadow);
    },
  };
  await router.ready;
  await h.orders(o.orders ?? { percent: 100 });
  return h;
}

const waitFor = async (cond: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const text = async (url: string, path: string) => (await fetch(url.replace(/\/v1$/, '') + path)).text();

/** The batches' rounds as one (column by column). */
function merged(batches: ShadowBatch[]): ProbeRound {
  const r: ProbeRound = JSON.parse(JSON.stringify(batches[0]?.round ?? { prompt: [], blue: {}, green: {} }));
  for (const b of batches.slice(1)) {
    r.prompt.push(...b.round.prompt);
    for (const arm of ['blue', 'green'] as const)
      for (const k of Object.keys(r[arm]) as Array<keyof ProbeRound['blue']>) r[arm][k].push(...b.round[arm][k]);
  }
  return r;
}

const ask = (extra = '') => [{ role: 'user' as const, content: `${MARK} What is the capital of France? ${extra}` }];
const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: 'function',
    function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  },
];

/** One user request, plain or streamed (read to the end); the arm and model that answered. */
async function chat(
  h: Harness,
  o: { stream?: boolean; body?: object; headers?: Record<string, string>; query?: Record<string, string> } = {},
) {
  const body = { model: T, messages: ask(), ...o.body };
  const opts = { headers: o.headers, query: o.query };
  if (o.stream) {
    const { data, response } = await h.client.chat.completions.create({ ...body, stream: true } as never, opts).withResponse();
    let content = '';
    for await (const c of data as unknown as AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>)
      content += c.choices[0]?.delta.content ?? '';
    return { arm: response.headers.get('x-modelshift-arm'), model: response.headers.get('x-modelshift-model'), content };
  }
  const { data, response } = await h.client.chat.completions.create(body as never, opts).withResponse();
  const c = data as OpenAI.Chat.Completions.ChatCompletion;
  return {
    arm: response.headers.get('x-modelshift-arm'),
    model: response.headers.get('x-modelshift-model'),
    content: c.choices[0].message.content ?? '',
  };
}

const greenRequests = (s: Simulator) => s.requestLog().filter((r) => r.model === GREEN);
const codes = (c: number[]) => c.map((i) => OUTCOME_CODES[i]);

describe('shadow phase: mirrors', () => {
  it('users get blue; each request goes to green only after blue answered it, plain and streamed', async () => {
    const h = await start();
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await chat(h, { stream: i % 2 === 1 }));
    expect(answers.every((a) => a.arm === 'blue' && a.model === BLUE)).toBe(true);
    expect(answers.every((a) => a.content.includes(ANSWER))).toBe(true); // checked below: never exported
    const round = await h.finish();
    const log = sim.requestLog();
    const blue = log.filter((r) => r.model === BLUE);
    const green = log.filter((r) => r.model === GREEN);
    expect(blue).toHaveLength(8);
    expect(green).toHaveLength(8);
    for (let i = 0; i < 8; i++) {
      expect(green[i].stream).toBe(i % 2 === 1); // the same request
      expect(green[i].startSeq).toBeGreaterThan(blue[i].endSeq!); // after the user had blue's answer
    }
    expect(h.shadow).toHaveLength(1);
    expect(h.shadow[0]).toMatchObject({ dropped: 0, skipped: 0 });
    expect(round.prompt).toEqual(Array(8).fill(0));
    expect(codes(round.blue.code)).toEqual(Array(8).fill('ok'));
    expect(codes(round.green.code)).toEqual(Array(8).fill('ok'));
    expect(round.output?.refusal).toEqual({ blue: Array(8).fill(1), green: Array(8).fill(1) });
    expect(round.output?.json).toBeUndefined(); // no response_format asked
    expect(round.green.microUsd.every((u) => u > 0)).toBe(true); // green's spend, at the catalog's prices
    expect(round.green.outputTokens.every((t) => t > 0)).toBe(true); // streams without usage: estimated
    expect(round.judge).toBeUndefined();
    // blue's outcomes still go to the rollout as live metrics in the shadow phase (an open phase)
    expect(h.live.length).toBe(1);
    expect(h.live[0].blue.requests).toBe(8);
    expect(h.live[0].green.requests).toBe(0);
    const metrics = h.metrics;
    expect(metrics).toMatch(/modelshift_router_shadow_requests_total\{target="chat-default",result="mirrored"\} 8/);
    expect(metrics).toMatch(/modelshift_router_shadow_spend_usd_total\{target="chat-default",kind="green"\} 0\.0\d+/);
    expect(JSON.parse(h.health).targets[T].shadow).toEqual({ percent: 100, mirroring: true });
  });

  it('a green that breaks JSON under response_format fails the json check only: no error, blue conformed', async () => {
    sim.setProfile(GREEN, { brokenJsonShare: 1 });
    const h = await start();
    for (let i = 0; i < 6; i++) await chat(h, { stream: i % 2 === 0, body: { response_format: { type: 'json_object' } } });
    const round = await h.finish();
    expect(codes(round.green.code)).toEqual(Array(6).fill('ok')); // invisible to error rates
    expect(round.output?.json).toEqual({ blue: Array(6).fill(1), green: Array(6).fill(0) });
  });

  it('missing tool calls, refusals and longer answers show in their checks and tokens', async () => {
    const h = await start();
    sim.setProfile(GREEN, { dropToolCallShare: 1 });
    for (let i = 0; i < 3; i++) await chat(h, { stream: i === 1, body: { tools } });
    await waitFor(() => greenRequests(sim).length === 3 && h.router.shadow.load.inFlight === 0);
    sim.setProfile(GREEN, { dropToolCallShare: 0, refusalShare: 1 });
    for (let i = 0; i < 3; i++) await chat(h);
    await waitFor(() => greenRequests(sim).length === 6 && h.router.shadow.load.inFlight === 0);
    sim.setProfile(GREEN, { refusalShare: 0, lengthFactor: 3 });
    for (let i = 0; i < 3; i++) await chat(h);
    const r = await h.finish();
    expect(r.output?.toolCall).toEqual({ blue: [1, 1, 1, -1, -1, -1, -1, -1, -1], green: [0, 0, 0, -1, -1, -1, -1, -1, -1] });
    expect(r.output?.toolArgs?.blue.slice(0, 3)).toEqual([1, 1, 1]);
    expect(r.output?.refusal?.green.slice(3, 6)).toEqual([0, 0, 0]);
    expect(r.output?.refusal?.blue.slice(3, 6)).toEqual([1, 1, 1]);
    expect(r.blue.outputTokens.slice(6)).toEqual([40, 40, 40]);
    expect(r.green.outputTokens.slice(6)).toEqual([120, 120, 120]);
    // green's spend is priced on its longer answer
    expect(r.green.microUsd[6]).toBe(Math.round(cost(GREEN, { inputTokens: r.green.inputTokens[6], outputTokens: 120 }) * 1e6));
    expect(r.green.microUsd[6]).toBeGreaterThan(r.green.microUsd[3]);
  });

  it('a failing green is counted by its error; the user never sees it', async () => {
    sim.setProfile(GREEN, { errorRate: 1 });
    const h = await start();
    for (let i = 0; i < 4; i++) expect((await chat(h, { stream: i === 0 })).arm).toBe('blue');
    const r = await h.finish();
    expect(codes(r.green.code)).toEqual(Array(4).fill('server'));
    expect(r.green.microUsd).toEqual([0, 0, 0, 0]);
  });
});

describe('shadow phase: the judge', () => {
  const judgeRequests = (s: Simulator) => s.requestLog().filter((r) => r.model === JUDGE);

  it('a degraded green loses, an equal green ties (blind, order drawn per pair); the judge spend is apart', async () => {
    const h = await start({ orders: { percent: 100, judgePercent: 100 }, extra: { shadow: { judge: { model: JUDGE } } } });
    sim.setProfile(GREEN, { degradedShare: 1 });
    for (let i = 0; i < 6; i++) await chat(h, { stream: i % 2 === 0 });
    await waitFor(() => judgeRequests(sim).length === 6 && h.router.shadow.load.inFlight === 0);
    sim.setProfile(GREEN, { degradedShare: 0 });
    for (let i = 0; i < 6; i++) await chat(h);
    const r = await h.finish();
    const verdicts = r.judge!.map((c) => JUDGE_CODES[c]);
    expect(verdicts).toEqual([...Array(6).fill('blue'), ...Array(6).fill('tie')]);
    expect(r.judgeMicroUsd).toBeGreaterThan(0);
    expect(h.shadow[0].round.judgeMicroUsd).toBe(r.judgeMicroUsd);
    expect(h.metrics).toMatch(/modelshift_router_shadow_spend_usd_total\{target="chat-default",kind="judge"\} 0\.0\d+/);
  });

  it("the rollout's judge wins over the router's; judgePercent 0 or no judge asks none", async () => {
    const h = await start({
      orders: { percent: 100, judgePercent: 100, judge: { model: BLUE, rubric: 'Shorter wins.' } },
      extra: { shadow: { judge: { model: JUDGE } } },
    });
    await chat(h);
    await waitFor(() => sim.requestLog().filter((r) => r.model === BLUE).length === 2 && h.router.shadow.load.inFlight === 0);
    expect(judgeRequests(sim)).toHaveLength(0);
    await h.orders({ percent: 100, judgePercent: 0 });
    await chat(h);
    await h.orders({ percent: 100, judgePercent: 100 }); // no judge in the orders, none configured below
    const r = await h.finish();
    expect(r.judge!.map((c) => JUDGE_CODES[c])).toEqual(['tie', 'none']);
    const bare = await start({ orders: { percent: 100, judgePercent: 100 } });
    await chat(bare);
    const r2 = await bare.finish();
    expect(r2.judge).toBeUndefined();
  });

  it('a judge that fails gives no verdict and no text in the logs', async () => {
    const h = await start({ orders: { percent: 100, judgePercent: 100, judge: { model: 'no-such-judge' } } });
    await chat(h);
    const r = await h.finish();
    expect(r.prompt).toHaveLength(1);
    expect(r.judge).toBeUndefined(); // no pair judged: no judge column
    expect(r.judgeMicroUsd).toBeUndefined();
    expect(logs.some((l) => l.includes('judge gave no verdict') && l.includes('status 404'))).toBe(true);
  });
});

describe('shadow phase: what is not mirrored', () => {
  it('the opt-out header, excluded users and paths are skipped; a stop or another phase mirrors nothing', async () => {
    const h = await start({
      extra: {
        targets: {
          [T]: { blue: { model: BLUE }, shadow: { excludeUsers: ['vip-*', 'ceo'], excludePaths: ['/v1/chat/completions?tenant=bank'] } },
        },
      },
    });
    await chat(h, { headers: { [SHADOW_OPT_OUT_HEADER]: '1' } });
    await chat(h, { headers: { [SHADOW_OPT_OUT_HEADER]: 'yes' }, stream: true });
    await chat(h, { body: { user: 'vip-7' } });
    await chat(h, { body: { user: 'ceo' } });
    await chat(h, { query: { tenant: 'bank' } });
    await chat(h, { headers: { [SHADOW_OPT_OUT_HEADER]: '0' }, body: { user: 'ceo-assistant' }, query: { tenant: 'shop' } }); // mirrored
    await waitFor(() => greenRequests(sim).length === 1 && h.router.shadow.load.inFlight === 0);
    await h.orders({ percent: 100, stopped: true });
    await chat(h);
    await h.orders({ percent: 0 });
    await chat(h);
    await h.orders({ percent: 100 }, 'ramping');
    await chat(h);
    await h.orders({ percent: 100 }, 'paused');
    await chat(h);
    const r = await h.finish();
    expect(greenRequests(sim)).toHaveLength(1);
    expect(r.prompt).toHaveLength(1);
    expect(h.shadow.reduce((n, b) => n + b.skipped, 0)).toBe(5);
    const m = h.metrics;
    expect(m).toMatch(/result="skipped_opt_out"\} 2/);
    expect(m).toMatch(/result="skipped_excluded"\} 3/);
    expect(m).toMatch(/result="mirrored"\} 1/);
  });

  it('a full queue drops mirrors, never users', async () => {
    const slow = await simulator(1, { [GREEN]: { latencyMs: 400 } });
    const h = await start({ sim: slow, extra: { shadow: { queueSize: 2, concurrency: 1 } } });
    const t0 = performance.now();
    const users = await Promise.all(
      Array.from({ length: 30 }, (_, i) => chat(h, { stream: i % 3 === 0 }).then((a) => ({ ...a, ms: performance.now() - t0 }))),
    );
    expect(users.every((u) => u.arm === 'blue' && u.content.length > 0)).toBe(true);
    const r = await h.finish();
    const dropped = h.shadow.reduce((n, b) => n + b.dropped, 0);
    expect(dropped + r.prompt.length).toBe(30);
    expect(dropped).toBeGreaterThanOrEqual(20);
    expect(greenRequests(slow).length).toBe(r.prompt.length);
    expect(h.metrics).toMatch(new RegExp(`result="dropped_queue_full"\\} ${dropped}`));
    console.log(
      `[shadow] full queue: 30 users all served by blue, slowest after ${Math.max(...users.map((u) => u.ms)).toFixed(0)} ms; ` +
        `${r.prompt.length} mirrored (green ${r.green.ms.join('/')} ms each), ${dropped} dropped`,
    );
  });
});

describe('shadow phase: user latency with and without mirroring (same run, printed, never asserted)', () => {
  it('alternates mirroring on and off under steady traffic', async () => {
    const s = await simulator(1, { [BLUE]: { latencyMs: { p50: 40, p99: 120 } }, [GREEN]: { latencyMs: { p50: 40, p99: 120 } } });
    const h = await start({ sim: s });
    const samples: Record<'on' | 'off', number[]> = { on: [], off: [] };
    const burst = async (mode: 'on' | 'off') => {
      await h.orders(mode === 'on' ? { percent: 100 } : { percent: 100, stopped: true });
      // 4 users, 15 requests each, back to back (half of them streamed)
      await Promise.all(
        Array.from({ length: 4 }, async (_, u) => {
          for (let i = 0; i < 15; i++) {
            const t0 = performance.now();
            await chat(h, { stream: (i + u) % 2 === 0 });
            samples[mode].push(performance.now() - t0);
          }
        }),
      );
    };
    for (let round = 0; round < 3; round++) {
      await burst('on');
      await burst('off');
    }
    const r = await h.finish();
    const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];
    const line = (m: 'on' | 'off') =>
      `${m === 'on' ? 'mirroring 100%' : 'no mirroring  '}: n=${samples[m].length} p50=${q(samples[m], 0.5).toFixed(1)} ms p95=${q(samples[m], 0.95).toFixed(1)} ms p99=${q(samples[m], 0.99).toFixed(1)} ms`;
    console.log(
      `[shadow] user latency, blue p50 40 ms (simulated), same router and run:\n  ${line('on')}\n  ${line('off')}\n  pairs mirrored: ${r.prompt.length}`,
    );
    expect(samples.on).toHaveLength(180);
    expect(r.prompt.length).toBe(180); // every request of the "on" bursts was mirrored
  }, 120_000);
});

describe('shadow phase: plumbing', () => {
  it('the shadow phase serves green 0 % whatever greenPercent says', () => {
    expect(effectivePercent({ greenPercent: 50, phase: 'shadow' })).toBe(0);
  });

  it("reads the status's shadow only in phase shadow, checked", () => {
    const st = {
      greenPercent: 0,
      phase: 'shadow',
      blue: { model: BLUE },
      green: { model: GREEN },
      shadow: { percent: 250, judgePercent: 10, stopped: 'yes', judge: { model: JUDGE, rubric: 'r', apiKeyEnv: 'JUDGE_KEY' } },
    } as unknown as RolloutStatus;
    expect(toSnapshot(st).shadow).toEqual({ percent: 100, judgePercent: 10, judge: { model: JUDGE, rubric: 'r', apiKeyEnv: 'JUDGE_KEY' } });
    expect(toSnapshot({ ...st, phase: 'ramping' }).shadow).toBeUndefined();
    expect(toSnapshot({ ...st, shadow: { percent: 'x' } } as never).shadow).toBeUndefined();
  });

  it('router config: shadow options and per-target exclusions; a bad value names its field', () => {
    const file = join(tmpdir(), `router-shadow-${process.pid}.yaml`);
    writeFileSync(
      file,
      'targets:\n  chat: { blue: { model: gpt-4.1 }, shadow: { excludeUsers: [vip-*], excludePaths: ["/v1/chat/completions?t=1"] } }\n' +
        'shadow: { queueSize: 10, concurrency: 2, judge: { model: deepseek-v3.2, rubric: be fair } }\n',
    );
    const s = loadRouterSettings({ config: file }, {});
    expect(s.shadow).toEqual({ queueSize: 10, concurrency: 2, judge: { model: JUDGE, rubric: 'be fair' } });
    expect(s.targets.chat.shadow).toEqual({ excludeUsers: ['vip-*'], excludePaths: ['/v1/chat/completions?t=1'] });
    writeFileSync(file, 'shadow: { concurrency: 0 }\n');
    expect(() => loadRouterSettings({ config: file }, {})).toThrow(/shadow\.concurrency/);
    writeFileSync(file, 'targets:\n  chat: { blue: { model: m }, shadow: { excludePaths: [nope] } }\n');
    expect(() => loadRouterSettings({ config: file }, {})).toThrow(
      /targets\.chat\.shadow\.excludePaths\.0: expected a path starting with \//,
    );
  });

  it('the Temporal reporter signals shadowMetrics: a rollout that does not exist is a permanent failure (dropped, not retried)', async () => {
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      const reporter = TemporalLiveReporter.fromClient(new Client({ connection }));
      const err = await reporter
        .reportShadow(`no-such-target-${Date.now()}`, {
          batchId: 'b1',
          round: { prompt: [], blue: {} as never, green: {} as never },
          dropped: 0,
          skipped: 1,
        })
        .catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect(isPermanent(err as Error)).toBe(true);
    } finally {
      await connection.close();
    }
  });
});

describe('privacy', () => {
  it('no prompt or answer text in any log line, batch, /metrics or /healthz of this file', () => {
    expect(exported.length).toBeGreaterThan(10);
    expect(logs.join('\n')).not.toContain(MARK);
    expect(exported.join('\n')).not.toContain(MARK);
    expect(exported.join('\n')).not.toContain('capital of France');
    expect(logs.join('\n') + exported.join('\n')).not.toContain(ANSWER);
    expect(logs.join('\n') + exported.join('\n')).not.toContain(KEY);
  });
});
