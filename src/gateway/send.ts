/**
 * One chat request through the real `openai` client, with the seed playbook's retries
 * (429 honouring Retry-After, 5xx, timeouts; never 401/403/404/400), reduced to a metric-only Outcome.
 */
import type OpenAI from 'openai';
import type { Outcome } from '../decision/arm-stats';
import { checkOutput, type Expectation } from '../checks/expect';
import { classifyError, describeError, isRetryable, retryAfterMs } from './errors';
import { sleep, type TokenBucket } from './rate-limit';

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
}

export type PriceFn = (model: string, usage: { inputTokens: number; outputTokens: number }) => number;

export async function sendChat(
  client: OpenAI,
  call: ChatCall,
  opts: { retry: RetryPolicy; limiter?: TokenBucket; signal?: AbortSignal; price?: PriceFn },
): Promise<SendResult> {
  let attempt = 0;
  const retried: Outcome[] = [];
  for (;;) {
    attempt++;
    await opts.limiter?.acquire(opts.signal);
    const started = performance.now();
    try {
      const res = await client.chat.completions.create(
        {
          model: call.model,
          messages: call.messages,
          max_tokens: call.maxTokens,
          temperature: call.temperature,
        },
        { signal: opts.signal },
      );
      const latencyMs = performance.now() - started;
      const inputTokens = res.usage?.prompt_tokens ?? 0;
      const outputTokens = res.usage?.completion_tokens ?? 0;
      const content = res.choices?.[0]?.message?.content ?? '';
      const outcome: Outcome = {
        ok: true,
        latencyMs,
        inputTokens,
        outputTokens,
        costUsd: opts.price?.(call.model, { inputTokens, outputTokens }) ?? 0,
      };
      if (call.expect) {
        const check = checkOutput(call.expect, content);
        outcome.check = { passed: check.passed };
      }
      return { outcome, attempts: attempt, retried };
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const latencyMs = performance.now() - started;
      const errorClass = classifyError(err);
      const failed: Outcome = { ok: false, errorClass, latencyMs, inputTokens: 0, outputTokens: 0, costUsd: 0 };
      if (!isRetryable(errorClass) || attempt >= opts.retry.attempts) {
        return { outcome: failed, attempts: attempt, retried, error: describeError(err) };
      }
      retried.push(failed);
      const backoff = Math.min(opts.retry.maxBackoffMs, opts.retry.minBackoffMs * 2 ** (attempt - 1));
      const wait = errorClass === 'rate_limited' ? Math.max(retryAfterMs(err) ?? backoff, 0) : backoff;
      await sleep(Math.min(wait, 60_000), opts.signal);
    }
  }
}
