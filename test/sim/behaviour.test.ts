/**
 * The simulator's output behaviours (src/sim/behaviour.ts) through the real `openai` client: tool calls,
 * refusals, broken JSON, longer answers, degraded answers, the simulated judge, the request log.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { buildJudgePrompt, parseVerdict } from '../../src/shadow/judge';
import { DEGRADED_MARKER, startSimulator, type FaultProfile, type Simulator } from '../../src/sim';

const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function start(patch: Partial<FaultProfile> = {}, seed = 7) {
  const sim = await startSimulator({ latencyScale: 0, seed, models: { 'gpt-4.1': { errorRate: 0, ...patch } } });
  sims.push(sim);
  return { sim, client: new OpenAI({ baseURL: sim.url, apiKey: sim.apiKey, maxRetries: 0 }) };
}

const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] }, days: { type: 'integer', minimum: 1 } },
        required: ['city', 'unit'],
      },
    },
  },
  { type: 'function', function: { name: 'noop', parameters: { type: 'object', properties: {} } } },
];
const ask = (content = 'What is the weather in Paris?') => [{ role: 'user' as const, content }];

/** A stream read back to one answer: text, refusal, tool calls (arguments joined). */
async function readStream(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
  let content = '';
  let refusal = '';
  let finish: string | null = null;
  const calls: Array<{ name: string; arguments: string }> = [];
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    content += c.delta.content ?? '';
    refusal += c.delta.refusal ?? '';
    for (const t of c.delta.tool_calls ?? []) {
      calls[t.index] ??= { name: '', arguments: '' };
      calls[t.index].name += t.function?.name ?? '';
      calls[t.index].arguments += t.function?.arguments ?? '';
    }
    finish = c.finish_reason ?? finish;
  }
  return { content, refusal, calls, finish };
}

