import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CatalogError, DEFAULT_CATALOG, estimateCost, estimateCostUsd, isPriced, loadCatalog } from '../src/catalog';

const dir = mkdtempSync(join(tmpdir(), 'catalog-test-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CatalogError);
    return (e as Error).message;
  }
  throw new Error('expected a CatalogError');
}

describe('DEFAULT_CATALOG', () => {
  it('has the seed output prices, use cases and p99 latencies', () => {
    const seed: Array<[string, number, string[], number]> = [
      ['deepseek-v3.2', 0.42, ['cost-optimized', 'standard tasks'], 1200],
      ['gemini-2.5-flash', 2.5, ['fast responses', 'batch'], 800],
      ['gpt-4.1', 8.0, ['complex reasoning', 'code generation'], 2500],
      ['claude-sonnet-4.5', 15.0, ['long context', 'creative writing'], 3000],
    ];
    for (const [m, out, uses, p99] of seed) {
      const e = DEFAULT_CATALOG.models[m];
      expect(e.outputPerM).toBe(out);
      expect(e.useCases).toEqual(uses);
      expect(e.p99LatencyMs).toBe(p99);
      // the seed gave no input prices: ours are marked as assumptions, the output price is not
      expect(e.assumed).toContain('inputPerM');
      expect(e.assumed).not.toContain('outputPerM');
    }
    expect(DEFAULT_CATALOG.models['gpt-4.1-turbo'].assumed).toContain('outputPerM');
    expect(Object.isFrozen(DEFAULT_CATALOG.models['gpt-4.1'])).toBe(true);
  });
});

describe('estimateCostUsd', () => {
  it('prices input and output tokens separately (the seed priced everything at the output price)', () => {
    // gpt-4.1: $2/M in, $8/M out → 1000 in + 500 out = 0.002 + 0.004
    expect(estimateCostUsd(DEFAULT_CATALOG, 'gpt-4.1', { inputTokens: 1000, outputTokens: 500 })).toBeCloseTo(0.006, 12);
    expect(estimateCostUsd(DEFAULT_CATALOG, 'gpt-4.1', { inputTokens: 1_000_000, outputTokens: 0 })).toBeCloseTo(2, 12);
  });
  it('bills cached input tokens at the cached price (cached is part of inputTokens)', () => {
    // 1000 input of which 400 cached: 600 × 2 + 400 × 0.5 = 1400 µ$; + 100 out × 8 = 800 µ$
    expect(estimateCostUsd(DEFAULT_CATALOG, 'gpt-4.1', { inputTokens: 1000, cachedInputTokens: 400, outputTokens: 100 })).toBeCloseTo(
      0.0022,
      12,
    );
    // cached > input is clamped
    expect(estimateCostUsd(DEFAULT_CATALOG, 'gpt-4.1', { inputTokens: 10, cachedInputTokens: 50, outputTokens: 0 })).toBeCloseTo(
      (10 * 0.5) / 1e6,
      15,
    );
  });
  it('returns 0 and priced:false for an unknown model instead of throwing', () => {
    expect(estimateCostUsd(DEFAULT_CATALOG, 'nope', { inputTokens: 1000, outputTokens: 1000 })).toBe(0);
    expect(estimateCost(DEFAULT_CATALOG, 'nope', { inputTokens: 1, outputTokens: 1 })).toEqual({ usd: 0, priced: false });
    expect(isPriced(DEFAULT_CATALOG, 'nope')).toBe(false);
  });
});

