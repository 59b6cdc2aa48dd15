import { describe, expect, it } from 'vitest';
import { classify, matchRule, type ClassifiableMessage } from '../src/catalog/classify';
import { DEFAULT_ROUTING, type RoutingConfig } from '../src/catalog/prices';

const user = (content: string): ClassifiableMessage[] => [{ role: 'user', content }];
const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - s.length)); // spaces carry no keyword

describe('classify with the seed rules', () => {
  it.each<[string, ClassifiableMessage[], string]>([
    ['short question', user('What is the capital of Japan?'), 'deepseek-v3.2'],
    ['499 chars', user('x'.repeat(499)), 'deepseek-v3.2'],
    ['500 chars, no keyword', user('x'.repeat(500)), 'gemini-2.5-flash'],
    ['3000 chars, no keyword', user('x'.repeat(3000)), 'gemini-2.5-flash'],
    ['3001 chars', user('x'.repeat(3001)), 'gpt-4.1'],
    ['short wins over keywords (precedence)', user('Why is the sky blue?'), 'deepseek-v3.2'],
    ['keyword why, long enough', user(pad('Why is the sky blue?', 600)), 'gpt-4.1'],
    ['keyword case-insensitive', user(pad('ANALYZE this', 600)), 'gpt-4.1'],
    ['compare', user(pad('compare a and b', 600)), 'gpt-4.1'],
    ['reasoning', user(pad('reasoning task', 600)), 'gpt-4.1'],
    ['substring quirk: however', user(pad('however, it is fine', 600)), 'gpt-4.1'],
    ['substring quirk: show', user(pad('show me a table', 600)), 'gpt-4.1'],
    [
      'counts all messages',
      [
        { role: 'system', content: 'x'.repeat(300) },
        { role: 'user', content: 'y'.repeat(300) },
      ],
      'gemini-2.5-flash',
    ],
    [
      'keyword in the system prompt',
      [
        { role: 'system', content: 'Solve step by step. Explain how.' },
        { role: 'user', content: 'z'.repeat(600) },
      ],
      'gpt-4.1',
    ],
    [
      'array content text parts',
      [
        {
          role: 'user',
          content: [{ type: 'text', text: 'a'.repeat(400) }, { type: 'image_url' }, { type: 'text', text: 'b'.repeat(400) }],
        },
      ],
      'gemini-2.5-flash',
    ],
    [
      'null content counts 0',
      [
        { role: 'assistant', content: null },
        { role: 'user', content: 'hi' },
      ],
      'deepseek-v3.2',
    ],
    ['no messages', [], 'deepseek-v3.2'],
    ['code points, not UTF-16 units (499 emoji)', user('😀'.repeat(499)), 'deepseek-v3.2'],
    [
      'keyword does not straddle messages',
      [
        { role: 'user', content: pad('a', 300) + 'ho' },
        { role: 'user', content: 'w' + pad('', 300) },
      ],
      'gemini-2.5-flash',
    ],
  ])('%s', (_name, messages, expected) => {
    expect(classify(messages)).toBe(expected);
  });

  it('reports the matching rule index, -1 for the default', () => {
    expect(matchRule(user('hi'))).toBe(0);
    expect(matchRule(user('x'.repeat(3001)))).toBe(1);
    expect(matchRule(user(pad('how', 600)))).toBe(2);
    expect(matchRule(user('x'.repeat(600)))).toBe(-1);
  });
});

describe('classify with configured rules', () => {
  const word: RoutingConfig = {
    rules: [
      DEFAULT_ROUTING.rules[0],
      DEFAULT_ROUTING.rules[1],
      { model: 'gpt-4.1', keywords: ['why', 'how', 'analyze', 'compare', 'reasoning'], match: 'word' },
    ],
    default: 'gemini-2.5-flash',
  };
  it.each<[string, string, string]>([
    ['however is not how', pad('however, it is fine', 600), 'gemini-2.5-flash'],
    ['show is not how', pad('show me a table', 600), 'gemini-2.5-flash'],
    ['How, with punctuation', pad('So... How, exactly?', 600), 'gpt-4.1'],
    ['how-to', pad('a how-to guide', 600), 'gpt-4.1'],
    ['at the end', pad('', 600) + 'why', 'gpt-4.1'],
    ['analyzed is not analyze', pad('we analyzed it', 600), 'gemini-2.5-flash'],
  ])('word match: %s', (_n, text, expected) => {
    expect(classify(user(text), word)).toBe(expected);
  });

  it('keywords-first precedence is available by ordering rules', () => {
    const kwFirst: RoutingConfig = { rules: [DEFAULT_ROUTING.rules[2], DEFAULT_ROUTING.rules[0]], default: 'gemini-2.5-flash' };
    expect(classify(user('Why is the sky blue?'), kwFirst)).toBe('gpt-4.1');
  });

  it('conditions within a rule are ANDed; an empty rule always matches', () => {
    const r: RoutingConfig = { rules: [{ model: 'a', charsAbove: 10, keywords: ['code'] }, { model: 'b' }], default: 'c' };
    expect(classify(user('write code please'), r)).toBe('a');
    expect(classify(user('code'), r)).toBe('b');
    expect(classify(user('x'), { rules: [], default: 'c' })).toBe('c');
  });
});
