import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  AuthenticationError,
  BadRequestError,
  InternalServerError,
  NotFoundError,
} from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_MODELS, startSimulator, type Simulator, type SimulatorOptions } from '../../src/sim';

const json = async (r: Response | Promise<Response>): Promise<any> => (await r).json();
const sims: Simulator[] = [];
async function start(opts: SimulatorOptions = {}) {
  const sim = await startSimulator({ latencyScale: 0, ...opts });
  sims.push(sim);
  const client = new OpenAI({ baseURL: sim.url, apiKey: sim.apiKey, maxRetries: 0, timeout: 5000 });
  return { sim, client };
}
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

const ask = (content: string) => [{ role: 'user' as const, content }];

describe('simulator: OpenAI surface', () => {
  it('lists the five default models in OpenAI list shape and retrieves one', async () => {
    const { sim, client } = await start();
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const list = await client.models.list();
    const ids = list.data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['deepseek-v3.2', 'gemini-2.5-flash', 'gpt-4.1', 'claude-sonnet-4.5', 'gpt-4.1-turbo']));
    expect(Object.keys(DEFAULT_SIM_MODELS)).toHaveLength(5);
    const raw = await json(fetch(`${sim.url}/models`, { headers: { authorization: 'Bearer sim-key' } }));
    expect(raw.object).toBe('list');
    expect(raw.data[0]).toEqual({ id: expect.any(String), object: 'model', created: expect.any(Number), owned_by: expect.any(String) });
    const one = await client.models.retrieve('gpt-4.1');
    expect(one).toMatchObject({ id: 'gpt-4.1', object: 'model', owned_by: 'openai' });
    await expect(client.models.retrieve('nope')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('answers chat completions in OpenAI shape with plausible content and token counts', async () => {
    const { client } = await start({ models: { 'gpt-4.1': { errorRate: 0 } } });
    const r = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('What is the capital of Japan?') });
    expect(r).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-4.1',
      choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'stop' }],
    });
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.choices[0].message.content).toContain('Tokyo');
    const u = r.usage!;
    expect(u.prompt_tokens).toBeGreaterThanOrEqual(Math.ceil('What is the capital of Japan?'.length / 4));
    expect(u.prompt_tokens).toBeLessThan(20);
    expect(u.total_tokens).toBe(u.prompt_tokens + u.completion_tokens);

    const m = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('What is 2+2?') });
    expect(m.choices[0].message.content).toContain('4');

    const capped = await client.chat.completions.create({
      model: 'gpt-4.1',
      max_tokens: 5,
      messages: ask('Tell me a long story about the sea'),
    });
    expect(capped.usage!.completion_tokens).toBeLessThanOrEqual(5);
    expect(capped.choices[0].finish_reason).toBe('length');

    const j = await client.chat.completions.create({
      model: 'gpt-4.1',
      response_format: { type: 'json_object' },
      max_tokens: 20,
      messages: ask('capital of France? answer in JSON'),
    });
    const parsed = JSON.parse(j.choices[0].message.content!);
    expect(parsed.answer).toContain('Paris');
  });

  it('returns outputOverride verbatim', async () => {
    const { client } = await start({ models: { 'gpt-4.1': { errorRate: 0, outputOverride: 'I cannot help with that.' } } });
    const r = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('What is 2+2?') });
    expect(r.choices[0].message.content).toBe('I cannot help with that.');
  });

  it('rejects a wrong or missing key with a masked 401', async () => {
    const { sim } = await start();
    const bad = new OpenAI({ baseURL: sim.url, apiKey: 'sk-live-abcdefghijklmnop', maxRetries: 0 });
    const err = await bad.models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    const e = err as AuthenticationError;
    expect(e.status).toBe(401);
    expect(e.code).toBe('invalid_api_key');
    expect(e.type).toBe('invalid_request_error');
    expect(e.message).toContain('Incorrect API key provided');
    expect(e.message).not.toContain('sk-live-abcdefghijklmnop');
    expect(e.message).toContain('mnop');
    const missing = await fetch(`${sim.url}/models`);
    expect(missing.status).toBe(401);
    expect((await json(missing)).error.code).toBe('invalid_api_key');
  });

  it('unknown model -> NotFoundError with the OpenAI message; bad body -> BadRequestError', async () => {
    const { client } = await start();
    const err = await client.chat.completions.create({ model: 'gpt-9', messages: ask('hi') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).message).toContain('The model `gpt-9` does not exist or you do not have access to it.');
    expect((err as NotFoundError).code).toBe('model_not_found');
    const bad = await client.chat.completions.create({ model: 'gpt-4.1', messages: [] }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(BadRequestError);
  });
});

