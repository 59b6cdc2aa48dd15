/**
 * The router over real HTTP: the simulator as the gateway, the `openai` client as the caller, an
 * in-memory RatioSource in place of the rollout workflow, an in-memory reporter.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRouter, type Router, type RouterLogger, type RouterOptions } from '../src/router';
import type { ArmRef } from '../src/rollout/contract';
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

async function start(
  opts: { green?: number; greenArm?: ArmRef; staleAfterMs?: number; gatewayKey?: string; classify?: (m: unknown) => string; baseURL?: string; reporter?: LiveReporter; extra?: Partial<RouterOptions> } = {},
): Promise<Harness> {
  const source = new StaticRatioSource();
  if (opts.green !== undefined)
    source.set('chat-default', { greenPercent: opts.green, phase: 'ramping', blue: { model: 'gpt-4.1' }, green: opts.greenArm ?? { model: 'gpt-4.1-turbo' } });
  const batches: Array<[string, LiveBatch]> = [];
  const reporter: LiveReporter = opts.reporter ?? { report: async (t, b) => void batches.push([t, b]) };
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
    ...opts.extra,
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

// ---------------------------------------------------------------- review findings (each fails without its fix)

interface Recorded { method: string; url: string; headers: IncomingHttpHeaders; body: string }
interface Upstream { url: string; seen: Recorded[]; close(): Promise<void> }

/** An upstream that records every request; by default it answers a chat completion for the body's model. */
async function recordingUpstream(handler?: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<Upstream> {
  const seen: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (handler) return handler(req, res, body);
      const model = (() => { try { return JSON.parse(body).model as string | undefined; } catch { return undefined; } })();
      const text = JSON.stringify(
        model
          ? { id: 'x', object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }
          : { object: 'list', data: [] },
      );
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    seen,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** One request with the path sent byte for byte (fetch and URL would normalise it). */
function rawRequest(routerUrl: string, path: string, o: { method?: string; headers?: Record<string, string>; body?: string; abortAfterMs?: number } = {}): Promise<{ status: number; text: string }> {
  const u = new URL(routerUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method: o.method ?? 'GET', path, headers: { authorization: `Bearer ${CLIENT_KEY}`, ...o.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        seen.push(text);
        resolve({ status: res.statusCode ?? 0, text });
      });
    });
    req.on('error', reject);
    if (o.headers?.expect) req.on('continue', () => req.end(o.body));
    else req.end(o.body);
    if (o.abortAfterMs !== undefined) setTimeout(() => { req.destroy(); resolve({ status: 0, text: 'aborted' }); }, o.abortAfterMs);
  });
}

const chatBody = (model = 'chat-default', user = 'u1') => JSON.stringify({ model, user, messages: [{ role: 'user', content: 'hi' }] });
const jsonHeaders = { 'content-type': 'application/json' };

