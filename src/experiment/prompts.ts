/**
 * The experiment's prompt set: the seed's two test cases by default, or a JSON/YAML file.
 *
 * File: a list (or `{ prompts: [...] }`) whose items are any of
 *   - { name?, messages: [{ role, content }, ...] }
 *   - { name?, prompt: "text", system?: "text" }
 *   - [{ role, content }, ...]            (a bare message list, as in rollout specs)
 */
import { readStructuredFile } from '../files/structured';
import { z } from 'zod';
import { BadInput } from '../errors';
import type { TestCase } from './contract';

export const DEFAULT_TEST_CASES: TestCase[] = [
  { name: 'simple question', messages: [{ role: 'user', content: 'What is the capital of Japan?' }] },
  {
    name: 'reasoning',
    messages: [
      { role: 'system', content: 'Solve step by step.' },
      { role: 'user', content: 'A train leaves at 9:00 and travels 120 km at 80 km/h. When does it arrive?' },
    ],
  },
];

export class PromptsError extends BadInput {
  override name = 'PromptsError';
}

const Message = z.strictObject({
  role: z.enum(['system', 'user', 'assistant'], { error: "expected role 'system', 'user' or 'assistant'" }),
  content: z.string({ error: 'expected a string' }).min(1, { error: 'expected non-empty content' }),
});
const Messages = z.array(Message, { error: 'expected a list of messages' }).min(1, { error: 'expected at least one message' });
const Name = z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty name' });
const MessagesItem = z.strictObject({ name: Name.optional(), messages: Messages });
const PromptItem = z.strictObject({
  name: Name.optional(),
  prompt: z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty prompt' }),
  system: z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty system prompt' }).optional(),
});
const SHAPES = 'expected { messages: [...] }, { prompt, system? } or a list of { role, content }';

function fail(path: (string | number)[], err: z.ZodError): never {
  const issue = err.issues[0];
  const full = [...path, ...issue.path].map(String).join('.');
  const message =
    issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}` : issue.message;
  throw new PromptsError(full ? `${full}: ${message}` : message);
}

/** Validate parsed prompt-file content; names default to `prompt-<n>`. */
export function parsePrompts(raw: unknown): TestCase[] {
  const wrapped = raw !== null && typeof raw === 'object' && !Array.isArray(raw);
  if (wrapped) {
    const extra = Object.keys(raw as object).filter((k) => k !== 'prompts');
    if (extra.length) throw new PromptsError(`unknown key${extra.length > 1 ? 's' : ''} ${extra.join(', ')} (expected { prompts: [...] })`);
  }
  const items = wrapped ? (raw as { prompts?: unknown }).prompts : raw;
  const base: string[] = wrapped ? ['prompts'] : [];
  if (!Array.isArray(items) || items.length === 0) {
    throw new PromptsError(`${base.length ? 'prompts: ' : ''}expected a non-empty list of prompts (or { prompts: [...] })`);
  }
  const cases = items.map((it: unknown, i): TestCase => {
    const name = `prompt-${i + 1}`;
    const at = [...base, i];
    if (Array.isArray(it)) {
      const r = Messages.safeParse(it);
      if (!r.success) fail(at, r.error);
      return { name, messages: r.data };
    }
    if (it && typeof it === 'object' && 'messages' in it) {
      const r = MessagesItem.safeParse(it);
      if (!r.success) fail(at, r.error);
      return { name: r.data.name ?? name, messages: r.data.messages };
    }
    if (it && typeof it === 'object' && 'prompt' in it) {
      const r = PromptItem.safeParse(it);
      if (!r.success) fail(at, r.error);
      const p = r.data;
      return {
        name: p.name ?? name,
        messages: [...(p.system ? [{ role: 'system' as const, content: p.system }] : []), { role: 'user' as const, content: p.prompt }],
      };
    }
    throw new PromptsError(`${at.join('.')}: ${SHAPES}`);
  });
  const seen = new Set<string>();
  cases.forEach((c, i) => {
    if (seen.has(c.name)) throw new PromptsError(`${i}.name: duplicate prompt name ${JSON.stringify(c.name)}`);
    seen.add(c.name);
  });
  return cases;
}

export function loadPrompts(path: string): TestCase[] {
  const raw = readStructuredFile(path, 'prompts file', (m) => new PromptsError(m));
  try {
    return parsePrompts(raw);
  } catch (e) {
    throw new PromptsError(`${path}: ${(e as Error).message}`);
  }
}
