import OpenAI, { InternalServerError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/sim';

const sims: Simulator[] = [];
async function start(opts: SimulatorOptions) {
  const sim = await startSimulator(opts);
  sims.push(sim);
  return { sim, client: new OpenAI({ baseURL: sim.url, apiKey: sim.apiKey, maxRetries: 0, timeout: 10_000 }) };
}
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

describe('simulator: streaming', () => {
  it('delivers content in several chunks spread over the latency, usage in a final chunk', async () => {
    const { client } = await start({ models: { 'gpt-4.1': { errorRate: 0, latencyMs: 600, completionTokens: 80 } } });
    const t0 = Date.now();
    const stream = await client.chat.completions.create({
      model: 'gpt-4.1',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'What is the capital of Japan?' }],
    });
    const arrivals: number[] = [];
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let usageChoices = -1;
    for await (const chunk of stream) {
      arrivals.push(Date.now() - t0);
      expect(chunk.object).toBe('chat.completion.chunk');
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) {
        usage = chunk.usage;
        usageChoices = chunk.choices.length;
      }
    }
    expect(arrivals.length).toBeGreaterThanOrEqual(5);
    expect(text).toContain('Tokyo');
    expect(finish).toBe('stop');
    expect(usage).toBeTruthy();
    expect(usageChoices).toBe(0);
    expect(usage!.completion_tokens).toBe(80);
    expect(usage!.total_tokens).toBe(usage!.prompt_tokens + 80);
    // first chunk arrives well before the last one is produced
    expect(arrivals[arrivals.length - 1] - arrivals[0]).toBeGreaterThan(250);
    expect(arrivals[0]).toBeLessThan(arrivals[arrivals.length - 1]);
  });

  it('omits the usage chunk without include_usage and streams instantly with zero latency', async () => {
    const { client } = await start({ latencyScale: 0, models: { 'gpt-4.1': { errorRate: 0 } } });
    const stream = await client.chat.completions.create({
      model: 'gpt-4.1',
      stream: true,
      messages: [{ role: 'user', content: 'What is 2+2?' }],
    });
    let text = '';
    let sawUsage = false;
    let n = 0;
    for await (const chunk of stream) {
      n++;
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) sawUsage = true;
    }
    expect(n).toBeGreaterThan(2);
    expect(text).toContain('4');
    expect(sawUsage).toBe(false);
  });

  it('a failed streaming request surfaces as an HTTP error before any chunk', async () => {
    const { client } = await start({ latencyScale: 0, models: { 'gpt-4.1': { errorRate: 1 } } });
    const err = await client.chat.completions
      .create({ model: 'gpt-4.1', stream: true, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalServerError);
  });
});