describe('router review findings', () => {
  it('answers a malformed percent-encoding with a 400 instead of crashing, and survives any synchronous throw', async () => {
    const h = await start({ green: 0 });
    const r = await rawRequest(h.url, '/v1/models/%E0%A4%A');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_path' });
    expect((await rawRequest(h.url, '/v1/files/%E0%A4%A')).status).toBe(400);
    expect((await get(h.url, '/healthz')).status).toBe(200); // still alive
    // any synchronous throw in the handler becomes a 500, not an uncaught exception
    let status = 0;
    const res = { headersSent: false, destroyed: false, writeHead: (s: number) => void (status = s), end: () => undefined, destroy: () => undefined };
    const req = { get url(): string { throw new Error('boom'); }, headers: {}, resume: () => undefined };
    expect(() => h.router.handler(req as never, res as never)).not.toThrow();
    expect(status).toBe(500);
  });

  it('never sends a key a rollout names unless the router allows it, nor to an origin the router was not configured with', async () => {
    const attacker = await recordingUpstream();
    const gateway = await recordingUpstream();
    try {
      const env = { GATEWAY_API_KEY: UPSTREAM_KEY, TEMPORAL_API_KEY: 'temporal-SECRET-key', OTHER_API_KEY: 'other-SECRET-key', PARTNER_API_KEY: 'partner-SECRET-key' };
      const cases: Array<{ green: ArmRef; extra?: Partial<RouterOptions>; code?: string; auth?: string }> = [
        // the attack from the review: another host, Temporal's key
        { green: { model: 'gpt-4.1-turbo', baseURL: attacker.url, apiKeyEnv: 'TEMPORAL_API_KEY' }, code: 'upstream_origin_not_allowed' },
        // another host with no key named: the gateway key must not go there either
        { green: { model: 'gpt-4.1-turbo', baseURL: attacker.url }, code: 'upstream_origin_not_allowed' },
        // the gateway's host, but a key variable the router was not configured with: no fallback to the gateway key
        { green: { model: 'gpt-4.1-turbo', apiKeyEnv: 'TEMPORAL_API_KEY' }, code: 'upstream_key_not_allowed' },
        { green: { model: 'gpt-4.1-turbo', apiKeyEnv: 'OTHER_API_KEY' }, code: 'upstream_key_not_allowed' },
        { green: { model: 'gpt-4.1-turbo', apiKeyEnv: 'UNSET_API_KEY' }, extra: { keyEnvs: ['UNSET_API_KEY'] }, code: 'upstream_key_missing' },
        // allowed by the router's own settings (ROUTER_KEY_ENVS / ROUTER_ALLOWED_ORIGINS)
        { green: { model: 'gpt-4.1-turbo', apiKeyEnv: 'OTHER_API_KEY' }, extra: { keyEnvs: ['OTHER_API_KEY'] }, auth: 'Bearer other-SECRET-key' },
        { green: { model: 'gpt-4.1-turbo', baseURL: attacker.url, apiKeyEnv: 'PARTNER_API_KEY' }, extra: { keyEnvs: ['PARTNER_API_KEY'], allowedOrigins: [new URL(attacker.url).origin] }, auth: 'Bearer partner-SECRET-key' },
      ];
      for (const c of cases) {
        attacker.seen.length = 0;
        gateway.seen.length = 0;
        const logStart = logs.length;
        const h = await start({ green: 100, greenArm: c.green, baseURL: gateway.url, extra: { env, ...c.extra } });
        const rs = await Promise.all([1, 2, 3].map((i) => rawRequest(h.url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody('chat-default', `k${i}`) })));
        const all = [...attacker.seen, ...gateway.seen];
        if (c.code) {
          for (const r of rs) {
            expect(r.status, JSON.stringify(c)).toBe(502);
            expect(JSON.parse(r.text).error).toMatchObject({ type: 'upstream_error', code: c.code });
          }
          expect(all, JSON.stringify(c)).toHaveLength(0); // not re-sent to blue either
          const g = h.router.live.peek('chat-default')!.green;
          expect(g).toMatchObject({ requests: 3, errors: 3, errorsByClass: { auth: 3 } });
          expect(logs.slice(logStart).filter((l) => l.includes(c.code!))).toHaveLength(1); // logged once
        } else {
          for (const r of rs) expect(r.status).toBe(200);
          expect(all.map((x) => x.headers.authorization)).toEqual([c.auth, c.auth, c.auth]);
        }
        expect(JSON.stringify(all.map((x) => x.headers)) + logs.join('\n')).not.toContain('temporal-SECRET-key');
        await h.router.close();
      }
      // the settings can never allow the router's or Temporal's own secrets
      expect(() => createRouter({ keyEnvs: ['TEMPORAL_API_KEY'], logger })).toThrow(/never/);
      expect(() => createRouter({ keyEnvs: ['ROUTER_API_KEYS'], logger })).toThrow(/never/);
    } finally {
      await attacker.close();
      await gateway.close();
    }
  });

  it('counts a client that hangs up as client_closed in /metrics and never as an arm error in the live aggregate', async () => {
    const slow = await recordingUpstream((_req, res) => void setTimeout(() => !res.destroyed && res.end('{}'), 3_000));
    try {
      const h = await start({ green: 100, baseURL: slow.url });
      await rawRequest(h.url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody(), abortAfterMs: 300 });
      await waitFor(() => slow.seen.length === 1);
      let m = '';
      const end = Date.now() + 3_000;
      while (!/status="client_closed"/.test(m) && Date.now() < end) {
        m = (await get(h.url, '/metrics')).text;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(m).toMatch(/modelshift_router_requests_total\{target="chat-default",arm="green",model="gpt-4\.1-turbo",status="client_closed"\} 1/);
      const agg = h.router.live.peek('chat-default');
      expect(agg?.green.requests ?? 0).toBe(0);
      expect(agg?.green.errors ?? 0).toBe(0);
      expect(m).not.toMatch(/modelshift_router_green_fallbacks_total\{target="chat-default"\}/); // and not re-sent to blue
    } finally {
      await slow.close();
    }
  });

  it('refuses dot segments (plain or percent-encoded) on pass-through paths and forwards only normalised /v1/ paths', async () => {
    const up = await recordingUpstream();
    try {
      const h = await start({ green: 0, baseURL: up.url });
      for (const p of ['/v1/../admin/models/gpt-4.1', '/v1/%2e%2e/admin/models/gpt-4.1', '/v1/%2E%2e/admin', '/v1/.%2E/admin', '/v1/files/..%2fadmin', '/v1/files/..%5cadmin', '/v1/./models', '/v1/files/%2e%2e/%2e%2e/admin']) {
        const r = await rawRequest(h.url, p);
        expect(r.status, p).toBe(400);
        expect(JSON.parse(r.text).error.code, p).toBe('invalid_path');
      }
      expect(up.seen).toHaveLength(0);
      expect((await rawRequest(h.url, '/v1/files?purpose=batch')).status).toBe(200);
      expect((await rawRequest(h.url, '/v1/models/org%2Fmodel')).status).toBe(200); // an encoded slash in an id is fine
      expect(up.seen.map((s) => s.url)).toEqual(['/v1/files?purpose=batch', '/v1/models/org%2Fmodel']);
      // against the simulator, whose /admin API accepts the gateway key, the escape would have worked
      const viaSim = await start({ green: 0 });
      expect((await rawRequest(viaSim.url, '/v1/../admin/models/gpt-4.1')).status).toBe(400);
    } finally {
      await up.close();
    }
  });

  it('does not forward expect: 100-continue (undici refuses it) or headers the client\'s connection header names', async () => {
    const up = await recordingUpstream();
    try {
      const h = await start({ green: 0, baseURL: up.url });
      const body = JSON.stringify({ model: 'text-embedding-3-small', input: 'hi' });
      const r = await rawRequest(h.url, '/v1/embeddings', { method: 'POST', headers: { ...jsonHeaders, expect: '100-continue', connection: 'keep-alive, x-hop', 'x-hop': '1' }, body });
      expect(r.status).toBe(200);
      expect(up.seen).toHaveLength(1);
      expect(up.seen[0].body).toBe(body);
      expect(up.seen[0].headers.expect).toBeUndefined();
      expect(up.seen[0].headers['x-hop']).toBeUndefined();
      expect(up.seen[0].headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    } finally {
      await up.close();
    }
  });

  it('falls back to blue as soon as green\'s 5xx status arrives, without waiting for its (stalled) error body', async () => {
    const up = await recordingUpstream((_req, res, body) => {
      const model = JSON.parse(body).model;
      if (model === 'gpt-4.1-turbo') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.write('{"error":{"message":"upstream broke, and this body never ends'); // stalls: no end
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 1, model, choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] }));
    });
    try {
      const h = await start({ green: 100, baseURL: up.url }); // bodyTimeout: the default 300 s
      const t0 = Date.now();
      const r = await rawRequest(h.url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody() });
      expect(Date.now() - t0).toBeLessThan(2_000);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text).model).toBe('gpt-4.1');
      expect(h.router.live.peek('chat-default')!.green).toMatchObject({ requests: 1, errors: 1, errorsByClass: { server: 1 } });
    } finally {
      await up.close();
    }
  }, 15_000);

  it('gives target and rollout models their own metric label however many junk pass-through names came first', async () => {
    const h = await start({ green: 0 });
    for (let i = 0; i < 230; i += 30)
      await Promise.all(Array.from({ length: 30 }, (_, j) => rawRequest(h.url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody(`junk-${i + j}`) })));
    await chatRaw(h, { user: 'after-junk' });
    await chatRaw(h, { model: 'deepseek-v3.2' }); // a configured target's model, sent through by name
    const m = (await get(h.url, '/metrics')).text;
    expect(m).toMatch(/modelshift_router_requests_total\{target="chat-default",arm="blue",model="gpt-4\.1",status="200"\} 1/);
    expect(m).toMatch(/modelshift_router_requests_total\{target="",arm="passthrough",model="deepseek-v3\.2",status="200"\} 1/);
    expect(m).toMatch(/model="_other"/); // the junk beyond the cap is still capped
    expect(m).not.toMatch(/model="junk-239"/);
  });

  it('after an outage sends each target\'s pending live batches one at a time, merged, without losing or repeating counts', async () => {
    let down = true;
    let inFlight = 0;
    let maxInFlight = 0;
    const sent: LiveBatch[] = [];
    const reporter: LiveReporter = {
      async report(_t, b) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        try {
          await new Promise((r) => setTimeout(r, 20));
          if (down) throw new Error('temporal unavailable');
          sent.push(b);
        } finally {
          inFlight--;
        }
      },
    };
    const h = await start({ green: 50, reporter });
    for (let round = 0; round < 4; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => chatRaw(h, { user: `o${round}-${i}` })));
      await h.router.live.flush();
    }
    expect(sent).toHaveLength(0);
    expect(h.router.live.pendingCount('chat-default')).toBe(2); // the batch in doubt + every later interval merged
    down = false;
    await h.router.live.flush();
    expect(maxInFlight).toBe(1);
    expect(sent).toHaveLength(2);
    expect(new Set(sent.map((b) => b.batchId)).size).toBe(2);
    expect(sent.reduce((n, b) => n + b.blue.requests + b.green.requests, 0)).toBe(40);
    expect(sent[0].blue.requests + sent[0].green.requests).toBe(10); // the one that may have arrived keeps its id and contents
    expect(h.router.live.pendingCount()).toBe(0);
  });

  it('stops reading an oversized body after answering 413 and closes the connection', async () => {
    const h = await start({ green: 0, extra: { maxBodyBytes: 1024 } });
    const u = new URL(h.url);
    const sock = connect(Number(u.port), u.hostname);
    let response = '';
    let closedAt = 0;
    let written = 0;
    sock.on('data', (d) => (response += d.toString('latin1')));
    sock.on('error', () => undefined); // EPIPE / ECONNRESET once the router hangs up
    sock.on('close', () => (closedAt = Date.now()));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${CLIENT_KEY}\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n`);
    const chunk = Buffer.alloc(4096, 0x20);
    const t0 = Date.now();
    while (!closedAt && Date.now() - t0 < 3_000) {
      if (!sock.destroyed) {
        sock.write(chunk);
        written += chunk.length;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    seen.push(response);
    expect(response).toMatch(/^HTTP\/1\.1 413/);
    expect(closedAt, 'the router closed the connection').toBeGreaterThan(0);
    expect(written).toBeLessThan(100_000_000);
  });
});
