/**
 * Raw-body helpers (src/router/body.ts): only the top-level model is rewritten; usage is read from the tail.
 */
import { describe, expect, it } from 'vitest';
import { findTopLevelModelValues, replaceModel, usageFromTail } from '../../src/router/body';

describe('raw body rewrite', () => {
  it('replaces only the top-level model value and keeps every other byte', () => {
    const raw =
      '{ "messages":[{"role":"user","content":"say \\"model\\": \\"x\\""}],\n "tools":[{"type":"function","function":{"name":"f","parameters":{"properties":{"model":{"type":"string"}}}}}],"metadata":{"model":"keep"},"model" : "chat-default","stream":true}';
    const out = replaceModel(raw, 'gpt-4.1-turbo', JSON.parse(raw));
    expect(out).toBe(raw.replace('"model" : "chat-default"', '"model" : "gpt-4.1-turbo"'));
    expect(JSON.parse(out).metadata.model).toBe('keep');
  });

  it('handles escaped keys, duplicates and odd spacing; falls back for non-objects', () => {
    const raw = '{"mod\\u0065l":"a","x":[1,{"y":"}"}],"model":"b"}';
    expect(findTopLevelModelValues(raw)).toHaveLength(2);
    const out = replaceModel(raw, 'z', JSON.parse(raw));
    expect(JSON.parse(out).model).toBe('z');
    expect(out).toContain('"x":[1,{"y":"}"}]');
    expect(findTopLevelModelValues('[1]')).toBeNull();
    expect(JSON.parse(replaceModel('{"a":1}', 'm', { a: 1 }))).toEqual({ a: 1, model: 'm' });
    expect(replaceModel('{"model":"a"}', 'we"ird', { model: 'a' })).toBe('{"model":"we\\"ird"}');
  });

  it('reads usage from the tail of a JSON body or SSE stream', () => {
    expect(
      usageFromTail(
        '..."usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46,"prompt_tokens_details":{"cached_tokens":0}}}',
      ),
    ).toEqual({ inputTokens: 12, outputTokens: 34 });
    expect(usageFromTail('data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}\n\ndata: [DONE]\n\n')).toEqual({
      inputTokens: 5,
      outputTokens: 7,
    });
    expect(usageFromTail('data: [DONE]')).toBeUndefined();
  });
});
