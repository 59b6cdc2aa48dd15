// Cheap token estimates (≈ 4 characters per token, like OpenAI's rule of thumb).

export interface ChatMessageLike {
  role?: string;
  content?: unknown;
  name?: unknown;
}

/** Text of a message's content: a string, or the text parts of a content-part array. */
export function messageText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let s = '';
  for (const part of content) {
    if (part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string') {
      s += (part as { text: string }).text;
    }
  }
  return s;
}

export function tokensForText(text: string): number {
  return Math.ceil(text.length / 4);
}

/** prompt_tokens: ceil(chars/4) per message + 4 per message overhead + 3 for the reply primer. */
export function countPromptTokens(messages: readonly ChatMessageLike[]): number {
  let total = 3;
  for (const m of messages) total += 4 + tokensForText(messageText(m.content)) + (typeof m.name === 'string' ? 1 : 0);
  return total;
}
