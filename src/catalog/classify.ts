/**
 * Cost-aware routing for the router's `auto` model: pick a model from the request's messages.
 * Pure (no fs/zod): importable from the router, workflows and tests.
 *
 * Default rules reproduce the seed classifier exactly, quirks included:
 *   total characters of all messages < 500          → deepseek-v3.2   (checked FIRST: it wins over keywords)
 *   total characters > 3000                          → gpt-4.1
 *   any of why/how/analyze/compare/reasoning occurs  → gpt-4.1         (substring match, see below)
 *   otherwise                                        → gemini-2.5-flash
 * Substring quirk: "however", "show", "somehow" contain "how", so "Please show me the table" (if
 * ≥ 500 chars) routes to gpt-4.1. Set `match: 'word'` on a rule for whole-word matching.
 * Characters are counted as Unicode code points (what the Python seed's len() counted), not UTF-16 units.
 */
import { DEFAULT_ROUTING, type RoutingConfig, type RoutingRule } from './prices';

/** The subset of an OpenAI chat message the classifier reads. */
export interface ClassifiableMessage {
  role?: string;
  content?: string | null | ReadonlyArray<{ type?: string; text?: string } | string>;
}

/** Text of one message: string content, or the text parts of array content (images etc. ignored). */
export function contentText(content: ClassifiableMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let s = '';
  for (const part of content) {
    if (typeof part === 'string') s += part;
    else if (part && typeof part.text === 'string') s += part.text;
  }
  return s;
}

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

export interface ClassifyFeatures {
  totalChars: number;
  /** Lower-cased text of all messages, joined by "\n" (so a keyword cannot straddle two messages). */
  text: string;
}

export function features(messages: readonly ClassifiableMessage[]): ClassifyFeatures {
  const parts = messages.map((m) => contentText(m.content));
  return { totalChars: parts.reduce((n, p) => n + codePoints(p), 0), text: parts.join('\n').toLowerCase() };
}

const WORD_CHAR = /[\p{L}\p{N}_]/u;

function containsWord(text: string, word: string): boolean {
  if (!word) return false;
  for (let i = text.indexOf(word); i !== -1; i = text.indexOf(word, i + 1)) {
    const before = i > 0 ? text[i - 1] : '';
    const after = text[i + word.length] ?? '';
    if (!(before && WORD_CHAR.test(before)) && !(after && WORD_CHAR.test(after))) return true;
  }
  return false;
}

export function ruleMatches(rule: RoutingRule, f: ClassifyFeatures): boolean {
  if (rule.charsBelow !== undefined && !(f.totalChars < rule.charsBelow)) return false;
  if (rule.charsAbove !== undefined && !(f.totalChars > rule.charsAbove)) return false;
  if (rule.keywords !== undefined) {
    const word = rule.match === 'word';
    const hit = rule.keywords.some((k) => {
      const kw = k.toLowerCase();
      return word ? containsWord(f.text, kw) : kw !== '' && f.text.includes(kw);
    });
    if (!hit) return false;
  }
  return true;
}

/** Index of the first matching rule, or -1 when the default applies (for explanations/metrics). */
export function matchRule(messages: readonly ClassifiableMessage[], routing: RoutingConfig = DEFAULT_ROUTING): number {
  const f = features(messages);
  return routing.rules.findIndex((r) => ruleMatches(r, f));
}

/** The model for these messages under `routing` (default: the seed's rules). */
export function classify(messages: readonly ClassifiableMessage[], routing: RoutingConfig = DEFAULT_ROUTING): string {
  const i = matchRule(messages, routing);
  return i === -1 ? routing.default : routing.rules[i].model;
}
