/**
 * Paired comparison of two answers to the same real request (the shadow phase): blue's, which the user
 * got, and green's, which nobody sees. Pure and in memory: texts come in, only numbers go out — one
 * ProbeRound row per pair (outcome code, latency, tokens, cost) and the output checks of OUTPUT_CHECKS,
 * 1 passed / 0 failed / -1 the check does not apply (or there is no answer):
 * - json: the answer parses as JSON, where response_format asks for json_object or json_schema (a text
 *   answer; a tool call or a `refusal` field is not held to it);
 * - schema: it conforms to response_format's json_schema (Ajv; a schema Ajv cannot compile is -1 for both);
 * - toolCall: the answer calls a tool, counted only where blue's answer called one;
 * - toolArgs: every tool call's arguments parse as JSON and, for a tool the request declared with
 *   `parameters`, conform to them (an arm that made no call: -1);
 * - refusal: the answer is not a refusal (no `refusal` field, no refusal marker at the start of its text).
 * Each arm is checked on its own; the rollout's paired test then looks at the pairs where the two differ,
 * so "green broke JSON where blue's answer conformed" is exactly its discordant pairs.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';
import { OUTCOME_CODES, OUTPUT_CHECKS, type OutcomeCode, type OutputCheck, type PairSide } from '../decision/paired';

export interface ToolCall {
  name: string;
  arguments: string;
}

/** One answer as the client would read it (a JSON body, or a stream assembled). */
export interface Answer {
  content: string;
  /** the `refusal` field (structured outputs), null when absent */
  refusal: string | null;
  toolCalls: ToolCall[];
  model?: string;
  finishReason?: string;
  usage?: { inputTokens: number; outputTokens: number };
}

// ---------- reading an answer ----------

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => !!v && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** What parse() returns for a text that is not JSON (undefined is no JSON value, but `null` is). */
const NOT_JSON = Symbol('not JSON');

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}

function usageOf(u: unknown): Answer['usage'] {
  if (!isObject(u)) return undefined;
  const input = Number(u.prompt_tokens);
  const output = Number(u.completion_tokens);
  if (!Number.isFinite(input) && !Number.isFinite(output)) return undefined;
  return { inputTokens: Number.isFinite(input) ? input : 0, outputTokens: Number.isFinite(output) ? output : 0 };
}

/** Message content: a string, or the text parts of a content-part array. */
function contentOf(c: unknown): string {
  if (typeof c === 'string') return c;
  if (!Array.isArray(c)) return '';
  return c.map((p) => (isObject(p) ? str(p.text) : '')).join('');
}

function fromJsonBody(body: unknown): Answer | undefined {
  if (!isObject(body) || !Array.isArray(body.choices)) return undefined;
  const choice = body.choices[0];
  if (!isObject(choice) || !isObject(choice.message)) return undefined;
  const m = choice.message;
  const toolCalls: ToolCall[] = [];
  if (Array.isArray(m.tool_calls))
    for (const t of m.tool_calls) {
      const f = isObject(t) && isObject(t.function) ? t.function : undefined;
      if (f) toolCalls.push({ name: str(f.name), arguments: str(f.arguments) });
    }
  if (isObject(m.function_call)) toolCalls.push({ name: str(m.function_call.name), arguments: str(m.function_call.arguments) });
  return {
    content: contentOf(m.content),
    refusal: typeof m.refusal === 'string' && m.refusal !== '' ? m.refusal : null,
    toolCalls,
    model: typeof body.model === 'string' ? body.model : undefined,
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : undefined,
    usage: usageOf(body.usage),
  };
}

/** An SSE stream assembled (choice 0): deltas joined, tool calls by index. Undefined when a chunk is broken or the stream was cut. */
function fromStream(text: string): Answer | undefined {
  const a: Answer = { content: '', refusal: null, toolCalls: [] };
  let refusal = '';
  let done = false;
  let chunks = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trim();
    if (data === '[DONE]') {
      done = true;
      continue;
    }
    const chunk = parse(data);
    if (!isObject(chunk)) return undefined;
    chunks++;
    if (a.model === undefined && typeof chunk.model === 'string') a.model = chunk.model;
    a.usage = usageOf(chunk.usage) ?? a.usage;
    const choice = Array.isArray(chunk.choices) ? chunk.choices.find((c) => isObject(c) && (c.index ?? 0) === 0) : undefined;
    if (!isObject(choice)) continue;
    if (typeof choice.finish_reason === 'string') a.finishReason = choice.finish_reason;
    const d = isObject(choice.delta) ? choice.delta : {};
    a.content += contentOf(d.content);
    refusal += str(d.refusal);
    if (Array.isArray(d.tool_calls))
      for (const t of d.tool_calls) {
        if (!isObject(t)) continue;
        const i = typeof t.index === 'number' && t.index >= 0 && t.index < 128 ? t.index : a.toolCalls.length;
        const call = (a.toolCalls[i] ??= { name: '', arguments: '' });
        if (isObject(t.function)) {
          call.name += str(t.function.name);
          call.arguments += str(t.function.arguments);
        }
      }
  }
  if (chunks === 0 || (!done && a.finishReason === undefined)) return undefined;
  a.toolCalls = a.toolCalls.filter(Boolean);
  a.refusal = refusal || null;
  return a;
}