describe('simulator: faults', () => {
  it('errorRate 1 -> 500/503 as InternalServerError', async () => {
    const { client } = await start({ models: { 'gpt-4.1': { errorRate: 1 } } });
    const statuses = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const err = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('hi') }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InternalServerError);
      statuses.add((err as InternalServerError).status);
    }
    expect([...statuses].sort()).toEqual([500, 503]);
  });

  it('timeoutRate 1 -> APIConnectionTimeoutError; close() ends held requests', async () => {
    const { sim } = await start({ models: { 'gpt-4.1': { timeoutRate: 1, errorRate: 0 } } });
    const quick = new OpenAI({ baseURL: sim.url, apiKey: sim.apiKey, maxRetries: 0, timeout: 150 });
    const t0 = Date.now();
    const err = await quick.chat.completions.create({ model: 'gpt-4.1', messages: ask('hi') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIConnectionTimeoutError);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(sim.stats()['gpt-4.1'].timeout).toBe(1);

    const patient = new OpenAI({ baseURL: sim.url, apiKey: sim.apiKey, maxRetries: 0, timeout: 60_000 });
    const held = patient.chat.completions.create({ model: 'gpt-4.1', messages: ask('hi') }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    const c0 = Date.now();
    await sim.close();
    const closedErr = await held;
    expect(closedErr).toBeInstanceOf(APIConnectionError);
    expect(Date.now() - c0).toBeLessThan(2000);
  });

  it('malformedRate 1 -> 200 with invalid JSON: openai@6 rejects with a SyntaxError from response.json()', async () => {
    const { client } = await start({ models: { 'gpt-4.1': { malformedRate: 1, errorRate: 0 } } });
    const err = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('hi') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyntaxError);
    const stream = await client.chat.completions.create({ model: 'gpt-4.1', stream: true, messages: ask('hi') });
    const streamErr = await (async () => {
      for await (const _ of stream) {
        /* drain */
      }
    })().catch((e: unknown) => e);
    expect(streamErr).toBeInstanceOf(SyntaxError);
  });

  it('latencyMs 0 answers immediately; latency is applied and scaled', async () => {
    const { client } = await start({
      latencyScale: 0.5,
      models: { 'gpt-4.1': { errorRate: 0, latencyMs: 0 }, 'gemini-2.5-flash': { errorRate: 0, latencyMs: 300 } },
    });
    let t0 = Date.now();
    await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('hi') });
    expect(Date.now() - t0).toBeLessThan(500);
    t0 = Date.now();
    await client.chat.completions.create({ model: 'gemini-2.5-flash', messages: ask('hi') });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1500);
  });

  it('seeded runs reproduce the same outcome sequence; another seed differs', async () => {
    const run = async (seed: number) => {
      const { sim, client } = await start({
        seed,
        models: { 'gpt-4.1': { errorRate: 0.3, malformedRate: 0.2, completionTokens: { p50: 50, p99: 400 } } },
      });
      const seq: string[] = [];
      for (let i = 0; i < 30; i++) {
        const r = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask(`q${i}`) }).then(
          (x) => `ok:${x.usage!.completion_tokens}`,
          (e: { status?: number; constructor: { name: string } }) => (e.status ? String(e.status) : e.constructor.name),
        );
        seq.push(r);
      }
      await sim.close();
      return seq;
    };
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(new Set(a.map((x) => x.split(':')[0])).size).toBeGreaterThanOrEqual(3);
  });
});