describe('simulator: output behaviours', () => {
  it('answers a request with tools with a tool call whose arguments are valid JSON for its parameters', async () => {
    const { client } = await start();
    const r = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask(), tools });
    const m = r.choices[0].message;
    expect(r.choices[0].finish_reason).toBe('tool_calls');
    expect(m.content).toBeNull();
    expect(m.tool_calls).toHaveLength(1);
    const call = m.tool_calls![0] as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'example', unit: 'c', days: 1 });
    // tool_choice names the tool; "none" asks for text
    const named = await client.chat.completions.create({
      model: 'gpt-4.1',
      messages: ask(),
      tools,
      tool_choice: { type: 'function', function: { name: 'noop' } },
    });
    expect((named.choices[0].message.tool_calls![0] as { function: { name: string } }).function.name).toBe('noop');
    const none = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask(), tools, tool_choice: 'none' });
    expect(none.choices[0].message.tool_calls).toBeUndefined();
    expect(none.choices[0].message.content).toContain('Paris');
  });

  it('streams a tool call: the name first, the arguments in pieces that join to valid JSON', async () => {
    const { client } = await start();
    const s = await readStream(await client.chat.completions.create({ model: 'gpt-4.1', messages: ask(), tools, stream: true }));
    expect(s.finish).toBe('tool_calls');
    expect(s.content).toBe('');
    expect(s.calls).toHaveLength(1);
    expect(s.calls[0].name).toBe('get_weather');
    expect(JSON.parse(s.calls[0].arguments)).toMatchObject({ city: 'example' });
  });

  it('dropToolCallShare answers text instead of the tool call', async () => {
    const { client } = await start({ dropToolCallShare: 1 });
    const r = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask(), tools });
    expect(r.choices[0].message.tool_calls).toBeUndefined();
    expect(r.choices[0].message.content).toContain('Paris');
    expect(r.choices[0].finish_reason).toBe('stop');
  });

  it('brokenJsonShare breaks JSON answers under response_format only', async () => {
    const { client, sim } = await start({ brokenJsonShare: 1 });
    for (const response_format of [
      { type: 'json_object' as const },
      { type: 'json_schema' as const, json_schema: { name: 'a', schema: { type: 'object' } } },
    ]) {
      const r = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('Give JSON'), response_format });
      expect(() => JSON.parse(r.choices[0].message.content!)).toThrow();
      expect(r.choices[0].message.content).toMatch(/^```json\n\{/);
    }
    const plain = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('hello') });
    expect(plain.choices[0].message.content).not.toContain('```');
    sim.setProfile('gpt-4.1', { brokenJsonShare: 0 });
    const ok = await client.chat.completions.create({
      model: 'gpt-4.1',
      messages: ask('Give JSON'),
      response_format: { type: 'json_object' },
    });
    expect(JSON.parse(ok.choices[0].message.content!)).toMatchObject({ answer: expect.any(String) });
  });

  it('refusalShare refuses: the refusal field under response_format, a refusal text otherwise; streamed alike', async () => {
    const { client } = await start({ refusalShare: 1 });
    const text = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask(), tools });
    expect(text.choices[0].message.content).toMatch(/^I'm sorry, but I can't/);
    expect(text.choices[0].message.tool_calls).toBeUndefined();
    const structured = await client.chat.completions.create({
      model: 'gpt-4.1',
      messages: ask(),
      response_format: { type: 'json_object' },
    });
    expect(structured.choices[0].message.content).toBeNull();
    expect(structured.choices[0].message.refusal).toMatch(/^I'm sorry, but I can't/);
    const streamed = await readStream(
      await client.chat.completions.create({ model: 'gpt-4.1', messages: ask(), response_format: { type: 'json_object' }, stream: true }),
    );
    expect(streamed.refusal).toMatch(/^I'm sorry, but I can't/);
    expect(streamed.content).toBe('');
  });

  it('lengthFactor makes answers N times longer, tokens too', async () => {
    const { client, sim } = await start({ completionTokens: 40 });
    const base = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('hello') });
    sim.setProfile('gpt-4.1', { lengthFactor: 3 });
    const long = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('hello') });
    expect(base.usage!.completion_tokens).toBe(40);
    expect(long.usage!.completion_tokens).toBe(120);
    expect(long.choices[0].message.content!.length).toBeGreaterThan(2.5 * base.choices[0].message.content!.length);
    // max_tokens still caps it
    const capped = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('hello'), max_tokens: 50 });
    expect(capped.usage!.completion_tokens).toBe(50);
    expect(capped.choices[0].finish_reason).toBe('length');
  });

  it('degradedShare marks answers (inside the JSON when the answer is JSON, which stays valid)', async () => {
    const { client } = await start({ degradedShare: 1 });
    const r = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('hello') });
    expect(r.choices[0].message.content).toContain(DEGRADED_MARKER);
    const j = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('hello'), response_format: { type: 'json_object' } });
    expect(JSON.parse(j.choices[0].message.content!).answer).toContain(DEGRADED_MARKER);
  });

  it('shares are drawn from a seeded stream: the same seed gives the same answers, the fault draws are unchanged', async () => {
    const run = async (patch: Partial<FaultProfile>) => {
      const { client } = await start({ refusalShare: 0.3, completionTokens: { p50: 30, p99: 90 }, ...patch }, 11);
      const out: string[] = [];
      for (let i = 0; i < 30; i++) {
        const r = await client.chat.completions.create({ model: 'gpt-4.1', messages: ask('hello') });
        out.push(`${r.usage!.completion_tokens}:${r.choices[0].message.content!.startsWith("I'm sorry") ? 'refused' : 'answered'}`);
      }
      return out;
    };
    const a = await run({});
    expect(await run({})).toEqual(a);
    const refused = a.filter((x) => x.endsWith('refused')).length;
    expect(refused).toBeGreaterThan(2);
    expect(refused).toBeLessThan(20);
    // the token counts (the fault stream's draws) do not depend on the output behaviours
    const tokens = (xs: string[]) => xs.filter((x) => x.endsWith('answered')).map((x) => x.split(':')[0]);
    const none = await run({ refusalShare: 0 });
    expect(tokens(a).every((t) => tokens(none).includes(t))).toBe(true);
  });

  it('accepts the new fields through the admin endpoint and refuses bad ones naming the field', async () => {
    const { sim } = await start();
    const base = sim.url.replace(/\/v1$/, '');
    const put = (body: unknown) =>
      fetch(`${base}/admin/models/gpt-4.1`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${sim.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const ok = await put({
      brokenJsonShare: 0.5,
      refusalShare: 0.1,
      lengthFactor: 2,
      dropToolCallShare: 0.2,
      degradedShare: 0.3,
      judgeNoise: 0,
    });
    expect(ok.status).toBe(200);
    expect(sim.getProfile('gpt-4.1')).toMatchObject({ brokenJsonShare: 0.5, lengthFactor: 2, judgeNoise: 0 });
    const bad = await put({ lengthFactor: 0 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.message).toMatch(/^lengthFactor: expected a number between 0.01 and 100/);
    expect((await put({ degradedShare: 2 })).status).toBe(400);
  });
});

describe('simulator: the judge', () => {
  const answers = { good: 'The capital of France is Paris.', bad: `${DEGRADED_MARKER} The capital of France is Paris.` };
  const judge = async (client: OpenAI, blue: string, green: string, seed: number) => {
    const p = buildJudgePrompt({ messages: ask('What is the capital of France?'), blue, green, seed });
    const r = await client.chat.completions.create({ model: 'gpt-4.1', messages: p.messages });
    const v = parseVerdict(r.choices[0].message.content);
    return v === 'tie' ? 'tie' : v === p.greenIs ? 'green' : v === undefined ? 'none' : 'blue';
  };

  it('prefers the answer without the degraded marker, in either order; equal answers tie', async () => {
    const { client } = await start({ judgeNoise: 0, degradedShare: 1, refusalShare: 1 }); // a judge's own answers are never degraded
    const orders = new Set<string>();
    for (let seed = 0; seed < 8; seed++) {
      orders.add(buildJudgePrompt({ messages: [], blue: 'b', green: 'g', seed }).greenIs);
      expect(await judge(client, answers.good, answers.bad, seed)).toBe('blue');
      expect(await judge(client, answers.bad, answers.good, seed)).toBe('green');
      expect(await judge(client, answers.good, answers.good, seed)).toBe('tie');
    }
    expect(orders).toEqual(new Set(['A', 'B'])); // both orders were drawn
  });

  it('judgeNoise draws some verdicts at random', async () => {
    const { client } = await start({ judgeNoise: 0.5 });
    const calls: string[] = [];
    for (let seed = 0; seed < 40; seed++) calls.push(await judge(client, answers.good, answers.bad, seed));
    expect(calls.filter((c) => c === 'blue').length).toBeGreaterThan(20);
    expect(calls.filter((c) => c !== 'blue').length).toBeGreaterThan(3);
  });
});

describe('simulator: request log', () => {
  it('records every chat completion in arrival order with the order of its end', async () => {
    const { sim, client } = await start({ latencyMs: 50 });
    sims.pop();
    const slow = await startSimulator({
      latencyScale: 1,
      seed: 1,
      models: { 'gpt-4.1': { errorRate: 0, latencyMs: 150 }, 'gpt-4.1-turbo': { errorRate: 0, latencyMs: 0 } },
    });
    sims.push(sim, slow);
    const c = new OpenAI({ baseURL: slow.url, apiKey: slow.apiKey, maxRetries: 0 });
    const first = c.chat.completions.create({ model: 'gpt-4.1', messages: ask('hello') });
    await new Promise((r) => setTimeout(r, 20));
    await c.chat.completions.create({ model: 'gpt-4.1-turbo', messages: ask('hello'), stream: true }).then(readStream);
    await first;
    await new Promise((r) => setTimeout(r, 20));
    const [a, b] = slow.requestLog();
    expect(a).toMatchObject({ request: 1, model: 'gpt-4.1', stream: false, status: 200 });
    expect(b).toMatchObject({ request: 2, model: 'gpt-4.1-turbo', stream: true, status: 200 });
    expect(b.startSeq).toBeGreaterThan(a.startSeq);
    expect(b.endSeq!).toBeLessThan(a.endSeq!); // the second finished first
    expect(JSON.stringify(slow.requestLog())).not.toContain('hello'); // numbers only
    const viaAdmin = await fetch(`${slow.url.replace(/\/v1$/, '')}/admin/requests`, {
      headers: { authorization: `Bearer ${slow.apiKey}` },
    });
    expect(((await viaAdmin.json()) as any).requests).toHaveLength(2);
    slow.reset();
    expect(slow.requestLog()).toEqual([]);
    void client;
  });
});
