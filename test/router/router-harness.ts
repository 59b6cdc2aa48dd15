/**
 * The router over real HTTP, for the tests in this folder: the simulator as the gateway, the `openai`
 * client as the caller, an in-memory RatioSource in place of the rollout workflow, an in-memory reporter.
 * `useRouterHarness()` starts the simulator for the calling test file, closes the routers each test
 * started, and checks at the end that no response, header or log line showed the upstream key.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { createRouter, type Router, type RouterLogger, type RouterOptions } from '../../src/router';
import type { ArmRef } from '../../src/rollout/contract';
import { StaticRatioSource } from '../../src/router/ratio';
import type { LiveBatch, LiveReporter } from '../../src/router/reporter';
import { startSimulator, type Simulator } from '../../src/sim';

export const UPSTREAM_KEY = 'sk-upstream-S3CRET-do-not-leak-7f3a9c';
export const CLIENT_KEY = 'client-key-1';

export let sim: Simulator;
export const logs: string[] = [];
export const logger: RouterLogger = {
  info: (m, f) => logs.push(JSON.stringify({ m, ...f })),
  warn: (m, f) => logs.push(JSON.stringify({ m, ...f })),
  error: (m, f) => logs.push(JSON.stringify({ m, ...f })),
};
export const seen: string[] = []; // every response body and header set the tests received

export interface Harness {
  router: Router;
  url: string;
  source: StaticRatioSource;
  batches: Array<[string, LiveBatch]>;
  client: OpenAI;
}
export const open: Router[] = [];

export async function start(
  opts: {
    green?: number;
    greenArm?: ArmRef;
    staleAfterMs?: number;
    gatewayKey?: string;
    classify?: (m: unknown) => string;
    baseURL?: string;
    reporter?: LiveReporter;
    extra?: Partial<RouterOptions>;
  } = {},
): Promise<Harness> {
  const source = new StaticRatioSource();
  if (opts.green !== undefined)
    source.set('chat-default', {
      greenPercent: opts.green,
      phase: 'ramping',
      blue: { model: 'gpt-4.1' },
      green: opts.greenArm ?? { model: 'gpt-4.1-turbo' },
    });
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

export async function get(url: string, path: string, key = CLIENT_KEY): Promise<{ status: number; text: string; headers: Headers }> {
  const r = await fetch(url.replace(/\/v1$/, '') + path, { headers: { authorization: `Bearer ${key}` } });
  const text = await r.text();
  seen.push(text, JSON.stringify([...r.headers]));
  return { status: r.status, text, headers: r.headers };
}

export async function chatRaw(h: Harness, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const r = await h.client.chat.completions
    .create({ messages: [{ role: 'user', content: 'hello' }], model: 'chat-default', ...body } as never)
    .withResponse();
  seen.push(JSON.stringify(r.data), JSON.stringify([...r.response.headers]));
  void headers;
  return r;
}

/** Wait until `cond` holds; `ms` only bounds a test that would otherwise hang (it asserts no speed). */
export const waitFor = async (cond: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

/** Registers the calling file's hooks: the simulator, closing routers after each test, the key-leak checks. */
export function useRouterHarness(): void {
  beforeAll(async () => {
    sim = await startSimulator({
      apiKey: UPSTREAM_KEY,
      latencyScale: 0,
      seed: 1,
      models: {
        'gpt-4.1': { errorRate: 0, timeoutRate: 0 },
        'gpt-4.1-turbo': { errorRate: 0, timeoutRate: 0 },
        'deepseek-v3.2': { errorRate: 0 },
      },
    });
  });
  afterAll(async () => {
    await sim.close();
    expect(logs.join('\n')).not.toContain(UPSTREAM_KEY);
    expect(seen.join('\n')).not.toContain(UPSTREAM_KEY);
    expect(seen.join('\n')).not.toContain(UPSTREAM_KEY.slice(-4) + '.'); // not even a masked form
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((r) => r.close()));
  });
}

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}
export interface Upstream {
  url: string;
  seen: Recorded[];
  close(): Promise<void>;
}

/** An upstream that records every request; by default it answers a chat completion for the body's model. */
export async function recordingUpstream(handler?: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<Upstream> {
  const seen: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (handler) return handler(req, res, body);
      const model = (() => {
        try {
          return JSON.parse(body).model as string | undefined;
        } catch {
          return undefined;
        }
      })();
      const text = JSON.stringify(
        model
          ? {
              id: 'x',
              object: 'chat.completion',
              created: 1,
              model,
              choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
              usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
            }
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
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** One request with the path sent byte for byte (fetch and URL would normalise it). */
export function rawRequest(
  routerUrl: string,
  path: string,
  o: { method?: string; headers?: Record<string, string>; body?: string; abortAfterMs?: number } = {},
): Promise<{ status: number; text: string }> {
  const u = new URL(routerUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, method: o.method ?? 'GET', path, headers: { authorization: `Bearer ${CLIENT_KEY}`, ...o.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          seen.push(text);
          resolve({ status: res.statusCode ?? 0, text });
        });
      },
    );
    req.on('error', reject);
    if (o.headers?.expect) req.on('continue', () => req.end(o.body));
    else req.end(o.body);
    if (o.abortAfterMs !== undefined)
      setTimeout(() => {
        req.destroy();
        resolve({ status: 0, text: 'aborted' });
      }, o.abortAfterMs);
  });
}

export const chatBody = (model = 'chat-default', user = 'u1') =>
  JSON.stringify({ model, user, messages: [{ role: 'user', content: 'hi' }] });
export const jsonHeaders = { 'content-type': 'application/json' };
