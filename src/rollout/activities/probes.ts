/**
 * One activity per probe round: `pairs` probe pairs, each one prompt sent to blue and green at the same
 * moment (the pair takes a token from each arm's rate limiter first, then both requests go out together),
 * through the real `openai` client, within the spec's concurrency. So an outage, gateway load or a rate
 * limit hits both arms of a pair alike. Returns numbers only — per-pair outcome codes, latencies, tokens,
 * cost, check results (src/decision/paired.ts ProbeRound) — never prompts or model output.
 * Progress is heartbeated, so a round retried after a worker crash resumes where it stopped: no pair is
 * sent or counted twice.
 * With guards.judge, `samplePercent` of the pairs both arms answered are graded by the judge model (blind,
 * the two answers in an order drawn per pair): the answers' texts live only in this call's memory.
 */
import { setMaxListeners } from 'node:events';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import pLimit from 'p-limit';
import type OpenAI from 'openai';
import { loadCatalog } from '../../catalog/load';
import { estimateCostUsd, isPriced, type Catalog } from '../../catalog/prices';
import { CheckCannotRun } from '../../checks/expect';
import type { Outcome } from '../../decision/arm-stats';
import {
  JUDGE_CODES,
  NOT_ASKED,
  OUTCOME_CODES,
  emptyColumns,
  pushSide,
  type ArmColumns,
  type PairSide,
  type ProbeRound,
} from '../../decision/paired';
import { GatewayConfigError, gatewayClient, resolveGateway } from '../../gateway/client';
import { limiterFor, sleep, type TokenBucket } from '../../gateway/rate-limit';
import { sendChat, type PriceFn, type RetryPolicy, type SendResult } from '../../gateway/send';
import { judgePair, type JudgeCall, type JudgeInput, type JudgeResult } from '../../shadow/judge';
import { mulberry32 } from '../../stats/rng';
import type { ArmRef, ProbeRoundInput, ProbeRoundResult } from '../contract';

/** Prices from MODELSHIFT_CATALOG (a catalog override file) or the built-in catalog, loaded once per worker. */
let catalog: Catalog | undefined;
const prices = (): Catalog => (catalog ??= loadCatalog(process.env.MODELSHIFT_CATALOG || undefined));
const price: PriceFn = (model, usage) => estimateCostUsd(prices(), model, usage);

type Arm = 'blue' | 'green';
type Side = PairSide;

interface Progress {
  /** per pair index: both sides once the pair is done, and the judge's code (JUDGE_CODES, NOT_ASKED) */
  done: Record<number, { blue: Side; green: Side; judge?: number }>;
  lastError: { blue?: string; green?: string; judge?: string };
  /** the judge's spend so far in this round, micro-dollars */
  judgeMicroUsd?: number;
}

function side(res: SendResult): Side {
  const o: Outcome = res.outcome;
  const cls = o.ok ? 'ok' : (o.errorClass ?? 'server');
  return {
    code: Math.max(0, OUTCOME_CODES.indexOf(cls as (typeof OUTCOME_CODES)[number])),
    ms: o.ok || cls === 'check_failed' ? Math.round(o.latencyMs) : 0,
    microUsd: Math.round(o.costUsd * 1e6),
    inputTokens: o.inputTokens,
    outputTokens: o.outputTokens,
    check: o.check ? (o.check.passed ? 1 : 0) : -1,
    retriedFailures: res.retried.filter((r) => r.errorClass !== 'rate_limited').length,
  };
}

function columns(done: Progress['done'], count: number, arm: Arm): ArmColumns {
  const c = emptyColumns();
  for (let i = 0; i < count; i++) pushSide(c, done[i][arm]);
  return c;
}

function clientFor(input: ProbeRoundInput, arm: ArmRef, which: Arm | 'judge'): { client: OpenAI; limiter: TokenBucket } {
  try {
    const client = gatewayClient(arm, { timeoutMs: input.request.timeoutMs });
    return { client, limiter: limiterFor(resolveGateway(arm).baseURL, arm.model, input.requestsPerMinute) };
  } catch (err) {
    if (err instanceof GatewayConfigError) throw ApplicationFailure.nonRetryable(`${which}: ${err.message}`, 'GatewayConfig');
    throw err;
  }
}

/** A pair whose judge call was under way when the round last heartbeated (resumed after a crash: no verdict). */
const JUDGE_PENDING = -2;

/** The judge's call with the spec's retries for what a retry can fix (an unreadable verdict is not retried); every attempt's spend booked. */
async function judgeWithRetry(
  call: JudgeCall & { signal: AbortSignal },
  limiter: TokenBucket,
  retry: RetryPolicy,
  jin: JudgeInput,
): Promise<JudgeResult> {
  let microUsd = 0;
  for (let attempt = 1; ; attempt++) {
    await limiter.acquire(call.signal);
    const r = await judgePair(call, jin);
    microUsd += r.microUsd;
    if (!r.failure || r.failure === 'unreadable' || attempt >= retry.attempts || call.signal.aborted) return { ...r, microUsd };
    await sleep(Math.min(retry.maxBackoffMs, retry.minBackoffMs * 2 ** (attempt - 1)), call.signal);
  }
}

