// Output behaviours: what a model's answer looks like, beyond errors and latency — tool calls, refusals,
// broken JSON, longer answers, answers a judge finds worse — and the simulated LLM judge.
//
// Every draw comes from the model's own output stream (seeded like its fault stream, but separate, so
// runs seeded before these behaviours existed still see the same faults), a fixed number per request.
import { readJudgePrompt, JUDGE_SYSTEM_PROMPT, type Verdict } from '../shadow/judge';
import type { Rng } from '../stats/rng';
import { generateContent } from './content';
import type { FaultProfile } from './profiles';
import { messageText, tokensForText, type ChatMessageLike } from './tokens';

/** What the simulated judge looks for: an answer carrying this is the worse one. */
export const DEGRADED_MARKER = '[sim: degraded answer]';
export const REFUSAL_TEXT = "I'm sorry, but I can't help with that.";

/** The draws of one request, always all of them (a fixed count per request keeps seeded runs reproducible). */
export interface OutputDraws {
  refusal: number;
  brokenJson: number;
  dropToolCall: number;
  degraded: number;
  judgeNoise: number;
  judgePick: number;
}

export function drawOutput(rng: Rng): OutputDraws {
  return { refusal: rng(), brokenJson: rng(), dropToolCall: rng(), degraded: rng(), judgeNoise: rng(), judgePick: rng() };
}

export interface ToolCallOut {
  id: string;
  name: string;
  arguments: string;
}

/** One answer, as the JSON body or the stream carries it. */
export interface SimAnswer {
  content: string | null;
  refusal: string | null;
  toolCalls: ToolCallOut[];
  completionTokens: number;
  finishReason: 'stop' | 'length' | 'tool_calls';
}

export interface AnswerRequest {
  model: string;
  messages: readonly ChatMessageLike[];
  drawnTokens: number;
  maxTokens: number | undefined;
  responseFormat: { type: string } | null | undefined;
  tools: unknown;
  toolChoice: unknown;
  id: string;
}

const isJsonFormat = (f: AnswerRequest['responseFormat']) => f?.type === 'json_object' || f?.type === 'json_schema';

/** The request is a judge call: its first message is the judge's system prompt. */
export function isJudgeCall(messages: readonly ChatMessageLike[]): boolean {
  const first = messages[0];
  return first?.role === 'system' && messageText(first.content) === JUDGE_SYSTEM_PROMPT;
}

/**
 * The judge's verdict: the answer without the degraded marker wins, equal answers tie; with probability
 * `judgeNoise` a verdict drawn at random instead.
 */
export function judgeAnswer(messages: readonly ChatMessageLike[], profile: FaultProfile, d: OutputDraws): SimAnswer {
  const user = [...messages].reverse().find((m) => m.role === 'user');
  const answers = readJudgePrompt(messageText(user?.content));
  let winner: Verdict = 'tie';
  if (d.judgeNoise < profile.judgeNoise) winner = (['A', 'B', 'tie'] as const)[Math.min(2, Math.floor(d.judgePick * 3))];
  else if (answers) {
    const aWorse = answers.a.includes(DEGRADED_MARKER);
    const bWorse = answers.b.includes(DEGRADED_MARKER);
    if (aWorse !== bWorse) winner = aWorse ? 'B' : 'A';
  }
  const reason = winner === 'tie' ? 'Both answers are equally good.' : `Answer ${winner} is better.`;
  const content = JSON.stringify({ winner, reason });
  return { content, refusal: null, toolCalls: [], completionTokens: tokensForText(content), finishReason: 'stop' };
}

interface ToolDef {
  name: string;
  parameters?: unknown;
}

/** The tools of a request, and the one a call would use (tool_choice's, else the first); none when tool_choice is "none". */
function chosenTool(tools: unknown, toolChoice: unknown): ToolDef | undefined {
  if (!Array.isArray(tools) || tools.length === 0 || toolChoice === 'none') return undefined;
  const defs: ToolDef[] = [];
  for (const t of tools) {
    const f = (t as { function?: { name?: unknown; parameters?: unknown } } | null)?.function;
    if (f && typeof f.name === 'string') defs.push({ name: f.name, parameters: f.parameters });
  }
  const wanted = (toolChoice as { function?: { name?: unknown } } | null)?.function?.name;
  return defs.find((d) => d.name === wanted) ?? defs[0];
}

/** A value valid for a (simple) JSON Schema: objects with every property, the first enum value, one of each type. */
export function valueFor(schema: unknown, depth = 0): unknown {
  const s = (schema ?? {}) as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length) return s.enum[0];
  if ('const' in s) return s.const;
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (depth > 6) return null;
  if (type === 'object' || (type === undefined && s.properties)) {
    const out: Record<string, unknown> = {};
    const props = (s.properties ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(props)) out[k] = valueFor(v, depth + 1);
    return out;
  }
  if (type === 'array') return s.items ? [valueFor(s.items, depth + 1)] : [];
  if (type === 'string') return 'example';
  if (type === 'integer' || type === 'number') return typeof s.minimum === 'number' ? s.minimum : 1;
  if (type === 'boolean') return true;
  if (type === 'null') return null;
  return {};
}

/** The answer to an ordinary (not judge) request under the model's output behaviours. */
export function modelAnswer(r: AnswerRequest, profile: FaultProfile, d: OutputDraws, override: string | null): SimAnswer {
  const json = isJsonFormat(r.responseFormat);
  if (d.refusal < profile.refusalShare) {
    // under response_format the refusal is its own field (as structured outputs do), else it is the text
    const tokens = tokensForText(REFUSAL_TEXT);
    return json
      ? { content: null, refusal: REFUSAL_TEXT, toolCalls: [], completionTokens: tokens, finishReason: 'stop' }
      : { content: REFUSAL_TEXT, refusal: null, toolCalls: [], completionTokens: tokens, finishReason: 'stop' };
  }
  const tool = chosenTool(r.tools, r.toolChoice);
  if (tool && override === null && d.dropToolCall >= profile.dropToolCallShare) {
    const args = JSON.stringify(valueFor(tool.parameters));
    return {
      content: null,
      refusal: null,
      toolCalls: [{ id: `call_${r.id}`, name: tool.name, arguments: args }],
      completionTokens: Math.max(1, tokensForText(tool.name) + tokensForText(args)),
      finishReason: 'tool_calls',
    };
  }
  const drawn = Math.max(1, Math.round(r.drawnTokens * profile.lengthFactor));
  const gen = generateContent(r.messages, drawn, r.maxTokens, json, r.model, override);
  let content = gen.content;
  if (d.degraded < profile.degradedShare) content = degrade(content, json);
  if (json && d.brokenJson < profile.brokenJsonShare) content = '```json\n' + content + '\n```';
  return { content, refusal: null, toolCalls: [], completionTokens: gen.completionTokens, finishReason: gen.finishReason };
}

/** The marker in the answer (inside the JSON's `answer` when the answer is JSON, so it stays valid). */
function degrade(content: string, json: boolean): string {
  if (json) {
    try {
      const o = JSON.parse(content) as Record<string, unknown>;
      if (o && typeof o === 'object' && !Array.isArray(o))
        return JSON.stringify({ ...o, answer: `${DEGRADED_MARKER} ${String(o.answer ?? '')}` });
    } catch {
      // an override that is not JSON: marked as text
    }
  }
  return `${DEGRADED_MARKER} ${content}`;
}
