/**
 * Raw-body helpers: the router reads the client's body once, and forwards its bytes untouched except
 * for the value of the top-level `"model"` key, so large prompts are never re-serialised.
 */
import type { IncomingMessage } from 'node:http';

export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
}

/**
 * The request body as text. Past `max` bytes it stops reading (the rest is never read) and rejects
 * with BodyTooLargeError; the caller answers 413 and closes the connection.
 */
export function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > max) {
        req.off('data', onData);
        req.pause();
        chunks.length = 0;
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Index just past the JSON string starting at `i` (which must be a `"`), or -1. */
function skipString(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 0x5c /* \ */) j++;
    else if (c === 0x22 /* " */) return j + 1;
  }
  return -1;
}

function skipWs(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else break;
  }
  return i;
}

/** Index just past the JSON value starting at `i` (after whitespace), or -1. */
function skipValue(s: string, i: number): number {
  i = skipWs(s, i);
  const c = s.charCodeAt(i);
  if (c === 0x22) return skipString(s, i);
  if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
    let depth = 0;
    for (let j = i; j < s.length; j++) {
      const d = s.charCodeAt(j);
      if (d === 0x22) {
        j = skipString(s, j) - 1;
        if (j < 0) return -1;
      } else if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return -1;
  }
  // number, true, false, null
  let j = i;
  while (j < s.length) {
    const d = s.charCodeAt(j);
    if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break;
    j++;
  }
  return j === i ? -1 : j;
}

/**
 * Spans [start, end) of every top-level `"model"` value in a JSON object text, or null when the text
 * is not an object this scanner understands (the caller then falls back to re-serialising).
 */
export function findTopLevelModelValues(s: string): Array<[number, number]> | null {
  let i = skipWs(s, 0);
  if (s.charCodeAt(i) !== 0x7b) return null;
  i++;
  const spans: Array<[number, number]> = [];
  for (;;) {
    i = skipWs(s, i);
    const c = s.charCodeAt(i);
    if (c === 0x7d) return spans;
    if (c !== 0x22) return null;
    const keyEnd = skipString(s, i);
    if (keyEnd < 0) return null;
    const rawKey = s.slice(i, keyEnd);
    const isModel = rawKey === '"model"' || (rawKey.includes('\\') && safeParse(rawKey) === 'model');
    i = skipWs(s, keyEnd);
    if (s.charCodeAt(i) !== 0x3a /* : */) return null;
    const vStart = skipWs(s, i + 1);
    const vEnd = skipValue(s, vStart);
    if (vEnd < 0) return null;
    if (isModel) spans.push([vStart, vEnd]);
    i = skipWs(s, vEnd);
    const sep = s.charCodeAt(i);
    if (sep === 0x2c) i++;
    else if (sep === 0x7d) return spans;
    else return null;
  }
}

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

/**
 * The body text with the top-level `model` replaced by `model`; other bytes unchanged.
 * `parsed` is the already-parsed object, used only as a fallback for texts the scanner rejects.
 */
export function replaceModel(raw: string, model: string, parsed: Record<string, unknown>): string {
  const spans = findTopLevelModelValues(raw);
  const value = JSON.stringify(model);
  if (!spans || spans.length === 0) return JSON.stringify({ ...parsed, model });
  let out = '';
  let at = 0;
  for (const [a, b] of spans) {
    out += raw.slice(at, a) + value;
    at = b;
  }
  return out + raw.slice(at);
}

/** Usage numbers from the tail of a response (JSON body or the last SSE events). */
export function usageFromTail(tail: string): { inputTokens: number; outputTokens: number } | undefined {
  const u = tail.lastIndexOf('"usage"');
  if (u < 0) return undefined;
  const seg = tail.slice(u);
  const p = /"prompt_tokens"\s*:\s*(\d+)/.exec(seg);
  const c = /"completion_tokens"\s*:\s*(\d+)/.exec(seg);
  if (!p && !c) return undefined;
  return { inputTokens: p ? Number(p[1]) : 0, outputTokens: c ? Number(c[1]) : 0 };
}
