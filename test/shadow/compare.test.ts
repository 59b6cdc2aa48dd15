/** The paired comparison (src/shadow/compare.ts): reading answers, the output checks, one pair's row. */
import { describe, expect, it } from 'vitest';
import { OUTCOME_CODES } from '../../src/decision/paired';
import { answerText, isRefusal, outputChecks, pairRow, readAnswer, requestShape, type Answer } from '../../src/shadow/compare';

const body = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: 'x',
    model: 'gpt-4.1',
    choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 7 },
    ...extra,
  });
const sse = (deltas: object[], opts: { done?: boolean; finish?: string | null; usage?: object } = {}) =>
  [
    ...deltas.map((d) => `data: ${JSON.stringify({ model: 'gpt-4.1', choices: [{ index: 0, delta: d, finish_reason: null }] })}\n\n`),
    opts.finish !== null ? `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: opts.finish ?? 'stop' }] })}\n\n` : '',
    opts.usage ? `data: ${JSON.stringify({ choices: [], usage: opts.usage })}\n\n` : '',
    opts.done === false ? '' : 'data: [DONE]\n\n',
  ].join('');
const text = (content: string): Answer => ({ content, refusal: null, toolCalls: [] });
const calls = (...c: Array<[string, string]>): Answer => ({
  content: '',
  refusal: null,
  toolCalls: c.map(([name, args]) => ({ name, arguments: args })),
});

describe('readAnswer', () => {
  it('reads a JSON body: content (also content parts), refusal, tool calls, usage, model', () => {
    expect(readAnswer(body({ content: 'hi' }))).toMatchObject({
      content: 'hi',
      refusal: null,
      toolCalls: [],
      model: 'gpt-4.1',
      usage: { inputTokens: 12, outputTokens: 7 },
    });
    expect(
      readAnswer(
        body({
          content: [
            { type: 'text', text: 'a' },
            { type: 'text', text: 'b' },
          ],
        }),
      )!.content,
    ).toBe('ab');
    expect(readAnswer(body({ content: null, refusal: 'no' }))!.refusal).toBe('no');
    const t = readAnswer(
      body({ content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] }),
    );
    expect(t!.toolCalls).toEqual([{ name: 'f', arguments: '{"a":1}' }]);
    expect(readAnswer('{"id":"x","choices":[{"message":{"content":"tr')).toBeUndefined();
    expect(readAnswer('{"error":{"message":"x"}}')).toBeUndefined();
  });

  it('assembles a stream: content, refusal, tool calls by index; a cut or broken stream is no answer', () => {
    expect(readAnswer(sse([{ role: 'assistant', content: '' }, { content: 'Hel' }, { content: 'lo' }]))).toMatchObject({
      content: 'Hello',
      finishReason: 'stop',
      model: 'gpt-4.1',
    });
    expect(readAnswer(sse([{ content: 'x' }], { usage: { prompt_tokens: 3, completion_tokens: 1 } }))!.usage).toEqual({
      inputTokens: 3,
      outputTokens: 1,
    });
    expect(readAnswer(sse([{ refusal: "I'm " }, { refusal: 'sorry' }]))!.refusal).toBe("I'm sorry");
    const tools = readAnswer(
      sse([
        { tool_calls: [{ index: 0, id: 'a', type: 'function', function: { name: 'get', arguments: '' } }] },
        { tool_calls: [{ index: 0, function: { arguments: '{"ci' } }] },
        { tool_calls: [{ index: 1, id: 'b', type: 'function', function: { name: 'put', arguments: '{}' } }] },
        { tool_calls: [{ index: 0, function: { arguments: 'ty":"x"}' } }] },
      ]),
    );
    expect(tools!.toolCalls).toEqual([
      { name: 'get', arguments: '{"city":"x"}' },
      { name: 'put', arguments: '{}' },
    ]);
    expect(readAnswer(sse([{ content: 'x' }], { done: false, finish: null }))).toBeUndefined(); // cut
    expect(readAnswer('data: {"choices":[{"delta":{"content":"trunc\n\n')).toBeUndefined(); // broken chunk
    expect(readAnswer('')).toBeUndefined();
  });

  it('answerText: the text, the refusal, or the tool calls', () => {
    expect(answerText(text('a'))).toBe('a');
    expect(answerText({ content: '', refusal: 'no', toolCalls: [] })).toBe('[refusal] no');
    expect(answerText(calls(['f', '{}']))).toBe('[tool call] f({})');
  });
});