/** Per pair, from the round and the pair's index: is it judged (of samplePercent), and the order of its answers. */
function judgeDraws(input: ProbeRoundInput, i: number): { picked: boolean; seed: number } {
  const rng = mulberry32((Math.imul(input.round + 1, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0);
  return { picked: rng() * 100 < (input.judge?.samplePercent ?? 0), seed: Math.floor(rng() * 2 ** 31) };
}

export async function runProbeRound(input: ProbeRoundInput): Promise<ProbeRoundResult> {
  const ctx = Context.current();
  const started = Date.now();
  const progress: Progress = (ctx.info.heartbeatDetails as Progress | undefined) ?? { done: {}, lastError: {} };
  const already = Object.keys(progress.done).length;
  if (already) ctx.log.info('resuming probe round', { done: already, of: input.pairs });
  const arms = { blue: clientFor(input, input.blue, 'blue'), green: clientFor(input, input.green, 'green') };
  const judge = input.judge && clientFor(input, input.judge, 'judge');
  const limit = pLimit(input.concurrency);
  const signal = ctx.cancellationSignal;
  setMaxListeners(2 * input.concurrency + 16, signal); // one listener per request in flight

  const probe = async (i: number) => {
    if (progress.done[i] || signal.aborted) return;
    const prompt = input.prompts[(input.promptOffset + i) % input.prompts.length];
    const draw = judge && judgeDraws(input, i);
    // Both tokens first, then both requests at once: the pair sees the gateway at the same moment.
    await Promise.all([arms.blue.limiter.acquire(signal), arms.green.limiter.acquire(signal)]);
    const send = (arm: Arm) =>
      sendChat(
        arms[arm].client,
        {
          model: input[arm].model,
          messages: prompt.messages,
          maxTokens: input.request.maxTokens,
          temperature: input.request.temperature,
          expect: prompt.expect,
          keepText: draw?.picked === true,
        },
        { retry: input.retry, signal, price, limiter: arms[arm].limiter, firstTokenTaken: true },
      );
    const [blue, green] = await Promise.all([send('blue'), send('green')]);
    if (progress.done[i]) return;
    if (blue.error) progress.lastError.blue = blue.error;
    if (green.error) progress.lastError.green = green.error;
    const ask = judge !== undefined && draw?.picked === true && blue.outcome.ok && green.outcome.ok && !signal.aborted;
    // The pair is done (and heartbeated) before the judge is asked: a crash during the judge's call never
    // sends the pair to the arms again; its judge code is then 'none' (JUDGE_PENDING on resume).
    const done: Progress['done'][number] = {
      blue: side(blue),
      green: side(green),
      ...(judge ? { judge: ask ? JUDGE_PENDING : NOT_ASKED } : {}),
    };
    progress.done[i] = done;
    if (!ask) return;
    const call = { client: judge.client, model: input.judge!.model, cost: price, signal };
    const r = await judgeWithRetry(call, judge.limiter, input.retry, {
      messages: prompt.messages,
      blue: blue.text ?? '',
      green: green.text ?? '',
      rubric: input.judge!.rubric,
      seed: draw.seed,
    });
    done.judge = r.code;
    progress.judgeMicroUsd = (progress.judgeMicroUsd ?? 0) + r.microUsd;
    if (r.failure) progress.lastError.judge = `the judge ${input.judge!.model} gave no verdict: ${r.failure}`;
  };

  const heartbeat = setInterval(() => ctx.heartbeat(structuredClone(progress)), 1000);
  try {
    await Promise.all(Array.from({ length: input.pairs }, (_, i) => limit(() => probe(i))));
  } catch (err) {
    // Cancelled (pause, abort, promote): report a cancellation, not whatever a request threw.
    if (signal.aborted) throw signal.reason ?? new CancelledFailure('probe round cancelled');
    // A golden check that cannot run is the spec's problem, never green's: no retry, no verdict.
    if (err instanceof CheckCannotRun) throw ApplicationFailure.nonRetryable(`a golden check cannot run: ${err.message}`, 'BadCheck');
    throw err;
  } finally {
    clearInterval(heartbeat);
  }
  if (signal.aborted) throw signal.reason ?? new CancelledFailure('probe round cancelled');
  const round: ProbeRound = {
    prompt: Array.from({ length: input.pairs }, (_, i) => (input.promptOffset + i) % input.prompts.length),
    blue: columns(progress.done, input.pairs, 'blue'),
    green: columns(progress.done, input.pairs, 'green'),
  };
  if (judge) {
    round.judge = Array.from({ length: input.pairs }, (_, i) => {
      const code = progress.done[i].judge ?? NOT_ASKED;
      return code === JUDGE_PENDING ? JUDGE_CODES.indexOf('none') : code;
    });
    round.judgeMicroUsd = progress.judgeMicroUsd ?? 0;
  }
  const unpriced = { blue: !isPriced(prices(), input.blue.model), green: !isPriced(prices(), input.green.model) };
  if (unpriced.blue || unpriced.green) round.unpriced = unpriced;
  const lastError = Object.keys(progress.lastError).length ? progress.lastError : undefined;
  return { round, lastError, durationMs: Date.now() - started };
}
