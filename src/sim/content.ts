// Deterministic, plausible assistant text, sized to a token budget.
import { messageText, tokensForText, type ChatMessageLike } from './tokens';

const CAPITALS: Record<string, string> = {
  japan: 'Tokyo',
  france: 'Paris',
  germany: 'Berlin',
  italy: 'Rome',
  spain: 'Madrid',
  canada: 'Ottawa',
  australia: 'Canberra',
  brazil: 'Brasília',
  india: 'New Delhi',
  china: 'Beijing',
  'united kingdom': 'London',
  uk: 'London',
  'united states': 'Washington, D.C.',
  usa: 'Washington, D.C.',
};

const FILLER_WORDS = (
  'In more detail, the answer follows from the request and the usual conventions. ' +
  'This simulated response is generated deterministically so validators can check it. ' +
  'Additional context is provided to reach a realistic completion length without changing the meaning. ' +
  'Each sentence is plain text, free of markup, and safe to embed in JSON strings. '
).repeat(40);

/** Short answer for the last user message: capitals, small arithmetic, else an echo. */
export function answerFor(messages: readonly ChatMessageLike[]): string {
  let prompt = '';
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === 'user') {
      prompt = messageText(messages[i].content);
      break;
    }
  }
  if (!prompt && messages.length) prompt = messageText(messages[messages.length - 1].content);
  const cap = /capital of ([a-z .]+?)(?:[?.!,]|$)/i.exec(prompt);
  if (cap) {
    const country = cap[1].trim().toLowerCase().replace(/^the /, '');
    const city = CAPITALS[country];
    if (city) return `The capital of ${cap[1].trim().replace(/^the /i, '')} is ${city}.`;
  }
  const math = /(-?\d+(?:\.\d+)?)\s*([+\-*x×/])\s*(-?\d+(?:\.\d+)?)/.exec(prompt);
  if (math) {
    const a = Number(math[1]);
    const b = Number(math[3]);
    const op = math[2];
    const r = op === '+' ? a + b : op === '-' ? a - b : op === '/' ? (b === 0 ? NaN : a / b) : a * b;
    if (Number.isFinite(r)) return `${math[1]} ${op} ${math[3]} = ${Number(r.toFixed(6))}.`;
  }
  const echo = prompt.replace(/\s+/g, ' ').trim().slice(0, 80);
  return echo ? `Here is a response to: "${echo}".` : 'Here is a response.';
}

function filler(chars: number): string {
  if (chars <= 0) return '';
  const s = FILLER_WORDS.slice(0, Math.min(chars, FILLER_WORDS.length));
  const cut = s.lastIndexOf(' ');
  return (cut > 0 && s.length < FILLER_WORDS.length ? s.slice(0, cut) : s).trim();
}

export interface GeneratedContent {
  content: string;
  completionTokens: number;
  finishReason: 'stop' | 'length';
}

/**
 * Build content of about `drawnTokens` tokens. The short answer is always included unless
 * `maxTokens` is smaller (then text is cut and finish_reason is 'length'; in JSON mode the
 * content stays valid JSON and finish_reason stays 'stop').
 */
export function generateContent(
  messages: readonly ChatMessageLike[],
  drawnTokens: number,
  maxTokens: number | undefined,
  json: boolean,
  model: string,
  override: string | null,
): GeneratedContent {
  if (override !== null) {
    return { content: override, completionTokens: Math.max(1, tokensForText(override)), finishReason: 'stop' };
  }
  const answer = answerFor(messages);
  if (json) {
    const base = JSON.stringify({ answer, model, detail: '' });
    let target = Math.max(drawnTokens, tokensForText(base));
    if (maxTokens !== undefined) target = Math.max(Math.min(target, maxTokens), 1);
    const content = JSON.stringify({ answer, model, detail: filler(target * 4 - base.length) });
    return { content, completionTokens: target, finishReason: 'stop' };
  }
  let target = Math.max(drawnTokens, tokensForText(answer));
  let finishReason: 'stop' | 'length' = 'stop';
  if (maxTokens !== undefined && target > maxTokens) {
    target = Math.max(maxTokens, 1);
    finishReason = 'length';
  }
  const full = target * 4 <= answer.length ? answer.slice(0, target * 4) : `${answer} ${filler(target * 4 - answer.length - 1)}`.trim();
  return { content: full, completionTokens: target, finishReason };
}
