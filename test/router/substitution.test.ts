/**
 * The substitution rule (src/gateway/substitution.ts), shared by the router's live outcomes and the
 * probes: a dated snapshot or a provider prefix of the model asked for is the same model; any other
 * model, or a gateway header saying it fell back, is a substitution.
 */
import { describe, expect, it } from 'vitest';
import { headerLookup, modelInText, sameModel, substitution } from '../../src/gateway/substitution';

const none = () => undefined;

describe('substitution rule', () => {
  it('takes dated snapshots and provider prefixes for the model asked for, and nothing else', () => {
    for (const same of [
      'gpt-4.1',
      'GPT-4.1',
      'gpt-4.1-2025-04-14',
      'gpt-4.1-20250414',
      'gpt-4.1@20250414',
      'openai/gpt-4.1',
      'azure/openai/gpt-4.1-2025-04-14',
    ])
      expect(sameModel('gpt-4.1', same), same).toBe(true);
    expect(sameModel('gpt-4', 'gpt-4-0613')).toBe(true);
    expect(sameModel('openai/gpt-4.1', 'gpt-4.1')).toBe(true);
    for (const other of [
      'gpt-4.1-mini',
      'gpt-4.1-turbo',
      'gpt-4',
      'gpt-4o',
      'gpt-4.1-2025',
      'gpt-4.1-preview',
      'claude-sonnet-4.5',
      'gpt-4.1x',
    ])
      expect(sameModel('gpt-4.1', other), other).toBe(false);
    expect(sameModel('gpt-4.1-2025-04-14', 'gpt-4.1-2024-11-20')).toBe(false); // another snapshot than the one asked for
  });

  it('says why when the model differs or a gateway header says it fell back; nothing when nothing says so', () => {
    expect(substitution('gpt-4.1', 'gpt-4.1-2025-04-14', none)).toBeUndefined();
    expect(substitution('gpt-4.1', undefined, none)).toBeUndefined(); // no model in the answer: nothing to go on
    expect(substitution('gpt-4.1', 'gpt-4o-mini', none)).toBe('answered by gpt-4o-mini, not gpt-4.1');
    const h = (o: Record<string, string>) => headerLookup(o);
    expect(substitution('gpt-4.1', 'gpt-4.1', h({ 'x-litellm-attempted-fallbacks': '1' }))).toMatch(/x-litellm-attempted-fallbacks: 1/);
    expect(substitution('gpt-4.1', 'gpt-4.1', h({ 'x-litellm-attempted-fallbacks': '0' }))).toBeUndefined();
    expect(substitution('gpt-4.1', 'gpt-4.1', h({ 'cf-aig-step': '1' }))).toMatch(/cf-aig-step: 1/);
    expect(substitution('gpt-4.1', 'gpt-4.1', h({ 'cf-aig-step': '0' }))).toBeUndefined();
    expect(substitution('gpt-4.1', 'gpt-4.1', h({ 'ngrok-aig-model': 'claude-haiku-4.5' }))).toMatch(
      /claude-haiku-4\.5 \(ngrok-aig-model\)/,
    );
    expect(substitution('gpt-4.1', 'gpt-4.1', h({ 'ngrok-aig-model': 'openai/gpt-4.1' }))).toBeUndefined();
    // fetch's Headers.get works as the lookup too
    expect(substitution('gpt-4.1', 'gpt-4.1', (n) => new Headers({ 'X-LiteLLM-Attempted-Fallbacks': '2' }).get(n))).toMatch(/: 2/);
  });

  it("finds the answer's model in a JSON body and in an SSE stream's first chunk", () => {
    expect(modelInText('{"id":"x","object":"chat.completion","created":1,"model":"gpt-4.1-mini","choices":[]}')).toBe('gpt-4.1-mini');
    expect(modelInText('data: {"id":"x","object":"chat.completion.chunk","model" : "a\\"b","choices":[]}\n\n')).toBe('a"b');
    expect(modelInText('data: [DONE]')).toBeUndefined();
  });
});
