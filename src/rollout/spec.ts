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
import { armFields, ENV_NAME } from '../gateway/arm-schema';
import { unsafeBaseURL } from '../gateway/policy';
import { JUDGE_MIN_PAIRS } from '../decision/probe-guards';
import { pairsToPass } from './machine';
import { NOTIFY_EVENTS, type ApprovalGate, type NotifyHook, type ScheduleWindow } from './controls';

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

const ArmSchema = z.strictObject(armFields);

const MessageSchema = z.strictObject({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
});
const PromptSchema = z.union([
  z.array(MessageSchema).min(1, 'expected at least one message'),
  z.strictObject({ messages: z.array(MessageSchema).min(1, 'expected at least one message'), expect: ExpectationSchema.optional() }),
]);

const Percent = z.number().gt(0, 'expected a percent above 0').max(100, 'expected a percent of at most 100');

/** A step with an approval gate: `{ percent: 50, approval: true }` or with its own timeout and policy. */
const GatedStep = z.strictObject({
  percent: Percent,
  approval: z.union([
    z.boolean(),
    z.strictObject({
      timeout: duration('approval timeout', 30 * 24 * HOUR, '30 days').optional(),
      onTimeout: z.enum(['rollback', 'pause', 'proceed'], { error: 'expected rollback, pause or proceed' }).optional(),
    }),
  ]),
});
const Step = z.union([Percent, GatedStep]);
const stepPercent = (s: z.output<typeof Step>): number => (typeof s === 'number' ? s : s.percent);

/** Approvals wait this long unless the step says otherwise, then roll back (green must not stay unapproved). */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 24 * HOUR;

const DAY_NAMES = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const WindowSchema = z.strictObject({
  days: z
    .array(
      z
        .string()
        .transform((d) => d.toLowerCase().slice(0, 3))
        .pipe(z.enum(DAY_NAMES, { error: 'expected days such as mon, tue … sun' })),
    )
    .min(1, 'expected at least one day')
    .default([...DAY_NAMES]),
  hours: z
    .string()
    .regex(
      /^([01]\d|2[0-4]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/,
      'expected hours such as 09:00-17:00 (24-hour clock; 22:00-06:00 crosses midnight)',
    )
    .default('00:00-24:00'),
  timezone: z
    .string()
    .default('UTC')
    .refine((tz) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    }, 'expected an IANA time zone such as Europe/Berlin or UTC'),
});

/** Variables a webhook may never name: Temporal's, the router's client keys, the gateway's keys. */
const FORBIDDEN_NOTIFY_ENVS = /^(TEMPORAL_.*|ROUTER_API_KEYS|GATEWAY_API_KEY|HOLYSHEEP_API_KEY)$/;
const NotifyEnv = z
  .string()
  .regex(ENV_NAME, 'expected the NAME of an environment variable on the worker')
  .refine((n) => !FORBIDDEN_NOTIFY_ENVS.test(n), 'expected a variable of its own (never TEMPORAL_*, ROUTER_API_KEYS or a gateway key)');
const NotifySchema = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
      .max(2000)
      .superRefine((url, ctx) => {
        const unsafe = unsafeBaseURL(url);
        if (unsafe)
          ctx.addIssue({
            code: 'custom',
            message: `expected a URL without credentials or query (it ${unsafe}); for a secret URL such as Slack's, use urlEnv`,
          });
      })
      .optional(),
    urlEnv: NotifyEnv.optional(),
    events: z
      .array(z.enum(['phase', 'verdict', 'approval', 'end'], { error: 'expected phase, verdict, approval or end' }))
      .min(1)
      .optional(),
    secretEnv: NotifyEnv.optional(),
    format: z.enum(['json', 'slack'], { error: 'expected json or slack' }).default('json'),
  })
  .superRefine((n, ctx) => {
    if ((n.url === undefined) === (n.urlEnv === undefined))
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'give url, or urlEnv (the worker variable holding a secret URL), not both' });
  });

/** The shadow phase (issue 14): before step 1, routers mirror `percent` of real requests to green; users stay on blue. */
const ShadowPlanSchema = z.strictObject({
  percent: Percent.default(5),
  /** mirrored pairs judged before the phase may pass */
  minPairs: z.number().int().min(1).max(1_000_000).default(200),
  /** a cap on green's shadow spend (USD): mirroring stops there, and the phase decides on what it has */
  maxSpendUsd: z.number().positive().optional(),
  /** the phase's longest run without a verdict (then onFailure); without it, the phase waits for traffic */
  maxDuration: duration('shadow duration', 30 * 24 * HOUR, '30 days').optional(),
  /** tolerated increase of green's answer length (output tokens) over blue's: 0.5 = up to 1.5× */
  maxLengthIncrease: z.number().min(0).max(100).default(0.5),
});