describe('output checks', () => {
  const schema = {
    type: 'object',
    properties: { answer: { type: 'string' }, code: { type: 'string', pattern: '^(a+)+$' } },
    required: ['answer'],
    additionalProperties: false,
  };
  const shape = (extra: Record<string, unknown> = {}) =>
    requestShape({ model: 'm', messages: [{ role: 'user', content: 'hello' }], ...extra });
  const jsonShape = shape({ response_format: { type: 'json_schema', json_schema: { name: 'a', schema } } });

  it('json and schema: only under response_format; a tool call or a refusal field is not held to it', () => {
    expect(outputChecks(shape(), text('x'), text('y')).json).toEqual({ blue: -1, green: -1 });
    const objectShape = shape({ response_format: { type: 'json_object' } });
    expect(outputChecks(objectShape, text('{"a":1}'), text('```json\n{"a":1}\n```')).json).toEqual({ blue: 1, green: 0 });
    expect(outputChecks(objectShape, text('{}'), text('{}')).schema).toEqual({ blue: -1, green: -1 }); // no schema asked
    const r = outputChecks(jsonShape, text('{"answer":"x"}'), text('{"answer":1}'));
    expect(r.json).toEqual({ blue: 1, green: 1 });
    expect(r.schema).toEqual({ blue: 1, green: 0 });
    expect(outputChecks(jsonShape, text('{"answer":"x","extra":1}'), text('not json')).schema).toEqual({ blue: 0, green: 0 });
    expect(outputChecks(jsonShape, text('{}'), { content: '', refusal: 'no', toolCalls: [] }).json).toEqual({ blue: 1, green: -1 });
    expect(outputChecks(jsonShape, text('{}'), undefined).json).toEqual({ blue: 1, green: -1 }); // green failed: no answer
  });

  it('patterns run on RE2: a catastrophic pattern on a long string still answers (and correctly)', () => {
    const long = 'a'.repeat(5_000) + 'b';
    expect(
      outputChecks(jsonShape, text(JSON.stringify({ answer: 'x', code: long })), text(JSON.stringify({ answer: 'x', code: 'aaa' }))).schema,
    ).toEqual({
      blue: 0,
      green: 1,
    });
  });

  it('a schema Ajv cannot compile is no check for either arm', () => {
    const bad = shape({
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'a', schema: { type: 'object', properties: { a: { $ref: '#/nowhere' } } } },
      },
    });
    expect(outputChecks(bad, text('{}'), text('{}')).schema).toEqual({ blue: -1, green: -1 });
  });

  it('toolCall counts only where blue called a tool; toolArgs checks JSON and the declared parameters', () => {
    const tools = shape({
      tools: [
        {
          type: 'function',
          function: { name: 'get', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
        },
        { type: 'function', function: { name: 'ping' } },
      ],
    });
    expect(outputChecks(tools, calls(['get', '{"city":"x"}']), text('It is sunny')).toolCall).toEqual({ blue: 1, green: 0 });
    expect(outputChecks(tools, text('hi'), calls(['get', '{"city":"x"}'])).toolCall).toEqual({ blue: -1, green: -1 });
    const args = (a: Answer) => outputChecks(tools, calls(['get', '{"city":"x"}']), a).toolArgs;
    expect(args(calls(['get', '{"city":"y"}']))).toEqual({ blue: 1, green: 1 });
    expect(args(calls(['get', '{"city":'])).green).toBe(0); // not JSON
    expect(args(calls(['get', '{"town":"y"}'])).green).toBe(0); // not the parameters
    expect(args(calls(['nope', '{}'])).green).toBe(0); // a tool never declared
    expect(args(calls(['ping', ''])).green).toBe(1); // no parameters declared, empty arguments
    expect(args(text('x')).green).toBe(-1);
  });

  it('refusal: the refusal field, or a refusal marker at the start of the text', () => {
    expect(isRefusal(text("I'm sorry, but I can't help with that."))).toBe(true);
    expect(isRefusal(text('"I cannot assist with this request."'))).toBe(true);
    expect(isRefusal(text('As an AI, I won’t'))).toBe(true);
    expect(isRefusal(text('Paris. I am sorry for the short answer.'))).toBe(false);
    expect(isRefusal({ content: '', refusal: 'no', toolCalls: [] })).toBe(true);
    expect(outputChecks(shape(), text('Paris'), text("I'm sorry, but I can't")).refusal).toEqual({ blue: 1, green: 0 });
  });
});

describe('pairRow', () => {
  const shape = requestShape({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(40) }] });
  const price = (model: string, u: { inputTokens: number; outputTokens: number }) =>
    model === 'free' ? 0 : (u.inputTokens + 2 * u.outputTokens) / 1e6;
  const ok = (model: string, answer: Answer, latencyMs = 10.4) => ({ model, code: 'ok' as const, latencyMs, answer });

  it('usage when both answers carry it, priced as probes price it (micro-dollars)', () => {
    const b = { ...text('a'), usage: { inputTokens: 10, outputTokens: 5 } };
    const g = { ...text('bb'), usage: { inputTokens: 10, outputTokens: 15 } };
    const r = pairRow(shape, ok('blue', b), ok('green', g, 20.6), price);
    expect(r.blue).toEqual({ code: 0, ms: 10, microUsd: 20, inputTokens: 10, outputTokens: 5, check: -1, retriedFailures: 0 });
    expect(r.green).toMatchObject({ ms: 21, microUsd: 40, outputTokens: 15 });
  });

  it('the same estimate for both arms when either answer has no usage (a stream the client asked none for)', () => {
    const r = pairRow(
      shape,
      ok('blue', { ...text('x'.repeat(8)), usage: { inputTokens: 99, outputTokens: 99 } }),
      ok('green', text('x'.repeat(40))),
      price,
    );
    expect([r.blue.inputTokens, r.blue.outputTokens, r.green.inputTokens, r.green.outputTokens]).toEqual([10, 2, 10, 10]);
  });

  it('a failed arm: its code, no latency, tokens or cost, no checks', () => {
    const r = pairRow(
      shape,
      ok('blue', { ...text('a'), usage: { inputTokens: 1, outputTokens: 1 } }),
      { model: 'green', code: 'server', latencyMs: 30 },
      price,
    );
    expect(r.green).toEqual({
      code: OUTCOME_CODES.indexOf('server'),
      ms: 0,
      microUsd: 0,
      inputTokens: 0,
      outputTokens: 0,
      check: -1,
      retriedFailures: 0,
    });
    expect(r.output.refusal).toEqual({ blue: 1, green: -1 });
  });
});
