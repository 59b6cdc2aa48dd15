/**
 * The optional LLM judge of shadow pairs: a third model, called through the same gateway with the
 * `openai` client, grades green's answer against blue's to the same real request — blind (it is told of
 * "answer A" and "answer B", never which model wrote which) and in an order drawn per pair from a seed,
 * so a judge that prefers the first (or second) answer it reads favours neither arm.
 *
 * The prompt and the verdict's shape live here, once: the router builds and parses them, and the
 * simulator's judge behaviour (src/sim) reads the same format. Texts stay in memory: nothing here logs,
 * and what leaves is a JUDGE_CODES index and the judge's cost.
 */
import type OpenAI from 'openai';
import { JUDGE_CODES, type JudgeCode } from '../decision/paired';
import { mulberry32 } from '../stats/rng';

/** The judge's system prompt. A request whose first message is this is a judge call (the simulator answers it as one). */
export const JUDGE_SYSTEM_PROMPT =
  "You are modelshift's blind judge. You read a conversation and two candidate answers to its last turn, " +
  'answer A and answer B, and decide which one serves the user better under the rubric. The order of the ' +
  'answers means nothing. Judge content, correctness, completeness and the format the conversation asked ' +
  'for; do not prefer an answer for its length alone. Reply with JSON only, exactly ' +
  '{"winner": "A" | "B" | "tie", "reason": "<one short sentence, quoting nothing>"}.';

export const DEFAULT_RUBRIC =
  'Prefer the answer that is correct, complete and follows the instructions and the requested format; ' +
  'a refusal of a harmless request, broken JSON or a missing tool call is worse; equal answers are a tie.';

/** Bounds on what one judge call carries (characters). */
export const MAX_JUDGED_MESSAGE_CHARS = 8_000;
export const MAX_JUDGED_CONVERSATION_CHARS = 32_000;
export const MAX_JUDGED_ANSWER_CHARS = 16_000;
export const MAX_RUBRIC_CHARS = 2_000;

const TAG_A = 'answer_a';
const TAG_B = 'answer_b';

export type Verdict = 'A' | 'B' | 'tie';

export interface JudgeInput {
  /** the request's `messages`, as the client sent them */
  messages: unknown;
  /** the answer texts as the judge sees them (compare.ts answerText) */
  blue: string;
  green: string;
  rubric?: string;
  /** per pair: decides the order of the two answers */
  seed: number;
}

export interface JudgePrompt {
  messages: Array<{ role: 'system' | 'user'; content: string }>;
  /** which letter green's answer got */
  greenIs: 'A' | 'B';
}