const PlanSchema = z
  .strictObject({
    steps: z.array(Step).min(1).optional(),
    initial: Percent.optional(),
    increment: Percent.optional(),
    dwell: duration('dwell', 30 * 24 * HOUR, '30 days').default(60_000),
    /** Probe pairs per round (each pair: one prompt to blue and green at the same moment). */
    probesPerRound: z.number().int().min(1).max(10_000).optional(),
    /** The earlier name of probesPerRound. */
    samplesPerStep: z.number().int().min(1).max(10_000).optional(),
    concurrency: z.number().int().min(1).max(256).default(10),
    /** Steps advance only inside this window; outside it the rollout holds its step, guards running. */
    window: WindowSchema.optional(),
    /** A shadow phase before the first step: green judged on mirrored real requests before any user sees it. */
    shadow: ShadowPlanSchema.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.probesPerRound !== undefined && p.samplesPerStep !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['samplesPerStep'],
        message: 'give probesPerRound (samplesPerStep is its earlier name), not both',
      });
    }
    if (p.steps && (p.initial !== undefined || p.increment !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['steps'], message: 'give either steps or initial + increment, not both' });
    }
    if (p.steps) {
      const pct = p.steps.map(stepPercent);
      for (let i = 1; i < pct.length; i++) {
        if (pct[i] <= pct[i - 1]) {
          ctx.addIssue({ code: 'custom', path: ['steps', i], message: `steps must rise strictly (${pct[i - 1]} then ${pct[i]})` });
          return;
        }
      }
      if (pct[pct.length - 1] !== 100) {
        ctx.addIssue({ code: 'custom', path: ['steps'], message: 'the last step must be 100 (full promotion); add 100' });
      }
    }
  });

export const SpecSchema = z.strictObject({
  target: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'expected an alias of letters, digits, . _ - (e.g. chat-default)'),
  blue: ArmSchema,
  green: ArmSchema,
  plan: PlanSchema.default({ dwell: 60_000, concurrency: 10 }),
  prompts: z.array(PromptSchema).min(1, 'expected at least one prompt').optional(),
  guards: GuardsSchema.optional(),
  onFailure: z.enum(['rollback', 'pause']).default('rollback'),
  rateLimit: z.strictObject({ requestsPerMinute: z.number().int().min(1).max(1_000_000).default(600) }).default({ requestsPerMinute: 600 }),
  request: z
    .strictObject({
      maxTokens: z.number().int().min(1).max(100_000).default(256),
      temperature: z.number().min(0).max(2).default(0.7),
      // Node timers clamp anything above 2^31 ms to 1 ms: a longer request timeout would time out every sample.
      timeout: duration('timeout', HOUR, '1h').pipe(z.number().min(100, 'expected at least 100ms')).default(60_000),
    })
    .default({ maxTokens: 256, temperature: 0.7, timeout: 60_000 }),
  notify: z.array(NotifySchema).max(10, 'expected at most 10 webhooks').optional(),
  retry: z
    .strictObject({
      attempts: z.number().int().min(1).max(10).default(3),
      minBackoff: duration('backoff', 10 * 60_000, '10m').default(2000),
      maxBackoff: duration('backoff', 10 * 60_000, '10m').default(10_000),
    })
    .default({ attempts: 3, minBackoff: 2000, maxBackoff: 10_000 }),
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
  /** probe pairs per round */
  probesPerRound: number;
  concurrency: number;
  prompts: SamplePrompt[];
  guards: Guards;
  onFailure: 'rollback' | 'pause';
  rateLimit: { requestsPerMinute: number };
  request: { maxTokens: number; temperature: number; timeoutMs: number };
  retry: RetryPolicy;
  /** Steps that wait for a human's approval before the rollout leaves them. */
  gates?: ApprovalGate[];
  /** Steps advance only inside this window. */
  window?: ScheduleWindow;
  /** Webhooks told of phase changes, verdicts, approval requests and the end. */
  notify?: NotifyHook[];
  /** A shadow phase after preflight, before step 1 (green 0 %, real requests mirrored to it). */
  shadow?: ShadowPlan;
}

export interface ShadowPlan {
  percent: number;
  minPairs: number;
  maxLengthIncrease: number;
  maxSpendUsd?: number;
  maxDurationMs?: number;
}