/** A chat completion's response text — a JSON body or an SSE stream — as the client reads it; undefined when it is neither. */
export function readAnswer(text: string): Answer | undefined {
  const t = text.trimStart();
  if (t.startsWith('{')) return fromJsonBody(parse(t));
  return fromStream(text);
}

/** The answer as the judge reads it: its text, its refusal, or its tool calls. */
export function answerText(a: Answer): string {
  if (a.toolCalls.length) return a.toolCalls.map((t) => `[tool call] ${t.name}(${t.arguments})`).join('\n');
  if (a.refusal !== null) return `[refusal] ${a.refusal}`;
  return a.content;
}

// ---------- what the request asked for ----------

export interface RequestShape {
  /** response_format asks for JSON (json_object or json_schema) */
  json: boolean;
  /** response_format's json_schema.schema */
  schema?: Json;
  /** the declared tools: name → parameters (undefined when a tool declares none) */
  tools: Map<string, Json | undefined>;
  /** characters of the messages' text (for a token estimate when an answer carries no usage) */
  promptChars: number;
}

export function requestShape(body: Json): RequestShape {
  const rf = isObject(body.response_format) ? body.response_format : undefined;
  const type = rf?.type;
  const js = isObject(rf?.json_schema) ? rf.json_schema : undefined;
  const tools = new Map<string, Json | undefined>();
  if (Array.isArray(body.tools))
    for (const t of body.tools) {
      const f = isObject(t) && isObject(t.function) ? t.function : undefined;
      if (f && typeof f.name === 'string') tools.set(f.name, isObject(f.parameters) ? f.parameters : undefined);
    }
  let promptChars = 0;
  if (Array.isArray(body.messages)) for (const m of body.messages) promptChars += isObject(m) ? contentOf(m.content).length : 0;
  return {
    json: type === 'json_object' || type === 'json_schema',
    schema: type === 'json_schema' && isObject(js?.schema) ? js.schema : undefined,
    tools,
    promptChars,
  };
}

// ---------- schema conformance ----------

/** RE2 for `pattern`: linear time, so a request's schema cannot make the router backtrack for ever. */
const re2: ((pattern: string, u: string) => { test: (s: string) => boolean; toString: () => string }) & { code: string } = Object.assign(
  (pattern: string) => {
    const re = RE2JS.compile(pattern);
    return { test: (s: string) => re.matcher(s).find(), toString: () => `re2:${pattern}` };
  },
  { code: 're2js' },
);
// Schemas come from clients' requests: not strict (OpenAI accepts keywords Ajv's strict mode refuses),
// formats not validated, nothing logged.
const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: false, logger: false, code: { regExp: re2 } });
const MAX_SCHEMA_CHARS = 100_000;
const MAX_CACHED = 256;
const compiled = new Map<string, ValidateFunction | null>();

/** The compiled schema (cached by text), or null when Ajv cannot compile it (then the check does not apply). */
function validatorFor(schema: Json): ValidateFunction | null {
  const key = JSON.stringify(schema);
  let v = compiled.get(key);
  if (v !== undefined) return v;
  try {
    v = key.length > MAX_SCHEMA_CHARS ? null : ajv.compile(schema);
  } catch {
    v = null;
  }
  if (compiled.size >= MAX_CACHED) compiled.delete(compiled.keys().next().value!);
  compiled.set(key, v);
  return v;
}

function conforms(validate: ValidateFunction, value: unknown): boolean {
  try {
    return validate(value) === true;
  } catch {
    return false;
  }
}

// ---------- the checks ----------

/** Refusal markers at the start of a text answer (English: what models say when they decline). */
const REFUSAL_START =
  /^(?:i['’]m sorry|i am sorry|sorry, (?:but )?i|i apologi[sz]e|i can(?:['’]|no)t (?:help|assist|comply|provide|do that)|i cannot (?:help|assist|comply|provide)|i['’]m (?:not able|unable) to|i am (?:not able|unable) to|i won['’]t be able to|as an ai\b)/i;

