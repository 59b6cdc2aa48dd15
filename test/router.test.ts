/**
 * The router over real HTTP: the simulator as the gateway, the `openai` client as the caller, an
 * in-memory RatioSource in place of the rollout workflow, an in-memory reporter.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRouter, type Router, type RouterLogger } from '../src/router';
import { StaticRatioSource } from '../src/router/ratio';
import type { LiveBatch, LiveReporter } from '../src/router/reporter';
import { startSimulator, type Simulator } from '../src/sim';

const UPSTREAM_KEY = 'sk-upstream-S3CRET-do-not-leak-7f3a9c';
const CLIENT_KEY = 'client-key-1';

let sim: Simulator;
const logs: string[] = [];
const logger: RouterLogger = {
  info: (m, f) => logs.push(JSON.stringify({ m, ...f })),
  warn: (m, f) => logs.push(JSON.stringify({ m, ...f })),
  error: (m, f) => logs.push(JSON.stringify({ m, ...f })),
};
const seen: string[] = []; // every response body and header set the tests received

beforeAll(async () => {
  sim = await startSimulator({
    apiKey: UPSTREAM_KEY,
    latencyScale: 0,
    seed: 1,
    models: { 'gpt-4.1': { errorRate: 0, timeoutRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0, timeoutRate: 0 }, 'deepseek-v3.2': { errorRate: 0 } },
  });
});
afterAll(async () => {
  await sim.close();
  expect(logs.join('\n')).not.toContain(UPSTREAM_KEY);
  expect(seen.join('\n')).not.toContain(UPSTREAM_KEY);
  expect(seen.join('\n')).not.toContain(UPSTREAM_KEY.slice(-4) + '.'); // not even a masked form
});

interface Harness {
  router: Router;
  url: string;
  source: StaticRatioSource;
  batches: Array<[string, LiveBatch]>;
  client: OpenAI;
}
const open: Router[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

async function start(opts: { green?: number; staleAfterMs?: number; gatewayKey?: string; classify?: (m: unknown) => string; baseURL?: string } = {}): Promise<Harness> {
  const source = new StaticRatioSource();
  if (opts.green !== undefined)
    source.set('chat-default', { greenPercent: opts.green, phase: 'ramping', blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } });
  const batches: Array<[string, LiveBatch]> = [];
  const reporter: LiveReporter = { report: async (t, b) => void batches.push([t, b]) };
  const router = createRouter({
    targets: { 'chat-default': { blue: { model: 'gpt-4.1' } }, 'no-rollout': { blue: { model: 'deepseek-v3.2' } } },
    gateway: { baseURL: opts.baseURL ?? sim.url },
    env: { GATEWAY_API_KEY: opts.gatewayKey ?? UPSTREAM_KEY },
    apiKeys: [CLIENT_KEY],
    ratioSource: source,
    pollIntervalMs: 40,
    staleAfterMs: opts.staleAfterMs ?? 5_000,
    reporter,
    reportIntervalMs: 60_000,
    classify: opts.classify,
    logger,
  });
  open.push(router);
  const { url } = await router.listen(0, '127.0.0.1');
  await router.ready;
  return { router, url, source, batches, client: new OpenAI({ apiKey: CLIENT_KEY, baseURL: url, maxRetries: 0 }) };
}

async function get(url: string, path: string, key = CLIENT_KEY): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(url.replace(/\/v1$/, '') + path, { headers: { authorization: `Bearer ${key}` } });
  const text = await r.text();
  seen.push(text, JSON.stringify([...r.headers]));
  return { status: r.status, text, headers: r.headers };
}

async function chatRaw(h: Harness, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const r = await h.client.chat.completions
    .create({ messages: [{ role: 'user', content: 'hello' }], model: 'chat-default', ...body } as never)
    .withResponse();
  seen.push(JSON.stringify(r.data), JSON.stringify([...r.response.headers]));
  void headers;
  return r;
}

const waitFor = async (cond: () => boolean, ms = 3_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('router over HTTP', () => {
  it('routes a target by ratio end to end (±10 pp over 400 users) and passes other models through', async () => {
    const h = await start({ green: 50 });
    let green = 0;
    const N = 400;
    for (let i = 0; i < N; i += 20) {
      const rs = await Promise.all(Array.from({ length: 20 }, (_, j) => chatRaw(h, { user: `user-${i + j}` })));
      for (const r of rs) {
        const arm = r.response.headers.get('x-modelshift-arm');
        expect(r.data.model).toBe(arm === 'green' ? 'gpt-4.1-turbo' : 'gpt-4.1');
        if (arm === 'green') green++;
        // the router's own choice agrees with the pure function
        expect(h.router.route('chat-default', `user-${i + rs.indexOf(r)}`)!.arm).toBe(arm);
      }
    }
    expect(Math.abs((green / N) * 100 - 50)).toBeLessThanOrEqual(10);
    const pass = await chatRaw(h, { model: 'deepseek-v3.2' });
    expect(pass.data.model).toBe('deepseek-v3.2');
    expect(pass.response.headers.get('x-modelshift-arm')).toBeNull();
    const none = await chatRaw(h, { model: 'no-rollout' });
    expect(none.data.model).toBe('deepseek-v3.2');
    expect(none.response.headers.get('x-modelshift-arm')).toBe('blue');
  });

  it('keeps users on their arm as the ratio rises 10 → 25 → 50 (user field and x-modelshift-user header)', async () => {
    const h = await start({ green: 10 });
    const users = Array.from({ length: 120 }, (_, i) => `sticky-${i}`);
    const armOf = async (u: string, viaHeader: boolean) => {
      const r = await fetch(`${h.url}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', ...(viaHeader ? { 'x-modelshift-user': u } : {}) },
        body: JSON.stringify({ model: 'chat-default', messages: [{ role: 'user', content: 'hi' }], ...(viaHeader ? {} : { user: u }) }),
      });
      await r.text();
      return r.headers.get('x-modelshift-arm');
    };
    let greenBefore = new Set<string>();
    for (const pct of [10, 25, 50]) {
      h.source.set('chat-default', { greenPercent: pct, phase: 'ramping', blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } });
      await waitFor(() => h.router.tracker.states.get('chat-default')!.percent === pct);
      const green = new Set<string>();
      for (let i = 0; i < users.length; i += 30) {
        const arms = await Promise.all(users.slice(i, i + 30).map((u, j) => armOf(u, j % 2 === 0)));
        arms.forEach((a, j) => a === 'green' && green.add(users[i + j]));
      }
      for (const u of greenBefore) expect(green.has(u)).toBe(true);
      greenBefore = green;
    }
    expect(greenBefore.size).toBeGreaterThan(30);
  });

  it('streams SSE chunk by chunk (first chunk arrives before the upstream produces the last) with usage', async () => {
    // an upstream that will not write the rest of the stream until the client has the first chunk
    let releaseRest!: () => void;
    const gotFirst = new Promise<void>((r) => (releaseRest = r));
    const upstream: Server = createServer((req, res) => {
      req.resume();
      req.on('end', async () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const chunk = (c: object) => res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'gpt-4.1-turbo', ...c })}\n\n`);
        chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null }] });
        await Promise.race([gotFirst, new Promise((r) => setTimeout(r, 5_000))]);
        chunk({ choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: 'stop' }] });
        chunk({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } });
        res.end('data: [DONE]\n\n');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    try {
      const h = await start({ green: 100, baseURL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1` });
      const stream = await h.client.chat.completions.create({ model: 'chat-default', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
      const parts: string[] = [];
      let usage: unknown;
      let firstAt = 0;
      for await (const c of stream) {
        if (!firstAt) {
          firstAt = Date.now();
          releaseRest(); // only now may the upstream produce the last chunks
        }
        if (c.choices[0]?.delta?.content) parts.push(c.choices[0].delta.content);
        if (c.usage) usage = c.usage;
      }
      expect(parts).toEqual(['Hel', 'lo']);
      expect(usage).toEqual({ prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 });
      await waitFor(() => (h.router.live.peek('chat-default')?.green.requests ?? 0) === 1);
      expect(h.router.live.peek('chat-default')!.green).toMatchObject({ inputTokens: 9, outputTokens: 2, errors: 0 });
    } finally {
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });

  it('streams from the simulator with usage', async () => {
    const h = await start({ green: 0 });
    const stream = await h.client.chat.completions.create({ model: 'chat-default', user: 'streamer', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    let chunks = 0;
    let usage: { completion_tokens: number } | undefined;
    for await (const c of stream) {
      chunks++;
      if (c.usage) usage = c.usage;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(usage!.completion_tokens).toBeGreaterThan(0);
    await waitFor(() => (h.router.live.peek('chat-default')?.blue.requests ?? 0) === 1);
    expect(h.router.live.peek('chat-default')!.blue.outputTokens).toBe(usage!.completion_tokens);
  });

  it('serves a green 5xx from blue and counts it as a green error', async () => {
    const h = await start({ green: 100 });
    sim.setProfile('gpt-4.1-turbo', { errorRate: 1 });
    try {
      const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => chatRaw(h, { user: `fb-${i}` })));
      for (const r of rs) {
        expect(r.response.status).toBe(200);
        expect(r.data.model).toBe('gpt-4.1');
        expect(r.response.headers.get('x-modelshift-arm')).toBe('blue');
      }
      const agg = h.router.live.peek('chat-default')!;
      expect(agg.green.requests).toBe(10);
      expect(agg.green.errors).toBe(10);
      expect(agg.green.errorsByClass.server).toBe(10);
      expect(agg.blue.requests).toBe(10);
      expect(agg.blue.errors).toBe(0);
      const m = await get(h.url, '/metrics');
      expect(m.text).toMatch(/modelshift_router_green_fallbacks_total\{target="chat-default"\} 10/);
    } finally {
      sim.setProfile('gpt-4.1-turbo', { errorRate: 0 });
    }
  });

  it('keeps the last ratio when the source fails and reports stale in /healthz and /metrics', async () => {
    const h = await start({ green: 100, staleAfterMs: 150 });
    expect(JSON.parse((await get(h.url, '/healthz')).text).targets['chat-default']).toMatchObject({ stale: false, greenPercent: 100 });
    h.source.fail(new Error('temporal unreachable'));
    await new Promise((r) => setTimeout(r, 300));
    const health = JSON.parse((await get(h.url, '/healthz')).text);
    expect(health.status).toBe('degraded');
    expect(health.targets['chat-default']).toMatchObject({ stale: true, greenPercent: 100, phase: 'ramping', lastError: 'temporal unreachable' });
    expect(health.targets['chat-default'].ratioAgeSeconds).toBeGreaterThan(0.15);
    const r = await chatRaw(h, { user: 'anyone' });
    expect(r.response.headers.get('x-modelshift-arm')).toBe('green'); // still at the last known 100 %
    const m = await get(h.url, '/metrics');
    expect(m.text).toMatch(/modelshift_router_ratio_stale\{target="chat-default"\} 1/);
    expect((await get(h.url, '/readyz')).status).toBe(200);
    h.source.recover();
    await waitFor(() => !h.router.tracker.isStale('chat-default'));
    expect(JSON.parse((await get(h.url, '/healthz')).text).status).toBe('ok');
  });

  it('follows abort/failed verdicts within a poll: rolled back → all blue', async () => {
    const h = await start({ green: 100 });
    h.source.set('chat-default', { greenPercent: 25, phase: 'rolled_back', blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } });
    const t0 = Date.now();
    await waitFor(() => h.router.route('chat-default', 'x')!.arm === 'blue');
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(h.router.route('chat-default', 'x')!.model).toBe('gpt-4.1');
  });

  it('rejects a wrong client key with an OpenAI-style 401 and never shows the upstream key', async () => {
    const h = await start({ green: 50 });
    const bad = new OpenAI({ apiKey: 'wrong', baseURL: h.url, maxRetries: 0 });
    const err = await bad.chat.completions.create({ model: 'chat-default', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err.status).toBe(401);
    expect(err.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
    expect(typeof err.error.message).toBe('string');
    seen.push(JSON.stringify(err.error));
    const none = await fetch(`${h.url}/models`);
    expect(none.status).toBe(401);
    seen.push(await none.text());
    // responses that do reach the gateway: success, model list, pass-through 404
    await chatRaw(h, { user: 'leak-check' });
    const models = await get(h.url, '/v1/models');
    const ids = JSON.parse(models.text).data.map((m: { id: string }) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['chat-default', 'no-rollout', 'gpt-4.1', 'deepseek-v3.2']));
    const missing = await chatRaw(h, { model: 'no-such-model' }).catch((e) => e);
    expect(missing.status).toBe(404);
    seen.push(JSON.stringify(missing.error));
    const other = await get(h.url, '/v1/models/gpt-4.1');
    expect(other.status).toBe(200);
    for (const p of ['/metrics', '/healthz']) await get(h.url, p);
  });

  it('turns a gateway that rejects the router\'s key into a 502 without echoing the key', async () => {
    const wrongKey = 'sk-router-has-the-WRONG-key-123456';
    const h = await start({ green: 0, gatewayKey: wrongKey });
    const err = await chatRaw(h, {}).catch((e) => e);
    expect(err.status).toBe(502);
    expect(JSON.stringify(err.error)).not.toContain(wrongKey.slice(-4));
    expect(err.error.code).toBe('upstream_auth');
    const list = await get(h.url, '/v1/models/gpt-4.1');
    expect(list.status).toBe(502);
    expect(list.text).not.toContain(wrongKey.slice(-4));
  });

  it('exposes the metric series', async () => {
    const h = await start({ green: 50 });
    await chatRaw(h, { user: 'm1' });
    await chatRaw(h, { model: 'deepseek-v3.2' });
    const m = await get(h.url, '/metrics');
    expect(m.headers.get('content-type')).toMatch(/text\/plain/);
    for (const re of [
      /modelshift_router_requests_total\{target="chat-default",arm="(blue|green)",model="gpt-4\.1(-turbo)?",status="200"\} 1/,
      /modelshift_router_requests_total\{target="",arm="passthrough",model="deepseek-v3\.2",status="200"\} 1/,
      /modelshift_router_request_duration_seconds_bucket\{le="0\.005",target="chat-default",arm="(blue|green)"\}/,
      /modelshift_router_green_percent\{target="chat-default"\} 50/,
      /modelshift_router_green_percent\{target="no-rollout"\} 0/,
      /modelshift_router_ratio_age_seconds\{target="chat-default"\} \d/,
      /modelshift_router_ratio_stale\{target="chat-default"\} 0/,
    ])
      expect(m.text).toMatch(re);
  });

  it('model: auto uses the injected classifier; the classifier may pick a target', async () => {
    const h = await start({ green: 0, classify: (m) => (JSON.stringify(m).includes('code') ? 'deepseek-v3.2' : 'chat-default') });
    const a = await chatRaw(h, { model: 'auto', messages: [{ role: 'user', content: 'write code' }] });
    expect(a.data.model).toBe('deepseek-v3.2');
    const b = await chatRaw(h, { model: 'auto', messages: [{ role: 'user', content: 'chat' }] });
    expect(b.data.model).toBe('gpt-4.1');
    expect(b.response.headers.get('x-modelshift-arm')).toBe('blue');
  });

  it('reports one liveMetrics batch per target per interval, on a timer', async () => {
    const source = new StaticRatioSource({
      'chat-default': { greenPercent: 50, phase: 'ramping', blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } },
      second: { greenPercent: 50, phase: 'ramping', blue: { model: 'gpt-4.1' }, green: { model: 'deepseek-v3.2' } },
    });
    const calls: Array<{ at: number; target: string; batch: LiveBatch }> = [];
    const router = createRouter({
      targets: { 'chat-default': { blue: { model: 'gpt-4.1' } }, second: { blue: { model: 'gpt-4.1' } }, idle: { blue: { model: 'gpt-4.1' } } },
      gateway: { baseURL: sim.url },
      env: { GATEWAY_API_KEY: UPSTREAM_KEY },
      apiKeys: [CLIENT_KEY],
      ratioSource: source,
      pollIntervalMs: 40,
      reporter: { report: async (target, batch) => void calls.push({ at: Date.now(), target, batch }) },
      reportIntervalMs: 300,
      logger,
    });
    open.push(router);
    const { url } = await router.listen(0, '127.0.0.1');
    await router.ready;
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: url, maxRetries: 0 });
    const send = (model: string, n: number) =>
      Promise.all(Array.from({ length: n }, (_, i) => client.chat.completions.create({ model, user: `r${i}`, messages: [{ role: 'user', content: 'x' }] })));
    await Promise.all([send('chat-default', 40), send('second', 25), send('gpt-4.1', 5)]);
    await waitFor(() => calls.length >= 2, 2_000);
    await new Promise((r) => setTimeout(r, 100));
    const first = calls.splice(0);
    expect(first.map((c) => c.target).sort()).toEqual(['chat-default', 'second']); // one each; none for idle or pass-through
    const cd = first.find((c) => c.target === 'chat-default')!.batch;
    expect(cd.blue.requests + cd.green.requests).toBe(40);
    expect(first.find((c) => c.target === 'second')!.batch.green.requests + first.find((c) => c.target === 'second')!.batch.blue.requests).toBe(25);
    await send('chat-default', 10);
    await waitFor(() => calls.length >= 1, 2_000);
    await new Promise((r) => setTimeout(r, 400)); // a further interval with no traffic sends nothing
    expect(calls.map((c) => c.target)).toEqual(['chat-default']);
    expect(calls[0].batch.batchId).not.toBe(cd.batchId);
  });
});