/** Probe pairs per round unless the spec says otherwise. */
export const DEFAULT_PROBES_PER_ROUND = 50;

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
    return plan.steps.map(stepPercent);
  }
  const initial = plan.initial ?? 10;
  const increment = plan.increment ?? plan.initial ?? 10;
  const count = Math.ceil((100 - initial) / increment) + 1;
  if (count > MAX_STEPS) {
    throw new SpecError(
      `${source}: plan.increment: ${increment}% from ${initial}% makes ${count} steps; at most ${MAX_STEPS} (percent, not a fraction: 10 means 10%)`,
    );
  }
  const steps: number[] = [];
  for (let p = initial; p < 100; p += increment) steps.push(Math.round(p * 100) / 100);
  steps.push(100);
  // Rounding may have produced duplicates or a 0% step: those are refused as in an explicit list.
  for (let i = 0; i < steps.length; i++) {
    if (steps[i] <= 0 || (i > 0 && steps[i] <= steps[i - 1])) {
      throw new SpecError(
        `${source}: plan.increment: initial ${initial} + increment ${increment} gives a step list that does not rise above 0 (${steps.slice(0, 4).join(', ')}…); use whole percents`,
      );
    }
  }
  return steps;
}

function gatesFrom(plan: z.output<typeof PlanSchema>): ApprovalGate[] {
  return (plan.steps ?? []).flatMap((st, stepIndex) => {
    if (typeof st === 'number' || st.approval === false) return [];
    const a = st.approval === true ? {} : st.approval;
    return [{ stepIndex, timeoutMs: a.timeout ?? DEFAULT_APPROVAL_TIMEOUT_MS, onTimeout: a.onTimeout ?? 'rollback' }];
  });
}

function windowFrom(w: z.output<typeof WindowSchema>, source: string): ScheduleWindow {
  const [from, to] = w.hours.split('-').map((hm) => {
    const [h, m] = hm.split(':').map(Number);
    return h * 60 + m;
  });
  if (from > 24 * 60 || to > 24 * 60)
    throw new SpecError(`${source}: plan.window.hours: ${w.hours} is past 24:00; use 00:00-24:00 at most`);
  // 24:00 as the end is the day's last minute boundary; 00:00-24:00 is the whole day
  return { days: [...new Set(w.days)], fromMinute: from % (24 * 60), toMinute: to, timezone: w.timezone };
}

/** Fields earlier versions accepted, and what replaced them. */
const RETIRED_FIELDS: Record<string, string> = {
  'plan.blueControlPercent':
    'retired: every probe is now a pair (one prompt to blue and green at once), so there is no blue control share; delete the field',
  fallback:
    'retired: probes never fall back to blue (a fallback would hide green errors); only the router falls back, on live traffic, and counts it against green; delete the field',
};

/** Validate raw input (already parsed from YAML/JSON or built from flags). Throws SpecError. */
export function parseSpec(raw: unknown, source = 'spec'): RolloutSpec {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SpecError(`${source}: (top level): expected a mapping with target, blue, green, plan…`);
  }
  const r = SpecSchema.safeParse(raw);
  if (!r.success) throw new SpecError(formatZodError(r.error, source, RETIRED_FIELDS));
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
    throw new SpecError(
      `${source}: prompts: ${Math.round(bytes / 1024)} KB is too large for workflow input (max 64 KB); use fewer or shorter sample prompts`,
    );
  }
  const parsedGuards = s.guards ?? GuardsSchema.parse({});
  const probesPerRound = s.plan.probesPerRound ?? s.plan.samplesPerStep ?? DEFAULT_PROBES_PER_ROUND;
  const { maxHoldRounds, ...guardsRest } = parsedGuards;
  const guards = { ...guardsRest, maxHoldPairs: maxHoldRounds !== undefined ? maxHoldRounds * probesPerRound : guardsRest.maxHoldPairs };
  const gates = gatesFrom(s.plan);
  const window = s.plan.window && windowFrom(s.plan.window, source);
  const notify = s.notify?.map((n): NotifyHook => ({
    ...(n.url ? { url: n.url } : { urlEnv: n.urlEnv }),
    events: n.events ?? [...NOTIFY_EVENTS],
    ...(n.secretEnv ? { secretEnv: n.secretEnv } : {}),
    format: n.format,
  }));
  const sh = s.plan.shadow;
  const shadow: ShadowPlan | undefined = sh && {
    percent: sh.percent,
    minPairs: sh.minPairs,
    maxLengthIncrease: sh.maxLengthIncrease,
    ...(sh.maxSpendUsd !== undefined ? { maxSpendUsd: sh.maxSpendUsd } : {}),
    ...(sh.maxDuration !== undefined ? { maxDurationMs: sh.maxDuration } : {}),
  };
  return {
    ...(shadow ? { shadow } : {}),
    ...(gates.length ? { gates } : {}),
    ...(window ? { window } : {}),
    ...(notify?.length ? { notify } : {}),
    target: s.target,
    blue: s.blue,
    green: s.green,
    steps: stepsFrom(s.plan, source),
    dwellMs: s.plan.dwell,
    probesPerRound,
    concurrency: s.plan.concurrency,
    prompts,
    guards,
    onFailure: s.onFailure,
    rateLimit: s.rateLimit,
    request: { maxTokens: s.request.maxTokens, temperature: s.request.temperature, timeoutMs: s.request.timeout },
    retry: { attempts: s.retry.attempts, minBackoffMs: s.retry.minBackoff, maxBackoffMs: s.retry.maxBackoff },
  };
}

