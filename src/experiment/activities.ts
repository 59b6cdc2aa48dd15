/**
 * One activity per (round, model): every prompt of the experiment to one model, concurrently up to
 * the model's limit and through the worker-wide per-model rate limiter, via the real `openai` client
 * (src/gateway). Returns metrics only — latencies of successes, error counts by class, token totals —
 * never model output. Progress is heartbeated, so a batch retried after a worker crash resumes and
 * counts no request twice.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import pLimit from 'p-limit';
import { GatewayConfigError, gatewayClient, resolveGateway } from '../gateway/client';
import { limiterFor } from '../gateway/rate-limit';
import { sendChat, SEED_RETRY } from '../gateway/send';
import type { BatchResult, ExperimentBatchInput } from './contract';

export type { ExperimentBatchInput };

interface Progress {
  done: number[];
  result: BatchResult;
}

export async function runExperimentBatch(input: ExperimentBatchInput): Promise<BatchResult> {
  const ctx = Context.current();
  const started = Date.now();
  const { model } = input.target;
  const resumed = ctx.info.heartbeatDetails as Progress | undefined;
  const result: BatchResult = resumed?.result ?? {
    model,
    round: input.round,
    requests: 0,
    latenciesMs: [],
    errors: {},
    inputTokens: 0,
    outputTokens: 0,
    retries: 0,
    durationMs: 0,
  };
  const done = new Set(resumed?.done ?? []);

  let client, baseURL: string;
  try {
    client = gatewayClient(input.target, { timeoutMs: input.timeoutMs });
    baseURL = resolveGateway(input.target).baseURL;
  } catch (err) {
    if (err instanceof GatewayConfigError) throw ApplicationFailure.nonRetryable(`${model}: ${err.message}`, 'GatewayConfig');
    throw err;
  }
  const limiter = input.rpm ? limiterFor(baseURL, model, input.rpm) : undefined;
  const retry = { ...SEED_RETRY, attempts: Math.max(1, input.attempts) };
  const limit = pLimit(Math.max(1, input.concurrency));
  const signal = ctx.cancellationSignal;

  // A snapshot, not a reference: the SDK serialises heartbeats later, and `result` keeps changing,
  // so a live reference could carry requests that `done` does not list (counted twice on resume).
  const beat = () => ctx.heartbeat(structuredClone({ done: [...done], result }) satisfies Progress);
  const ticker = setInterval(beat, 1000);
  try {
    await Promise.all(
      input.prompts.map((p, i) =>
        limit(async () => {
          if (done.has(i) || signal.aborted) return;
          const res = await sendChat(
            client,
            { model, messages: p.messages, maxTokens: input.maxTokens, temperature: input.temperature },
            { retry, limiter, signal },
          );
          if (done.has(i)) return;
          const o = res.outcome;
          result.requests++;
          result.retries += res.attempts - 1;
          if (o.ok) {
            result.latenciesMs.push(Math.round(o.latencyMs * 10) / 10);
            result.inputTokens += o.inputTokens;
            result.outputTokens += o.outputTokens;
          } else {
            const cls = o.errorClass ?? 'unknown';
            result.errors[cls] = (result.errors[cls] ?? 0) + 1;
            if (res.error) result.lastError = `${cls}: ${res.error}`.slice(0, 300);
          }
          done.add(i);
        }),
      ),
    );
  } finally {
    clearInterval(ticker);
  }
  if (signal.aborted) throw signal.reason ?? new Error('cancelled');
  result.durationMs = Date.now() - started;
  return result;
}
