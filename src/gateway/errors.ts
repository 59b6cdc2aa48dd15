/** Maps openai SDK errors to the domain's error classes and retry rules (the seed's playbook). */
import OpenAI from 'openai';
import type { ErrorClass } from '../decision/arm-stats';

export function classifyError(err: unknown): ErrorClass {
  if (err instanceof OpenAI.APIConnectionTimeoutError) return 'timeout';
  if (err instanceof OpenAI.APIConnectionError) return 'connection';
  if (err instanceof OpenAI.RateLimitError) return 'rate_limited';
  if (err instanceof OpenAI.AuthenticationError || err instanceof OpenAI.PermissionDeniedError) return 'auth';
  if (err instanceof OpenAI.NotFoundError) return 'not_found';
  if (err instanceof OpenAI.APIError) {
    const status = err.status ?? 0;
    if (status >= 500) return 'server';
    if (status === 408) return 'timeout';
    if (status === 0 || status === undefined) return 'connection';
    return 'bad_request';
  }
  if (err instanceof SyntaxError) return 'malformed';
  if (err instanceof Error && err.name === 'AbortError') return 'timeout';
  return 'connection';
}

/** 429, 5xx, timeouts, dropped connections and garbled bodies are retried; 4xx (401/403/404/400) never. */
export function isRetryable(cls: ErrorClass): boolean {
  return cls === 'rate_limited' || cls === 'server' || cls === 'timeout' || cls === 'connection' || cls === 'malformed';
}

/** Retry-After (or retry-after-ms) from an API error, in ms; undefined when absent. */
export function retryAfterMs(err: unknown): number | undefined {
  if (!(err instanceof OpenAI.APIError) || !err.headers) return undefined;
  const h = err.headers as Headers;
  const ms = Number(h.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return ms;
  const raw = h.get('retry-after');
  if (!raw) return undefined;
  const secs = Number(raw);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** `text` with every occurrence of each secret (at least 4 characters) replaced by [redacted]. */
export function scrubSecrets(text: string, secrets: readonly (string | null | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4 && out.includes(s)) out = out.split(s).join('[redacted]');
  return out;
}

/**
 * One line for logs, history and failure messages; never includes a key: the key this call used is
 * scrubbed wherever the gateway quoted it, and anything shaped like an OpenAI key too. At most 300 chars.
 */
export function describeError(err: unknown, secrets: readonly (string | null | undefined)[] = []): string {
  let line: string;
  if (err instanceof OpenAI.APIError) {
    const msg = (err.error as { message?: string } | undefined)?.message ?? err.message;
    line = `${err.status ?? ''} ${msg}`.trim();
  } else line = err instanceof Error ? err.message : String(err);
  return scrubSecrets(line.split('\n')[0], secrets)
    .replace(/sk-[A-Za-z0-9_*-]{6,}/g, 'sk-***')
    .slice(0, 300);
}
