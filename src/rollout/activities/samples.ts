/**
 * One activity per step round: a batch of sample requests through the real `openai` client, routed
 * blue/green by the current ratio, concurrently within the spec's limit and per-model rate limits.
 * Returns per-arm metrics only (never model output). Progress is heartbeated, so a batch retried after
 * a worker crash resumes where it stopped: no sample is counted twice, none is lost.
 */
import { setMaxListeners } from 'node:events';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import pLimit from 'p-limit';
import { emptyArmStats, recordOutcome, type ArmStats } from '../../decision/arm-stats';
import { loadCatalog } from '../../catalog/load';
import { estimateCostUsd, type Catalog } from '../../catalog/prices';
import { GatewayConfigError, gatewayClient, resolveGateway } from '../../gateway/client';
import { limiterFor } from '../../gateway/rate-limit';
import { sendChat, type PriceFn } from '../../gateway/send';
import { mulberry32 } from '../../stats/rng';
import { CheckCannotRun } from '../../checks/expect';
import type { SampleBatchInput, SampleBatchResult } from '../contract';

interface Progress {
  done: number[];
  blue: ArmStats;
  green: ArmStats;
  fallbacksServed: number;
}


/** Prices from MODELSHIFT_CATALOG (a catalog override file) or the built-in catalog, loaded once per worker. */
let catalog: Catalog | undefined;
const price: PriceFn = (model, usage) =>
  estimateCostUsd((catalog ??= loadCatalog(process.env.MODELSHIFT_CATALOG || undefined)), model, usage);

export async function runSampleBatch(input: SampleBatchInput): Promise<SampleBatchResult> {
  const ctx = Context.current();
  const started = Date.now();
  const resumed = ctx.info.heartbeatDetails as Progress | undefined;
  const progress: Progress = resumed ?? { done: [], blue: emptyArmStats(), green: emptyArmStats(), fallbacksServed: 0 };
  const done = new Set(progress.done);
  if (resumed) ctx.log.info('resuming sample batch', { done: done.size, of: input.count });

  const clientFor = (which: 'blue' | 'green') => {
    try {
      return gatewayClient(input[which], { timeoutMs: input.request.timeoutMs });
    } catch (err) {
      if (err instanceof GatewayConfigError) throw ApplicationFailure.nonRetryable(`${which}: ${err.message}`, 'GatewayConfig');
      throw err;
    }
  };
  const blueClient = clientFor('blue');
  const greenClient = clientFor('green');
  const blueLimiter = limiterFor(resolveGateway(input.blue).baseURL, input.blue.model, input.requestsPerMinute);
  const greenLimiter = limiterFor(resolveGateway(input.green).baseURL, input.green.model, input.requestsPerMinute);

  // Route every sample up front from the seed: sample i always goes to the same arm.
  const rand = mulberry32(input.seed);
  const routes = Array.from({ length: input.count }, () => (rand() * 100 < input.greenPercent ? 'green' : 'blue') as 'blue' | 'green');
  const lastError: { blue?: string; green?: string } = {};
  const limit = pLimit(input.concurrency);
  const signal = ctx.cancellationSignal;
  setMaxListeners(input.concurrency + 16, signal); // one listener per request in flight (sendChat links its own signal)

  const heartbeat = setInterval(() => ctx.heartbeat({ ...progress, done: [...done] }), 1000);
  try {
    await Promise.all(
      routes.map((arm, i) =>
        limit(async () => {
          if (done.has(i) || signal.aborted) return;
          const prompt = input.prompts[(input.round * input.count + i) % input.prompts.length];
          const call = {
            model: input[arm].model,
            messages: prompt.messages,
            maxTokens: input.request.maxTokens,
            temperature: input.request.temperature,
            expect: prompt.expect,
          };
          const res = await sendChat(arm === 'green' ? greenClient : blueClient, call, {
            retry: input.retry,
            limiter: arm === 'green' ? greenLimiter : blueLimiter,
            signal,
            price,
          });
          if (res.error) lastError[arm] = res.error;
          let fallbackServed = false;
          if (arm === 'green' && !res.outcome.ok && input.fallback && res.outcome.errorClass !== 'rate_limited') {
            // What a user would get: blue answers. Green's failure is recorded all the same.
            const fb = await sendChat(blueClient, { ...call, model: input.blue.model }, { retry: { ...input.retry, attempts: 1 }, limiter: blueLimiter, signal, price });
            fallbackServed = fb.outcome.ok;
          }
          // Record only whole samples, and only once.
          if (done.has(i)) return;
          // Every failed attempt counts against the arm, even when a retry then succeeded.
          for (const failed of res.retried) progress[arm] = recordOutcome(progress[arm], failed);
          progress[arm] = recordOutcome(progress[arm], res.outcome);
          if (fallbackServed) progress.fallbacksServed++;
          done.add(i);
        }),
      ),
    );
  } catch (err) {
    // Cancelled (pause, abort, promote): report a cancellation, not whatever the request threw.
    if (signal.aborted) throw signal.reason ?? new CancelledFailure('sample batch cancelled');
    // A golden check that cannot run is the spec's problem, never green's: no retry, no verdict.
    if (err instanceof CheckCannotRun) throw ApplicationFailure.nonRetryable(`a golden check cannot run: ${err.message}`, 'BadCheck');
    throw err;
  } finally {
    clearInterval(heartbeat);
  }
  if (signal.aborted) throw signal.reason ?? new CancelledFailure('sample batch cancelled');
  return {
    blue: progress.blue,
    green: progress.green,
    fallbacksServed: progress.fallbacksServed,
    lastError: Object.keys(lastError).length ? lastError : undefined,
    durationMs: Date.now() - started,
  };
}
