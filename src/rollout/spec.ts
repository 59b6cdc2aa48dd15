/**
 * The rollout spec: what an operator writes (YAML/JSON file or CLI flags), validated with zod at the
 * edge and normalised into the plain `RolloutSpec` the workflow trusts. Unknown fields are refused —
 * a typo must never silently become a default — and keys never appear: an arm names the environment
 * variable that holds its key.
 */
import { readStructuredFile } from '../files/structured';
import { z } from 'zod';
import { ExpectationSchema, type Expectation } from '../checks/expect';
import { GuardsSchema, type Guards } from '../decision/guards-schema';
import type { RetryPolicy, ChatMessage } from '../gateway/send';
import { parseDuration } from '../spec/duration';
import { formatZodError, SpecError } from '../spec/errors';
import { unsafeBaseURL } from '../gateway/policy';

const duration = (what: string, maxMs: number, maxText: string) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a ${what} such as 30s, 10m or 1h (got ${JSON.stringify(v)})` });
      return z.NEVER;
    }
    if (ms > maxMs) {
      ctx.addIssue({ code: 'custom', message: `expected a ${what} of at most ${maxText} (got ${JSON.stringify(v)})` });
      return z.NEVER;
    }
    return ms;
  });
const HOUR = 3_600_000;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Model names as gateways spell them: no spaces or control characters, short enough for a search attribute. */
const MODEL_NAME = /^[^\s\u0000-\u001f\u007f]{0,200}$/u;
const ArmSchema = z.strictObject({
  model: z
    .string()
    .trim()
    .min(1, 'expected a model name such as gpt-4.1')
    .regex(MODEL_NAME, 'expected a model name such as gpt-4.1 (at most 200 characters, no spaces or control characters)'),
  baseURL: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL such as https://api.openai.com/v1' })
    .max(2000)
    .superRefine((url, ctx) => {
      const unsafe = unsafeBaseURL(url);
      if (unsafe) ctx.addIssue({ code: 'custom', message: `expected a base URL without credentials or query: it ${unsafe}` });
    })
    // One spelling per gateway: https://gw/v1/ and https://gw/v1 are the same gateway.
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
  apiKeyEnv: z
    .string()
    .regex(ENV_NAME, 'expected the NAME of an environment variable (e.g. OPENAI_API_KEY), never the key itself')
    .optional(),
});

const MessageSchema = z.strictObject({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
});
const PromptSchema = z.union([
  z.array(MessageSchema).min(1, 'expected at least one message'),
  z.strictObject({ messages: z.array(MessageSchema).min(1, 'expected at least one message'), expect: ExpectationSchema.optional() }),
]);

const Percent = z.number().gt(0, 'expected a percent above 0').max(100, 'expected a percent of at most 100');

const PlanSchema = z
  .strictObject({
    steps: z.array(Percent).min(1).optional(),
    initial: Percent.optional(),
    increment: Percent.optional(),
    dwell: duration('dwell', 30 * 24 * HOUR, '30 days').default(60_000),
    samplesPerStep: z.number().int().min(1).max(10_000).default(200),
    concurrency: z.number().int().min(1).max(256).default(10),
    /**
     * Share of each round's samples that still goes to blue however high the ratio (synthetic samples
     * reach no user): green is then always compared with blue measured in the same rounds, under the
     * same load — at 100 % too, where blue would otherwise have no fresh samples at all.
     */
    blueControlPercent: z.number().min(0).max(50).default(20),
  })
  .superRefine((p, ctx) => {
    if (p.steps && (p.initial !== undefined || p.increment !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['steps'], message: 'give either steps or initial + increment, not both' });
    }
    if (p.steps) {
      for (let i = 1; i < p.steps.length; i++) {
        if (p.steps[i] <= p.steps[i - 1]) {
          ctx.addIssue({ code: 'custom', path: ['steps', i], message: `steps must rise strictly (${p.steps[i - 1]} then ${p.steps[i]})` });
          return;
        }
      }
      if (p.steps[p.steps.length - 1] !== 100) {
        ctx.addIssue({ code: 'custom', path: ['steps'], message: 'the last step must be 100 (full promotion); add 100' });
      }
    }
  });

export const SpecSchema = z.strictObject({
  target: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'expected an alias of letters, digits, . _ - (e.g. chat-default)'),
  blue: ArmSchema,
  green: ArmSchema,
  plan: PlanSchema.default({ dwell: 60_000, samplesPerStep: 200, concurrency: 10, blueControlPercent: 20 }),
  prompts: z.array(PromptSchema).min(1, 'expected at least one prompt').optional(),
  guards: GuardsSchema.optional(),
  onFailure: z.enum(['rollback', 'pause']).default('rollback'),
  rateLimit: z.strictObject({ requestsPerMinute: z.number().int().min(1).max(1_000_000).default(600) }).default({ requestsPerMinute: 600 }),
  request: z
    .strictObject({
      maxTokens: z.number().int().min(1).max(100_000).default(256),
      temperature: z.number().min(0).max(2).default(0.7),
      // Node timers clamp anything above 2^31 ms to 1 ms: a longer request timeout would time out every sample.
      timeout: duration('timeout', HOUR, '1h')
        .pipe(z.number().min(100, 'expected at least 100ms'))
        .default(60_000),
    })
    .default({ maxTokens: 256, temperature: 0.7, timeout: 60_000 }),
  retry: z
    .strictObject({
      attempts: z.number().int().min(1).max(10).default(3),
      minBackoff: duration('backoff', 10 * 60_000, '10m').default(2000),
      maxBackoff: duration('backoff', 10 * 60_000, '10m').default(10_000),
    })
    .default({ attempts: 3, minBackoff: 2000, maxBackoff: 10_000 }),
  /** Serve a failed green sample from blue, as users would be served; it still counts as a green failure. */
  fallback: z.boolean().default(true),
});
export type SpecInput = z.input<typeof SpecSchema>;

export interface SamplePrompt {
  messages: ChatMessage[];
  expect?: Expectation;
}

/** The normalised spec the workflow runs. Plain JSON; no secrets. */
export interface RolloutSpec {
  target: string;
  blue: { model: string; baseURL?: string; apiKeyEnv?: string };
  green: { model: string; baseURL?: string; apiKeyEnv?: string };
  steps: number[];
  dwellMs: number;
  samplesPerStep: number;
  concurrency: number;
  blueControlPercent: number;
  prompts: SamplePrompt[];
  guards: Guards;
  onFailure: 'rollback' | 'pause';
  rateLimit: { requestsPerMinute: number };
  request: { maxTokens: number; temperature: number; timeoutMs: number };
  retry: RetryPolicy;
  fallback: boolean;
}

/** The seed's two test cases plus a golden prompt with a known answer. */
export const DEFAULT_PROMPTS: SamplePrompt[] = [
  { messages: [{ role: 'user', content: 'What is the capital of Japan?' }], expect: { contains: 'Tokyo', caseSensitive: false } },
  {
    messages: [
      { role: 'system', content: 'Solve step by step.' },
      { role: 'user', content: 'A train leaves at 9:00 and travels 120 km at 80 km/h. When does it arrive?' },
    ],
  },
  {
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'What is 2+2?' },
    ],
    expect: { contains: '4', caseSensitive: false },
  },
];

const MAX_PROMPT_BYTES = 64 * 1024;

const MAX_STEPS = 100;

function stepsFrom(plan: z.output<typeof PlanSchema>, source: string): number[] {
  if (plan.steps) {
    if (plan.steps.length > MAX_STEPS) throw new SpecError(`${source}: plan.steps: ${plan.steps.length} steps; at most ${MAX_STEPS}`);
    return plan.steps;
  }
  const initial = plan.initial ?? 10;
  const increment = plan.increment ?? plan.initial ?? 10;
  const count = Math.ceil((100 - initial) / increment) + 1;
  if (count > MAX_STEPS) {
    throw new SpecError(`${source}: plan.increment: ${increment}% from ${initial}% makes ${count} steps; at most ${MAX_STEPS} (percent, not a fraction: 10 means 10%)`);
  }
  const steps: number[] = [];
  for (let p = initial; p < 100; p += increment) steps.push(Math.round(p * 100) / 100);
  steps.push(100);
  // Rounding may have produced duplicates or a 0% step: those are refused as in an explicit list.
  for (let i = 0; i < steps.length; i++) {
    if (steps[i] <= 0 || (i > 0 && steps[i] <= steps[i - 1])) {
      throw new SpecError(`${source}: plan.increment: initial ${initial} + increment ${increment} gives a step list that does not rise above 0 (${steps.slice(0, 4).join(', ')}…); use whole percents`);
    }
  }
  return steps;
}

/** Validate raw input (already parsed from YAML/JSON or built from flags). Throws SpecError. */
export function parseSpec(raw: unknown, source = 'spec'): RolloutSpec {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SpecError(`${source}: (top level): expected a mapping with target, blue, green, plan…`);
  }
  const r = SpecSchema.safeParse(raw);
  if (!r.success) throw new SpecError(formatZodError(r.error, source));
  const s = r.data;
  if (s.blue.model === s.green.model && s.blue.baseURL === s.green.baseURL) {
    throw new SpecError(`${source}: green.model: same model and gateway as blue (${s.blue.model}); a rollout needs a different green`);
  }
  if (s.retry.minBackoff > s.retry.maxBackoff) {
    throw new SpecError(`${source}: retry.minBackoff: larger than retry.maxBackoff; lower it or raise maxBackoff`);
  }
  const prompts: SamplePrompt[] = (s.prompts ?? DEFAULT_PROMPTS).map((p) => (Array.isArray(p) ? { messages: p } : p));
  const bytes = Buffer.byteLength(JSON.stringify(prompts));
  if (bytes > MAX_PROMPT_BYTES) {
    throw new SpecError(`${source}: prompts: ${Math.round(bytes / 1024)} KB is too large for workflow input (max 64 KB); use fewer or shorter sample prompts`);
  }
  const guards = s.guards ?? GuardsSchema.parse({});
  return {
    target: s.target,
    blue: s.blue,
    green: s.green,
    steps: stepsFrom(s.plan, source),
    dwellMs: s.plan.dwell,
    samplesPerStep: s.plan.samplesPerStep,
    concurrency: s.plan.concurrency,
    blueControlPercent: s.plan.blueControlPercent,
    prompts,
    guards,
    onFailure: s.onFailure,
    rateLimit: s.rateLimit,
    request: { maxTokens: s.request.maxTokens, temperature: s.request.temperature, timeoutMs: s.request.timeout },
    retry: { attempts: s.retry.attempts, minBackoffMs: s.retry.minBackoff, maxBackoffMs: s.retry.maxBackoff },
    fallback: s.fallback,
  };
}

/**
 * Advice about a valid spec that will behave badly (printed by validate and start, never fatal):
 * too few green samples per round for the guards to reach a verdict before the hold limit.
 */
export function planWarnings(spec: RolloutSpec): string[] {
  const warnings: string[] = [];
  const greenPerRound = (spec.samplesPerStep * spec.steps[0]) / 100;
  // ~350 green samples rule out +4 pp at the default guards (src/decision/README.md).
  const needed = Math.ceil(350 / Math.max(greenPerRound, 0.01));
  if (needed > spec.guards.maxHoldRounds) {
    warnings.push(
      `plan.samplesPerStep: ${spec.samplesPerStep} samples at ${spec.steps[0]}% gives ~${greenPerRound.toFixed(1)} green samples per round; ` +
        `a verdict needs ~350, i.e. ~${needed} rounds, more than guards.maxHoldRounds (${spec.guards.maxHoldRounds}); ` +
        `raise samplesPerStep to ≥ ${Math.ceil((350 * 100) / spec.steps[0] / spec.guards.maxHoldRounds)} or start at a higher first step`,
    );
  }
  return warnings;
}

/** Read a YAML or JSON spec file (library API; the CLI goes through its flags). Throws SpecError. */
export function loadSpecFile(path: string): RolloutSpec {
  return parseSpec(readStructuredFile(path, 'the spec file', (m) => new SpecError(m)), path);
}
