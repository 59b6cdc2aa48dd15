/**
 * One chat request through the real `openai` client, with the seed playbook's retries
 * (429 honouring Retry-After, 5xx, timeouts; never 401/403/404/400), reduced to a metric-only Outcome.
 */
import type OpenAI from 'openai';
import type { Outcome } from '../decision/arm-stats';
import { checkOutput, type Expectation } from '../checks/expect';
import { classifyError, describeError, isRetryable, retryAfterMs } from './errors';
import { sleep, type TokenBucket } from './rate-limit';
import { substitution } from './substitution';

export type ChatMessage = { role: 'system' | 'user' | 'assistant'; content: string };

export interface RetryPolicy {
  /** Total tries per request, first included (seed: 3). */
  attempts: number;
  /** Exponential backoff bounds (seed: min 2 s, max 10 s, multiplier 1). */
  minBackoffMs: number;
  maxBackoffMs: number;
}
export const SEED_RETRY: RetryPolicy = { attempts: 3, minBackoffMs: 2000, maxBackoffMs: 10_000 };

export interface ChatCall {
  model: string;
  messages: ChatMessage[];
  maxTokens?: number;
  temperature?: number;
  expect?: Expectation;
  /** Keep the answer's text on the result (in memory, for a judge); never stored or logged. */
  keepText?: boolean;
}

export interface SendResult {
  /** The final attempt's outcome. */
  outcome: Outcome;
  attempts: number;
  /**
   * Outcomes of the earlier attempts that failed and were retried. A caller judging the model counts
   * them: a retry that succeeds must not hide the failure before it (as the seed's fallback did).
   */
  retried: Outcome[];
  /** Only for failures: one key-free line. */
  error?: string;
  /** The answer's text when the call asked to keep it (keepText) and it succeeded. */
  text?: string;
}

export interface SendOptions {
  retry: RetryPolicy;
  /** Paces every attempt, and is told of 429s and successes (it slows down and recovers). */
  limiter?: TokenBucket;
  /** The caller took the first attempt's token itself (a probe pair takes both arms' tokens together). */
  firstTokenTaken?: boolean;
  price?: PriceFn;
}

export type PriceFn = (model: string, usage: { inputTokens: number; outputTokens: number; cachedInputTokens?: number }) => number;

export async function sendChat(client: OpenAI, call: ChatCall, opts: SendOptions & { signal?: AbortSignal }): Promise<SendResult> {
  // One child signal per call: the SDK and our waits listen on it, and the caller's (long-lived)
  // signal gets a single listener, removed when the call ends.
  const child = new AbortController();
  const parent = opts.signal;
  const onAbort = () => child.abort(parent?.reason);
  if (parent?.aborted) onAbort();
  else parent?.addEventListener('abort', onAbort, { once: true });
  try {
    return await attempts(client, call, opts, child.signal);
  } catch (err) {
    // Once cancelled, report the cancellation itself, whatever the SDK threw (APIUserAbortError…).
    if (parent?.aborted) throw parent.reason ?? err;
    throw err;
  } finally {
    parent?.removeEventListener('abort', onAbort);
  }
}

async function attempts(client: OpenAI, call: ChatCall, opts: SendOptions, signal: AbortSignal): Promise<SendResult> {
  let attempt = 0;
  const retried: Outcome[] = [];
  for (;;) {
    attempt++;
    if (attempt > 1 || !opts.firstTokenTaken) await opts.limiter?.acquire(signal);
    const started = performance.now();
    let res: OpenAI.Chat.Completions.ChatCompletion;
    let headers: Headers;
    try {
      const r = await client.chat.completions
        .create({ model: call.model, messages: call.messages, max_tokens: call.maxTokens, temperature: call.temperature }, { signal })
        .withResponse();
      res = r.data;
      headers = r.response.headers;
    } catch (err) {
      if (signal.aborted) throw err;
      const latencyMs = performance.now() - started;
      const errorClass = classifyError(err);
      if (errorClass === 'rate_limited') opts.limiter?.throttled(retryAfterMs(err));
      const failed: Outcome = { ok: false, errorClass, latencyMs, inputTokens: 0, outputTokens: 0, costUsd: 0 };
      if (!isRetryable(errorClass) || attempt >= opts.retry.attempts) {
        return { outcome: failed, attempts: attempt, retried, error: describeError(err, [client.apiKey]) };
      }
      retried.push(failed);
      const backoff = Math.min(opts.retry.maxBackoffMs, opts.retry.minBackoffMs * 2 ** (attempt - 1));
      const wait = errorClass === 'rate_limited' ? Math.max(retryAfterMs(err) ?? backoff, 0) : backoff;
      await sleep(Math.min(wait, 60_000), signal);
      continue;
    }
    // Outside the try: a bug in pricing or checks must surface, not be counted as a gateway error.
    opts.limiter?.succeeded();
    const latencyMs = performance.now() - started;
    const inputTokens = res.usage?.prompt_tokens ?? 0;
    const outputTokens = res.usage?.completion_tokens ?? 0;
    // Gateways that bill a prompt cache report the cached part; it is priced at the cached-input rate.
    const cachedInputTokens = res.usage?.prompt_tokens_details?.cached_tokens ?? 0;
    const costUsd = opts.price?.(call.model, { inputTokens, outputTokens, cachedInputTokens }) ?? 0;
    // Another model answered (a gateway-side fallback): a failure of the model asked for, whatever it said.
    const swapped = substitution(call.model, res.model, (name) => headers.get(name));
    if (swapped) {
      const outcome: Outcome = { ok: false, errorClass: 'substituted', latencyMs, inputTokens, outputTokens, costUsd };
      return { outcome, attempts: attempt, retried, error: `substituted: ${swapped}` };
    }
    const outcome: Outcome = { ok: true, latencyMs, inputTokens, outputTokens, costUsd };
    const content = res.choices?.[0]?.message?.content ?? '';
    if (call.expect) outcome.check = { passed: checkOutput(call.expect, content).passed };
    return { outcome, attempts: attempt, retried, ...(call.keepText ? { text: content } : {}) };
  }
}