describe('loadCatalog', () => {
  it('returns a mutable copy of the defaults without a path', () => {
    const c = loadCatalog();
    expect(c).toEqual(DEFAULT_CATALOG);
    c.models['gpt-4.1'].outputPerM = 1;
    expect(DEFAULT_CATALOG.models['gpt-4.1'].outputPerM).toBe(8);
  });

  it('merges YAML overrides over the defaults and clears the assumption mark of overridden fields', () => {
    const c = loadCatalog(
      file(
        'catalog.yaml',
        [
          'models:',
          '  gpt-4.1:',
          '    inputPerM: 2.5',
          '  my-model:',
          '    inputPerM: 0.1',
          '    outputPerM: 0.2',
          '    useCases: [chat]',
          '  claude-sonnet-4.5: null',
          'routing:',
          '  rules:',
          '    - { model: my-model, charsBelow: 100 }',
          '    - { model: gpt-4.1, keywords: [why], match: word }',
          '  default: deepseek-v3.2',
        ].join('\n'),
      ),
    );
    expect(c.models['gpt-4.1']).toMatchObject({ inputPerM: 2.5, outputPerM: 8, cachedInputPerM: 0.5 });
    expect(c.models['gpt-4.1'].assumed).toEqual(['cachedInputPerM']);
    expect(c.models['my-model']).toEqual({ inputPerM: 0.1, outputPerM: 0.2, useCases: ['chat'], assumed: [] });
    expect(c.models['claude-sonnet-4.5']).toBeUndefined();
    expect(c.routing).toEqual({
      rules: [
        { model: 'my-model', charsBelow: 100 },
        { model: 'gpt-4.1', keywords: ['why'], match: 'word' },
      ],
      default: 'deepseek-v3.2',
    });
    expect(estimateCostUsd(c, 'gpt-4.1', { inputTokens: 1e6, outputTokens: 0 })).toBeCloseTo(2.5, 12);
  });

  it('reads JSON files too', () => {
    const c = loadCatalog(file('c.json', JSON.stringify({ models: { 'deepseek-v3.2': { outputPerM: 0.5 } } })));
    expect(c.models['deepseek-v3.2'].outputPerM).toBe(0.5);
  });

  it.each([
    ['models:\n  gpt-4.1:\n    outputPerM: -1\n', 'models.gpt-4.1.outputPerM: expected a non-negative number'],
    ['models:\n  gpt-4.1:\n    outputPerM: "8"\n', 'models.gpt-4.1.outputPerM: expected a non-negative number'],
    ['models:\n  gpt-4.1:\n    outputPrice: 8\n', 'models.gpt-4.1: unknown key "outputPrice"'],
    ['model:\n  gpt-4.1: {}\n', 'unknown key "model"'],
    ['models:\n  brand-new:\n    outputPerM: 1\n', 'models.brand-new.inputPerM: required for a model not in the default catalog'],
    ['routing:\n  rules:\n    - { model: gpt-4.1, match: fuzzy }\n', "routing.rules.0.match: expected 'substring' or 'word'"],
    ['routing:\n  rules:\n    - { model: ghost, charsBelow: 10 }\n', 'routing.rules.0.model: unknown model "ghost" (not in models)'],
    ['routing:\n  default: ghost\n', 'routing.default: unknown model "ghost" (not in models)'],
    ['models:\n  gemini-2.5-flash: null\n', 'routing.default: unknown model "gemini-2.5-flash" (not in models)'],
    ['models: [1, 2]\n', 'models: expected a mapping of model name to entry'],
  ])('refuses %j with one line naming the entry', (text, expected) => {
    const p = file('catalog.yaml', text);
    const msg = errorOf(() => loadCatalog(p));
    expect(msg).toBe(`${p}: ${expected}`);
    expect(msg).not.toContain('\n');
  });

  it('loads the example catalog shipped in src/catalog', () => {
    const c = loadCatalog(join(import.meta.dirname, '../src/catalog/catalog.example.yaml'));
    expect(c.models['my-finetune']).toMatchObject({ inputPerM: 0.8, outputPerM: 3.2, p99LatencyMs: 1500, assumed: [] });
    expect(c.routing.rules[2]).toMatchObject({ match: 'word' });
  });

  it('refuses unreadable and unparseable files in one line', () => {
    expect(errorOf(() => loadCatalog(join(dir, 'missing.yaml')))).toMatch(/missing\.yaml: cannot read catalog file \(ENOENT\)$/);
    const bad = errorOf(() => loadCatalog(file('bad.json', '{ "models": ')));
    expect(bad).toMatch(/bad\.json: not valid JSON: /);
    expect(bad).not.toContain('\n');
    const badYaml = errorOf(() => loadCatalog(file('bad.yaml', 'models: {a: [\n')));
    expect(badYaml).toMatch(/bad\.yaml: not valid YAML: /);
    expect(badYaml).not.toContain('\n');
  });
});