/** A step may run at most this many probe rounds (each is an activity and a few history events). */
export const MAX_ROUNDS_PER_STEP = 2000;

/**
 * A plan that cannot reach a verdict is refused (exit 2, the smallest setting that would work), unless
 * forced: a step must be able to gather, within its hold budget (guards.maxHoldPairs) and a bounded number
 * of rounds, the pairs a Pass needs even when green and blue are identical (machine pairsToPass).
 */
export function planProblems(spec: RolloutSpec): string[] {
  const needed = pairsToPass(spec);
  const g = spec.guards;
  if (!Number.isFinite(needed)) {
    return [
      `guards.maxErrorRateIncrease: ${g.maxErrorRateIncrease} cannot be told from 0 by any number of pairs; tolerate more (e.g. 0.01)`,
    ];
  }
  if (needed > g.maxHoldPairs) {
    return [
      `guards.maxHoldPairs: a step needs at least ${needed} judged pairs to pass even when green equals blue (minSamples ${g.minSamples}, ` +
        `windowMinPairs ${g.windowMinPairs}, tolerance ${g.maxErrorRateIncrease}), more than its budget of ${g.maxHoldPairs}; raise maxHoldPairs to ≥ ${needed} ` +
        `or tolerate more (or --force to start anyway)`,
    ];
  }
  if (needed > spec.probesPerRound * MAX_ROUNDS_PER_STEP) {
    return [
      `plan.probesPerRound: ${spec.probesPerRound} pairs a round would take over ${MAX_ROUNDS_PER_STEP} rounds a step (a step needs ≥ ${needed} pairs); ` +
        `raise probesPerRound to ≥ ${Math.ceil(needed / MAX_ROUNDS_PER_STEP)} (or --force to start anyway)`,
    ];
  }
  // the judge needs JUDGE_MIN_PAIRS judged probe pairs before the last step promotes; it grades a sample
  const j = g.judge;
  const record = Math.max(g.promoteMinPairs, spec.steps.length * needed);
  if (j && (record * j.samplePercent) / 100 < JUDGE_MIN_PAIRS) {
    const atLeast = Math.min(100, Math.ceil((JUDGE_MIN_PAIRS * 100) / record));
    return [
      `guards.judge.samplePercent: ${j.samplePercent}% of the ~${record} probe pairs before a promotion is about ${Math.floor((record * j.samplePercent) / 100)} judged pairs, ` +
        `fewer than the ${JUDGE_MIN_PAIRS} the judge needs; raise samplePercent to ≥ ${atLeast} (or --force to start anyway)`,
    ];
  }
  return [];
}

/**
 * What the price catalog (the worker's, as far as the CLI can tell: MODELSHIFT_CATALOG or the built-in
 * one) means for the spec. `refused`: a spend cap on an unpriced green could never be measured.
 * `warnings`: the cost guard cannot compare an unpriced arm (it says so in its verdict).
 */
export function pricingProblems(spec: RolloutSpec, priced: (model: string) => boolean): { refused: string[]; warnings: string[] } {
  const unpriced = (['blue', 'green'] as const).filter((arm) => !priced(spec[arm].model));
  const refused: string[] = [];
  const warnings: string[] = [];
  if (spec.guards.cost.spendCapUsd !== undefined && unpriced.includes('green')) {
    refused.push(
      `guards.cost.spendCapUsd: green model ${spec.green.model} is not in the price catalog, so its spend cannot be capped; add its prices (MODELSHIFT_CATALOG) or remove the cap`,
    );
  }
  if (spec.shadow?.maxSpendUsd !== undefined && unpriced.includes('green')) {
    refused.push(
      `plan.shadow.maxSpendUsd: green model ${spec.green.model} is not in the price catalog, so its shadow spend cannot be capped; add its prices (MODELSHIFT_CATALOG) or remove the cap`,
    );
  }
  if (spec.guards.cost.enabled && unpriced.length) {
    warnings.push(
      `guards.cost: ${unpriced.map((a) => `${a} model ${spec[a].model}`).join(' and ')} ${unpriced.length > 1 ? 'are' : 'is'} not in the price catalog: ` +
        `the cost guard will not compare cost (add prices with MODELSHIFT_CATALOG, or set guards.cost.enabled: false)`,
    );
  }
  return { refused, warnings };
}

/** Read a YAML or JSON spec file (library API; the CLI goes through its flags). Throws SpecError. */
export function loadSpecFile(path: string): RolloutSpec {
  return parseSpec(
    readStructuredFile(path, 'the spec file', (m) => new SpecError(m)),
    path,
  );
}
