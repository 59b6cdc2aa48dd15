// Per-model fault profiles: schema, defaults and the default model catalog.
import { z } from 'zod';

const RATE_MSG = 'expected a number between 0 and 1';
const rate = z.number({ error: RATE_MSG }).min(0, { error: RATE_MSG }).max(1, { error: RATE_MSG });

/**
 * A distribution is either a fixed number or `{ p50, p99 }`: a lognormal fitted so its
 * median is p50 and its 99th percentile is p99 (samples capped at 4 * p99).
 */
function distribution(what: string, int: boolean) {
  const msg = `expected a ${int ? 'whole ' : ''}number of ${what} >= 0, or { p50, p99 } with 0 <= p50 <= p99`;
  const n = (int ? z.number().int() : z.number()).min(0);
  return z.union([n, z.strictObject({ p50: n, p99: n }).refine((d) => d.p50 <= d.p99, { error: 'p50 must be <= p99' })], { error: msg });
}

export const DistributionSchema = distribution('units', false);
export type Distribution = number | { p50: number; p99: number };

const fields = {
  /** Probability a request is answered 500 or 503 (50/50) with an OpenAI-style error body. */
  errorRate: rate,
  /** Probability a request is accepted and never answered (socket held open until the client gives up). */
  timeoutRate: rate,
  /** Probability of a 200 whose body is not valid JSON (or a broken SSE event when streaming). */
  malformedRate: rate,
  /** Time to answer, in ms (before `latencyScale`). 0 = answer immediately. */
  latencyMs: distribution('milliseconds', false),
  /** Completion length in tokens (clamped to max_tokens / max_completion_tokens). */
  completionTokens: distribution('tokens', true),
  /** Requests per minute (token bucket, burst = rpm). null = unlimited. */
  rpm: z
    .number({ error: 'expected a positive whole number of requests per minute, or null' })
    .int({ error: 'expected a positive whole number of requests per minute, or null' })
    .positive({ error: 'expected a positive whole number of requests per minute, or null' })
    .nullable(),
  /** Fixed assistant content returned verbatim instead of the generated text. null = generate. */
  outputOverride: z.string({ error: 'expected a string or null' }).nullable(),
  /** 5xx error messages quote the caller's Authorization header (a badly behaved gateway). */
  quotesKeyInErrors: z.boolean({ error: 'expected true or false' }),
  /** Answer with this `model` name instead of the one asked for (a gateway that fell back silently). null = the model asked for. */
  substituteModel: z.string({ error: 'expected a model name or null' }).min(1, { error: 'expected a model name or null' }).nullable(),
  /** Send `x-litellm-attempted-fallbacks: 1` with every answer (a LiteLLM gateway that fell back). */
  fallbackHeader: z.boolean({ error: 'expected true or false' }),
  // ---- output behaviours (src/sim/behaviour.ts), drawn from the model's own seeded output stream ----
  /** Share of answers to requests asking for JSON (response_format json_object / json_schema) that are not valid JSON. */
  brokenJsonShare: rate,
  /** Share of answers that are refusals (`refusal` set under response_format, else the text starts "I'm sorry, but I can't"). */
  refusalShare: rate,
  /** Answers this many times longer, in text and completion tokens (before max_tokens). 1 = as drawn. */
  lengthFactor: z
    .number({ error: 'expected a number between 0.01 and 100' })
    .min(0.01, { error: 'expected a number between 0.01 and 100' })
    .max(100, { error: 'expected a number between 0.01 and 100' }),
  /** Share of requests with `tools` (tool_choice not "none") answered with text instead of a tool call. */
  dropToolCallShare: rate,
  /** Share of answers carrying DEGRADED_MARKER: the worse answer for the simulated judge. */
  degradedShare: rate,
  /** As a judge (a request with the judge's system prompt): share of verdicts drawn at random (A, B, tie). */
  judgeNoise: rate,
};

const SUM_MSG = 'errorRate + timeoutRate + malformedRate must be <= 1';

export const FaultProfileSchema = z.strictObject(fields).refine((p) => p.errorRate + p.timeoutRate + p.malformedRate <= 1 + 1e-9, {
  error: SUM_MSG,
  path: ['errorRate'],
});
export type FaultProfile = z.output<typeof FaultProfileSchema>;

/** Partial patch merged (shallowly) over a model's current profile. */
export const FaultProfilePatchSchema = z.strictObject(fields).partial();
export type FaultProfilePatch = z.output<typeof FaultProfilePatchSchema>;

/** Base profile for a model added without a full profile. */
export const DEFAULT_PROFILE: FaultProfile = Object.freeze({
  errorRate: 0.005,
  timeoutRate: 0,
  malformedRate: 0,
  latencyMs: { p50: 400, p99: 1200 },
  completionTokens: { p50: 150, p99: 600 },
  rpm: null,
  outputOverride: null,
  quotesKeyInErrors: false,
  substituteModel: null,
  fallbackHeader: false,
  brokenJsonShare: 0,
  refusalShare: 0,
  lengthFactor: 1,
  dropToolCallShare: 0,
  degradedShare: 0,
  judgeNoise: 0.05,
}) as FaultProfile;

function model(patch: Partial<FaultProfile>): FaultProfile {
  return Object.freeze({ ...DEFAULT_PROFILE, ...patch }) as FaultProfile;
}

/**
 * Default catalog. Latencies are realistic (p99 1200/800/2500/3000 ms for the four seed
 * models); scale them down with the `latencyScale` option in tests and demos.
 */
export const DEFAULT_SIM_MODELS: Readonly<Record<string, FaultProfile>> = Object.freeze({
  'deepseek-v3.2': model({ errorRate: 0.01, latencyMs: { p50: 450, p99: 1200 }, completionTokens: { p50: 180, p99: 700 } }),
  'gemini-2.5-flash': model({ errorRate: 0.005, latencyMs: { p50: 300, p99: 800 }, completionTokens: { p50: 140, p99: 500 } }),
  'gpt-4.1': model({ errorRate: 0.005, latencyMs: { p50: 900, p99: 2500 }, completionTokens: { p50: 160, p99: 600 } }),
  'claude-sonnet-4.5': model({ errorRate: 0.005, latencyMs: { p50: 1100, p99: 3000 }, completionTokens: { p50: 200, p99: 800 } }),
  'gpt-4.1-turbo': model({ errorRate: 0.01, latencyMs: { p50: 600, p99: 1800 }, completionTokens: { p50: 150, p99: 550 } }),
});

/** One-line, field-naming message for a zod error, e.g. `models.gpt-4.1.errorRate: expected ...`. */
export function formatZodError(err: z.ZodError, prefix: (string | number)[] = []): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid input';
  const path = [...prefix, ...issue.path.map(String)].join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  }
  return path ? `${path}: ${message}` : message;
}

/** Validate a patch and merge it over `base`; throws Error with a one-line message naming the field. */
export function mergeProfile(base: FaultProfile, patch: unknown): FaultProfile {
  const p = FaultProfilePatchSchema.safeParse(patch);
  if (!p.success) throw new Error(formatZodError(p.error));
  const merged = FaultProfileSchema.safeParse({ ...base, ...stripUndefined(p.data) });
  if (!merged.success) throw new Error(formatZodError(merged.error));
  return Object.freeze(merged.data) as FaultProfile;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