const cut = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}\n[… cut]` : s);
/** An answer may not close its own tag (and so smuggle in text that looks like the other answer). */
const fence = (s: string) => s.replace(/<\/?answer_[ab]>/gi, (t) => t.replace('<', '‹'));

/** The text of one message's content: a string, or the text parts of a content-part array. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
    .join('');
}

/** The conversation as the judge reads it: one `[role] text` block per message, bounded. */
export function conversationText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  let out = '';
  for (const m of messages) {
    if (!m || typeof m !== 'object') continue;
    const role = typeof (m as { role?: unknown }).role === 'string' ? (m as { role: string }).role : 'user';
    const block = `[${role}] ${cut(contentText((m as { content?: unknown }).content), MAX_JUDGED_MESSAGE_CHARS)}\n`;
    if (out.length + block.length > MAX_JUDGED_CONVERSATION_CHARS) {
      out += '[… earlier turns cut]\n';
      break;
    }
    out += block;
  }
  return out;
}

/** The blind prompt: the answers in the order the pair's seed draws. */
export function buildJudgePrompt(input: JudgeInput): JudgePrompt {
  const greenIs: 'A' | 'B' = mulberry32(input.seed)() < 0.5 ? 'A' : 'B';
  const [a, b] = greenIs === 'A' ? [input.green, input.blue] : [input.blue, input.green];
  const rubric = cut((input.rubric ?? '').trim() || DEFAULT_RUBRIC, MAX_RUBRIC_CHARS);
  const user =
    `Rubric: ${rubric}\n\n<conversation>\n${fence(conversationText(input.messages))}</conversation>\n\n` +
    `<${TAG_A}>\n${fence(cut(a, MAX_JUDGED_ANSWER_CHARS))}\n</${TAG_A}>\n\n` +
    `<${TAG_B}>\n${fence(cut(b, MAX_JUDGED_ANSWER_CHARS))}\n</${TAG_B}>\n\nWhich answer is better: A, B, or a tie?`;
  return {
    messages: [
      { role: 'system', content: JUDGE_SYSTEM_PROMPT },
      { role: 'user', content: user },
    ],
    greenIs,
  };
}

/** Answers A and B from a judge prompt's user message (for the simulator's judge); undefined when it is not one. */
export function readJudgePrompt(user: string): { a: string; b: string } | undefined {
  const a = new RegExp(`<${TAG_A}>\\n([\\s\\S]*?)\\n</${TAG_A}>`).exec(user);
  const b = new RegExp(`<${TAG_B}>\\n([\\s\\S]*?)\\n</${TAG_B}>`).exec(user);
  return a && b ? { a: a[1], b: b[1] } : undefined;
}

/** The judge's verdict from its reply: the JSON asked for (also inside a code fence or prose), else undefined. */
export function parseVerdict(text: string | null | undefined): Verdict | undefined {
  if (!text) return undefined;
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start >= 0 && end > start) {
    try {
      const w = (JSON.parse(text.slice(start, end + 1)) as { winner?: unknown }).winner;
      if (typeof w === 'string') {
        const v = w.trim().toUpperCase();
        if (v === 'A' || v === 'B') return v;
        if (v === 'TIE') return 'tie';
      }
    } catch {
      // not the JSON asked for: read it as a bare word below
    }
  }
  const bare = text.trim().replace(/^["'`*]+|["'`*.!]+$/g, '');
  if (/^A$/i.test(bare)) return 'A';
  if (/^B$/i.test(bare)) return 'B';
  if (/^tie$/i.test(bare)) return 'tie';
  return undefined;
}

/** The verdict mapped back from the blind letters to the arms, as a JUDGE_CODES index. */
export function verdictCode(verdict: Verdict | undefined, greenIs: 'A' | 'B'): number {
  const code: JudgeCode = verdict === undefined ? 'none' : verdict === 'tie' ? 'tie' : verdict === greenIs ? 'green' : 'blue';
  return JUDGE_CODES.indexOf(code);
}

export interface JudgeCall {
  client: OpenAI;
  model: string;
  /** USD of the judge's own call (the router's cost function) */
  cost: (model: string, usage: { inputTokens: number; outputTokens: number }) => number;
  signal?: AbortSignal;
}

export interface JudgeResult {
  /** index into JUDGE_CODES ('none' when the judge failed or its reply could not be read) */
  code: number;
  microUsd: number;
  /** why there is no verdict: an error class or 'unreadable' (never the judge's text) */
  failure?: string;
}

/** One judge call: the blind prompt, the verdict mapped back to the arms, and what the call cost. */
export async function judgePair(call: JudgeCall, input: JudgeInput): Promise<JudgeResult> {
  const prompt = buildJudgePrompt(input);
  let res: OpenAI.Chat.Completions.ChatCompletion;
  try {
    res = await call.client.chat.completions.create(
      { model: call.model, messages: prompt.messages, temperature: 0, max_tokens: 200 },
      { signal: call.signal },
    );
  } catch (err) {
    const status = (err as { status?: number }).status;
    return { code: JUDGE_CODES.indexOf('none'), microUsd: 0, failure: status ? `status ${status}` : (err as Error).name || 'error' };
  }
  const inputTokens = res.usage?.prompt_tokens ?? 0;
  const outputTokens = res.usage?.completion_tokens ?? 0;
  const microUsd = Math.round(call.cost(call.model, { inputTokens, outputTokens }) * 1e6);
  const verdict = parseVerdict(res.choices?.[0]?.message?.content);
  return { code: verdictCode(verdict, prompt.greenIs), microUsd, failure: verdict === undefined ? 'unreadable' : undefined };
}
