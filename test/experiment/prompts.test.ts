import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BadInput } from '../../src/errors';
import { DEFAULT_TEST_CASES, loadPrompts, parsePrompts, PromptsError } from '../../src/experiment/prompts';

describe('prompt sets', () => {
  it('parses the prompt file shapes', () => {
    expect(
      parsePrompts([
        { name: 'q', prompt: 'hi', system: 'be brief' },
        [{ role: 'user', content: 'x' }],
        { messages: [{ role: 'user', content: 'y' }] },
      ]),
    ).toEqual([
      {
        name: 'q',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hi' },
        ],
      },
      { name: 'prompt-2', messages: [{ role: 'user', content: 'x' }] },
      { name: 'prompt-3', messages: [{ role: 'user', content: 'y' }] },
    ]);
    expect(parsePrompts({ prompts: [{ prompt: 'z' }] })).toHaveLength(1);
  });

  it('refuses bad shapes with the field path, as bad input', () => {
    const errorOf = (raw: unknown) => {
      try {
        parsePrompts(raw);
      } catch (e) {
        expect(e).toBeInstanceOf(PromptsError);
        expect(e).toBeInstanceOf(BadInput);
        return (e as Error).message;
      }
      throw new Error('expected a PromptsError');
    };
    expect(errorOf([])).toBe('expected a non-empty list of prompts (or { prompts: [...] })');
    expect(errorOf({ prompts: [], extra: 1 })).toBe('unknown key extra (expected { prompts: [...] })');
    expect(errorOf([{ prompt: 'a', colour: 'red' }])).toBe('0: unknown key colour');
    expect(errorOf([42])).toBe('0: expected { messages: [...] }, { prompt, system? } or a list of { role, content }');
    expect(
      errorOf([
        { name: 'x', prompt: 'a' },
        { name: 'x', prompt: 'b' },
      ]),
    ).toBe('1.name: duplicate prompt name "x"');
  });

  it('loads a YAML file and names the file in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ab-prompts-'));
    const ok = join(dir, 'ok.yaml');
    writeFileSync(ok, '- prompt: hi\n');
    expect(loadPrompts(ok)).toEqual([{ name: 'prompt-1', messages: [{ role: 'user', content: 'hi' }] }]);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, '- prompt: ""\n');
    expect(() => loadPrompts(bad)).toThrow(`${bad}: 0.prompt: expected a non-empty prompt`);
  });

  it('defaults to the seed test cases', () => {
    expect(DEFAULT_TEST_CASES.map((c) => c.name)).toEqual(['simple question', 'reasoning']);
  });
});