export function isRefusal(a: Answer): boolean {
  if (a.refusal !== null) return true;
  const start = a.content
    .trimStart()
    .replace(/^["'*_`>\s]+/, '')
    .slice(0, 200);
  return a.toolCalls.length === 0 && REFUSAL_START.test(start);
}

/** Held to response_format: a text answer (not a tool call, not a `refusal` field). */
const textAnswer = (a: Answer) => a.toolCalls.length === 0 && a.refusal === null;

function jsonCheck(shape: RequestShape, a: Answer | undefined): number {
  if (!shape.json || !a || !textAnswer(a)) return -1;
  return parse(a.content.trim()) !== NOT_JSON ? 1 : 0;
}

function schemaCheck(shape: RequestShape, validate: ValidateFunction | null, a: Answer | undefined): number {
  if (!shape.schema || !validate || !a || !textAnswer(a)) return -1;
  const value = parse(a.content.trim());
  return value !== NOT_JSON && conforms(validate, value) ? 1 : 0;
}

function toolArgsCheck(shape: RequestShape, a: Answer | undefined): number {
  if (!a || a.toolCalls.length === 0) return -1;
  for (const t of a.toolCalls) {
    const args = parse(t.arguments || '{}');
    if (args === NOT_JSON) return 0;
    if (shape.tools.size > 0 && !shape.tools.has(t.name)) return 0; // a tool the request never declared
    const params = shape.tools.get(t.name);
    const validate = params ? validatorFor(params) : null;
    if (validate && !conforms(validate, args)) return 0;
  }
  return 1;
}

export type CheckRow = Record<OutputCheck, { blue: number; green: number }>;

/** The output checks of one pair; an arm without an answer (it failed) is -1 throughout. */
export function outputChecks(shape: RequestShape, blue: Answer | undefined, green: Answer | undefined): CheckRow {
  const validate = shape.schema ? validatorFor(shape.schema) : null;
  const blueCalled = !!blue && blue.toolCalls.length > 0;
  const row = {} as CheckRow;
  for (const check of OUTPUT_CHECKS) {
    const per = (a: Answer | undefined): number => {
      if (check === 'json') return jsonCheck(shape, a);
      if (check === 'schema') return schemaCheck(shape, validate, a);
      if (check === 'toolCall') return blueCalled && a ? (a.toolCalls.length > 0 ? 1 : 0) : -1;
      if (check === 'toolArgs') return toolArgsCheck(shape, a);
      return a ? (isRefusal(a) ? 0 : 1) : -1;
    };
    row[check] = { blue: per(blue), green: per(green) };
  }
  return row;
}

// ---------- one pair, as ProbeRound columns take it ----------

/** One arm's side of a pair before pricing: how its call ended, and its answer when it has one. */
export interface ArmResult {
  model: string;
  code: OutcomeCode;
  /** to the end of the answer (ms) */
  latencyMs: number;
  /** when code is 'ok' */
  answer?: Answer;
}

/** One arm of a ProbeRound row (ArmColumns, one entry each). */
/** One arm's side of a pair (the probe columns' row). */
export type Side = PairSide;

export interface PairRow {
  blue: Side;
  green: Side;
  output: CheckRow;
}

export type PriceFn = (model: string, usage: { inputTokens: number; outputTokens: number }) => number;

/** Tokens of a text when the answer says nothing: about four characters each (the same estimate for both arms of a pair). */
export const estimateTokens = (chars: number): number => (chars > 0 ? Math.ceil(chars / 4) : 0);

/**
 * The pair's row: codes, latencies, tokens, cost (micro-dollars from the price function, as probes
 * count it) and the output checks. Tokens are the answers' usage when both carry it (a stream carries it
 * only when the client asked for it), else the same estimate for both, so the length ratio compares like
 * with like.
 */
export function pairRow(shape: RequestShape, blue: ArmResult, green: ArmResult, price: PriceFn): PairRow {
  const ok = (r: ArmResult) => (r.code === 'ok' ? r.answer : undefined);
  const b = ok(blue);
  const g = ok(green);
  const measured = (!b || b.usage) && (!g || g.usage);
  const tokens = (a: Answer | undefined) => {
    if (!a) return { inputTokens: 0, outputTokens: 0 };
    if (measured && a.usage) return a.usage;
    return { inputTokens: estimateTokens(shape.promptChars), outputTokens: estimateTokens(answerText(a).length) };
  };
  const side = (r: ArmResult, a: Answer | undefined): Side => {
    const t = tokens(a);
    return {
      code: Math.max(0, OUTCOME_CODES.indexOf(r.code)),
      ms: a ? Math.round(r.latencyMs) : 0,
      microUsd: a ? Math.round(price(r.model, t) * 1e6) : 0,
      inputTokens: t.inputTokens,
      outputTokens: t.outputTokens,
      check: -1,
      retriedFailures: 0,
    };
  };
  return { blue: side(blue, b), green: side(green, g), output: outputChecks(shape, b, g) };
}
