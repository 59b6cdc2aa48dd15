/** The rollout spec parser in-process: defaults, normalisation and one-line errors naming the field. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_GUARDS } from '../../src/decision/defaults';
import { BadInput } from '../../src/errors';
import { DEFAULT_PROMPTS, parseSpec, planProblems, pricingProblems } from '../../src/rollout/spec';
import { specFromFlags } from '../../src/rollout/spec-flags';
import { SpecError } from '../../src/spec/errors';

const base = { target: 'chat', blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } };
const refused = (raw: unknown) => {
  try {
    parseSpec(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    expect(err).toBeInstanceOf(BadInput);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected the spec to be refused');
};

describe('rollout spec: defaults and normalisation', () => {
  it('fills the documented defaults', () => {
    const s = parseSpec(base);
    expect(s).toMatchObject({
      steps: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
      dwellMs: 60_000,
      probesPerRound: 50,
      concurrency: 10,
      onFailure: 'rollback',
      rateLimit: { requestsPerMinute: 600 },
      request: { maxTokens: 256, temperature: 0.7, timeoutMs: 60_000 },
      retry: { attempts: 3, minBackoffMs: 2000, maxBackoffMs: 10_000 },
    });
    expect(s.guards).toEqual(DEFAULT_GUARDS);
    expect(s.prompts).toEqual(DEFAULT_PROMPTS);
  });

  it('builds steps from initial + increment, ending at 100', () => {
    expect(parseSpec({ ...base, plan: { initial: 20, increment: 30 } }).steps).toEqual([20, 50, 80, 100]);
    expect(parseSpec({ ...base, plan: { initial: 25 } }).steps).toEqual([25, 50, 75, 100]);
  });

  it('reads durations as operators write them', () => {
    const s = parseSpec({ ...base, plan: { dwell: '1h30m' }, request: { timeout: '500ms' }, retry: { minBackoff: 1, maxBackoff: '2s' } });
    expect(s.dwellMs).toBe(5_400_000);
    expect(s.request.timeoutMs).toBe(500);
    expect(s.retry).toMatchObject({ minBackoffMs: 1000, maxBackoffMs: 2000 });
  });

  it('accepts prompts as message lists or { messages, expect }', () => {
    const s = parseSpec({
      ...base,
      prompts: [[{ role: 'user', content: 'hi' }], { messages: [{ role: 'user', content: '2+2?' }], expect: { contains: '4' } }],
    });
    expect(s.prompts).toEqual([
      { messages: [{ role: 'user', content: 'hi' }] },
      { messages: [{ role: 'user', content: '2+2?' }], expect: { contains: '4', caseSensitive: false } },
    ]);
  });
});

describe('rollout spec: refusals name the field and the fix', () => {
  it.each([
    [{ ...base, plna: {} }, 'spec: (top level): unknown field "plna" (check the spelling; unknown fields are refused)'],
    [{ ...base, target: 'has space' }, 'spec: target: expected an alias of letters, digits, . _ - (e.g. chat-default)'],
    [{ ...base, green: { model: '' } }, 'spec: green.model: expected a model name such as gpt-4.1'],
    [
      { ...base, green: { model: 'x', apiKeyEnv: 'sk-123-abc' } },
      'spec: green.apiKeyEnv: expected the NAME of an environment variable (e.g. OPENAI_API_KEY), never the key itself',
    ],
    [
      { ...base, green: { model: 'x', baseURL: 'ftp://x' } },
      'spec: green.baseURL: expected an http(s) URL such as https://api.openai.com/v1',
    ],
    [{ ...base, plan: { steps: [10, 5, 100] } }, 'spec: plan.steps[1]: steps must rise strictly (10 then 5)'],
    [{ ...base, plan: { steps: [10, 50] } }, 'spec: plan.steps: the last step must be 100 (full promotion); add 100'],
    [{ ...base, plan: { steps: [50, 100], initial: 10 } }, 'spec: plan.steps: give either steps or initial + increment, not both'],
    [{ ...base, plan: { dwell: 'soon' } }, 'spec: plan.dwell: expected a dwell such as 30s, 10m or 1h (got "soon")'],
    [
      { ...base, plan: { increment: 0.1 } },
      'spec: plan.increment: 0.1% from 10% makes 901 steps; at most 100 (percent, not a fraction: 10 means 10%)',
    ],
    [
      { ...base, green: { model: 'gpt-4.1' } },
      'spec: green.model: same model and gateway as blue (gpt-4.1); a rollout needs a different green',
    ],
    [
      { ...base, retry: { minBackoff: '10s', maxBackoff: '1s' } },
      'spec: retry.minBackoff: larger than retry.maxBackoff; lower it or raise maxBackoff',
    ],
    [{ ...base, request: { timeout: '10ms' } }, 'spec: request.timeout: expected at least 100ms'],
    [{ ...base, onFailure: 'explode' }, 'spec: onFailure: Invalid option: expected one of "rollback"|"pause"'],
    [[1, 2], 'spec: (top level): expected a mapping with target, blue, green, plan…'],
  ])('%j', (raw, message) => {
    expect(refused(raw)).toBe(message);
  });

  it('names the deepest field inside a prompt union (a misspelt role), not "Invalid input"', () => {
    expect(refused({ ...base, prompts: [[{ role: 'usr', content: 'x' }]] })).toMatch(/^spec: prompts\[0\]\[0\]\.role: /);
  });

  it('refuses prompts too large for workflow input', () => {
    const big = [[{ role: 'user', content: 'x'.repeat(70 * 1024) }]];
    expect(refused({ ...base, prompts: big })).toMatch(/^spec: prompts: \d+ KB is too large for workflow input \(max 64 KB\)/);
  });
});

describe('rollout spec: flags over a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spec-flags-'));

  it('flags override the file; --steps replaces initial/increment', () => {
    const file = join(dir, 'spec.yaml');
    writeFileSync(
      file,
      'target: chat\nblue: { model: gpt-4.1 }\ngreen: { model: gpt-4.1-turbo }\nplan: { initial: 10, increment: 10, samplesPerStep: 50 }\n',
    );
    const s = specFromFlags({ file, steps: '25,100', samples: '300', green: 'deepseek-v3.2', maxErrorRate: '0.1' });
    expect(s).toMatchObject({ steps: [25, 100], probesPerRound: 300, green: { model: 'deepseek-v3.2' } });
    expect(s.guards.maxErrorRate).toBe(0.1);
  });

  it('--shadow and --judge flags build plan.shadow and guards.judge, over the file’s', () => {
    const file = join(dir, 'shadow.yaml');
    writeFileSync(
      file,
      'target: chat\nblue: { model: gpt-4.1 }\ngreen: { model: gpt-4.1-turbo }\nplan: { shadow: { percent: 2, minPairs: 400 } }\n' +
        'guards: { judge: { model: gpt-4.1, rubric: terse } }\n',
    );
    const s = specFromFlags({
      file,
      shadow: '5',
      shadowMaxSpend: '2',
      shadowMaxDuration: '2h',
      judgeSample: '30',
      judgeMaxLossRate: '0.05',
    });
    expect(s.shadow).toEqual({ percent: 5, minPairs: 400, maxLengthIncrease: 0.5, maxSpendUsd: 2, maxDurationMs: 7_200_000 });
    expect(s.guards.judge).toMatchObject({ model: 'gpt-4.1', rubric: 'terse', samplePercent: 30, maxLossRate: 0.05 });
    const flagsOnly = specFromFlags({ target: 'x', blue: 'a', green: 'b', judge: 'deepseek-v3.2', judgeKeyEnv: 'JUDGE_KEY' });
    expect(flagsOnly.shadow).toBeUndefined();
    expect(flagsOnly.guards.judge).toMatchObject({ model: 'deepseek-v3.2', apiKeyEnv: 'JUDGE_KEY', samplePercent: 20 });
  });

  it('a bad number or a missing flag is one line naming the flag', () => {
    expect(() => specFromFlags({ target: 'x', blue: 'a', green: 'b', samples: 'many' })).toThrow(
      '--samples: expected a number, got "many"',
    );
    expect(() => specFromFlags({ blue: 'a', green: 'b' })).toThrow('--target: required (or give a spec file with -f)');
    expect(() => specFromFlags({ target: 'x', green: 'b' })).toThrow(/^--blue: required/);
    expect(() => specFromFlags({ file: join(dir, 'missing.yaml') })).toThrow(/missing\.yaml: cannot read the spec file \(ENOENT\)/);
  });
});

describe('rollout spec: plans that cannot pass', () => {
  it('refuses a hold budget smaller than the pairs an identical green needs to pass, saying how many', () => {
    expect(planProblems(parseSpec({ ...base, guards: { maxHoldPairs: 100 } }))[0]).toMatch(
      /^guards\.maxHoldPairs: a step needs at least \d+ judged pairs to pass even when green equals blue .* raise maxHoldPairs to ≥ \d+/,
    );
    expect(planProblems(parseSpec({ ...base, guards: { maxErrorRateIncrease: 0 } }))[0]).toMatch(
      /^guards\.maxErrorRateIncrease: 0 cannot be told from 0/,
    );
    expect(planProblems(parseSpec(base))).toEqual([]);
  });

  it('refuses a judge that samples too few probe pairs to reach the 30 it needs before a promotion', () => {
    expect(planProblems(parseSpec({ ...base, guards: { judge: { model: 'deepseek-v3.2', samplePercent: 0.5 } } }))[0]).toMatch(
      /^guards\.judge\.samplePercent: 0\.5% of the ~\d+ probe pairs before a promotion is about \d+ judged pairs, fewer than the 30 .* raise samplePercent to ≥ \d+/,
    );
    expect(planProblems(parseSpec({ ...base, guards: { judge: { model: 'deepseek-v3.2' } } }))).toEqual([]);
  });

  it('maxHoldRounds (the earlier name) is counted in rounds of probesPerRound pairs', () => {
    expect(parseSpec({ ...base, plan: { probesPerRound: 40 }, guards: { maxHoldRounds: 10 } }).guards.maxHoldPairs).toBe(400);
    expect(parseSpec({ ...base, plan: { samplesPerStep: 40 } }).probesPerRound).toBe(40);
  });

  it('a spend cap on a green the catalog does not price is refused; an unpriced arm is a warning', () => {
    const priced = (m: string) => m !== 'my-finetune';
    const capped = parseSpec({ ...base, green: { model: 'my-finetune' }, guards: { cost: { spendCapUsd: 5 } } });
    expect(pricingProblems(capped, priced).refused[0]).toMatch(
      /^guards\.cost\.spendCapUsd: green model my-finetune is not in the price catalog/,
    );
    const plain = parseSpec({ ...base, green: { model: 'my-finetune' } });
    expect(pricingProblems(plain, priced)).toMatchObject({
      refused: [],
      warnings: [expect.stringMatching(/^guards\.cost: green model my-finetune is not in the price catalog/)],
    });
    expect(pricingProblems(parseSpec(base), priced)).toEqual({ refused: [], warnings: [] });
  });

  it('a field an earlier version accepted is refused with what replaced it', () => {
    expect(refused({ ...base, plan: { blueControlPercent: 10 } })).toMatch(
      /^spec: plan\.blueControlPercent: retired: every probe is now a pair/,
    );
    expect(refused({ ...base, fallback: false })).toMatch(/^spec: fallback: retired: probes never fall back to blue/);
  });
});

describe('rollout spec: hostile and careless input (hardening)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spec-hard-'));
  const prompt = (expect: unknown) => ({ ...base, prompts: [{ messages: [{ role: 'user', content: 'x' }], expect }] });

  it('an invalid JSON Schema or a regex RE2 refuses is a spec error at parse time, naming the field', () => {
    expect(refused(prompt({ json: { type: 'integr' } }))).toMatch(
      /^spec: prompts\[0\]\.expect\.json: expected a valid JSON Schema: schema is invalid/,
    );
    expect(refused(prompt({ json: { type: 'object', required: 'x' } }))).toMatch(/expect\.json: expected a valid JSON Schema/);
    expect(refused(prompt({ regex: '(?<=a)b' }))).toMatch(/^spec: prompts\[0\]\.expect\.regex: expected a regular expression RE2 accepts/);
  });

  it('a catastrophic-backtracking regex runs in linear time', async () => {
    const { checkOutput } = await import('../../src/checks/expect');
    const s = parseSpec(prompt({ regex: '^(a+)+$' }));
    const t0 = performance.now();
    expect(checkOutput(s.prompts[0].expect!, 'a'.repeat(50_000) + 'b').passed).toBe(false);
    expect(performance.now() - t0).toBeLessThan(5_000); // exponential backtracking would take years, not seconds
  });

  it('refuses durations Node timers cannot hold, and unbounded counts', () => {
    expect(refused({ ...base, request: { timeout: '600h' } })).toBe('spec: request.timeout: expected a timeout of at most 1h (got "600h")');
    expect(refused({ ...base, plan: { dwell: '400d' } })).toMatch(/^spec: plan\.dwell: expected a dwell/);
    expect(refused({ ...base, guards: { minSamples: 1e9 } })).toMatch(/^spec: guards\.minSamples: expected at most 100000/);
    expect(refused({ ...base, guards: { maxHoldRounds: 1e7 } })).toMatch(/^spec: guards\.maxHoldRounds: /);
  });

  it('refuses a baseURL that carries credentials or a query', () => {
    expect(refused({ ...base, green: { model: 'x', baseURL: 'https://user:sk-KEY@gw.example/v1' } })).toMatch(
      /^spec: green\.baseURL: expected a base URL without credentials or query: it carries credentials/,
    );
    expect(refused({ ...base, green: { model: 'x', baseURL: 'https://gw.example/v1?api-key=sk-1' } })).toMatch(/carries a query/);
  });

  it('the same model on the same gateway is refused however the URL is spelt (trailing slash)', () => {
    const raw = {
      ...base,
      blue: { model: 'm', baseURL: 'https://gw.example/v1/' },
      green: { model: 'm', baseURL: 'https://gw.example/v1' },
    };
    expect(refused(raw)).toMatch(/^spec: green\.model: same model and gateway as blue/);
    expect(parseSpec({ ...base, green: { model: 'x', baseURL: 'https://gw.example/v1//' } }).green.baseURL).toBe('https://gw.example/v1');
  });

  it('refuses model names a gateway or a search attribute cannot hold', () => {
    expect(refused({ ...base, green: { model: 'x'.repeat(3000) } })).toMatch(
      /^spec: green\.model: expected a model name such as gpt-4\.1 \(at most 200 characters/,
    );
    expect(refused({ ...base, green: { model: 'gpt 4' } })).toMatch(/no spaces or control characters/);
  });

  it('refuses duplicate keys in a JSON spec file (the last would silently win)', () => {
    const file = join(dir, 'dup.json');
    writeFileSync(file, '{"target":"chat","blue":{"model":"a"},"green":{"model":"b"},"green":{"model":"c"}}');
    expect(() => specFromFlags({ file })).toThrow(/dup\.json: not valid JSON: Map keys must be unique/);
  });
});
