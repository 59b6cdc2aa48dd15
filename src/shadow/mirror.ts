/**
 * The router's side of the shadow phase. While a target's rollout is in phase `shadow`, every user is
 * answered by blue as usual; for `percent` of the target's requests the router keeps blue's answer as it
 * passes to the user (an AnswerTap on blue's attempt: the bytes already read, never an extra wait) and,
 * once the user has it, sends the same request to green — the same body with green's model, through the
 * same upstream pool and the same chat-completions path the router calls blue with. Off the user's
 * path: a bounded queue (full → the mirror is dropped, never the user) and a bounded number of mirrors
 * in flight (so mirrors can hold at most that many of the pool's connections).
 *
 * The two answers are compared in memory (compare.ts), optionally graded by the judge (judge.ts; blind,
 * in an order drawn per pair) and discarded; only the pair's numbers go on, to the batcher (batch.ts),
 * which sends one ShadowBatch per target and interval. Prompts and answers are never logged or stored:
 * log lines carry a target, counts and error classes only.
 *
 * Not mirrored (counted `skipped`): requests with SHADOW_OPT_OUT_HEADER, and users or paths the target's
 * config excludes. Nothing new is mirrored once the rollout sets `shadow.stopped` (green's spend reached
 * its cap, or the phase has its pairs) or leaves the phase; mirrors still queued then are discarded.
 */
import { randomInt } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import OpenAI from 'openai';
import { fetch as undiciFetch, type Dispatcher } from 'undici';
import { JUDGE_CODES, type OutcomeCode } from '../decision/paired';
import type { ArmRef } from '../gateway/arm';
import { headerLookup, modelInText, substitution } from '../gateway/substitution';
import { classifyNetworkError, classifyStatus, type AnswerTap } from '../router/attempt';
import { replaceModel } from '../router/body';
import type { Outcome } from '../router/live-stats';
import type { RouterMetrics } from '../router/metrics';
import type { RouterLogger } from '../router/options';
import { ArmProblem } from '../router/policy';
import type { ResolvedArm } from '../router/upstreams';
import { answerText, pairRow, readAnswer, requestShape, type ArmResult, type PriceFn, type RequestShape } from './compare';
import { SHADOW_OPT_OUT_HEADER } from './contract';
import { judgePair } from './judge';
import type { ShadowBatcher } from './batch';
import type { ShadowJudgeRef, ShadowOrders } from './orders';

const UPSTREAM_PATH = '/chat/completions';
const NOT_JUDGED = JUDGE_CODES.indexOf('none');

/** How the router mirrors (RouterOptions.shadow). */
export interface ShadowOptions {
  /** mirrors waiting for a slot; beyond it a mirror is dropped (default 256) */
  queueSize?: number;
  /** the request and answer texts the waiting mirrors hold, at most (default 64 MiB); beyond it a mirror is dropped */
  maxQueueBytes?: number;
  /** mirrors in flight at once, judge calls included (default 8) */
  concurrency?: number;
  /** the largest answer (blue's as captured, green's as read) compared; a larger one drops the mirror (default 4 MiB) */
  maxAnswerBytes?: number;
  /** green's call, and the judge's, end after this long (default 120,000 ms) */
  timeoutMs?: number;
  /** the judge when the rollout's status names none (its `shadow.judge` wins) */
  judge?: ShadowJudgeRef;
}

/** A target's exclusions (RouterOptions.targets.<t>.shadow). */
export interface TargetShadowConfig {
  /** users never mirrored: exact names, or a prefix ending in `*` */
  excludeUsers?: readonly string[];
  /** request URLs never mirrored: prefixes of the path and query as the client sent them */
  excludePaths?: readonly string[];
}

/** A target in its shadow phase, mirroring: its orders and green's arm. */
export interface ActiveShadow {
  orders: ShadowOrders;
  green: ArmRef;
}

/** What the mirror needs of the router. */
export interface MirrorHost {
  /** the target's shadow orders while it mirrors (phase `shadow`, not stopped, a green), else undefined */
  active(target: string): ActiveShadow | undefined;
  /** an arm's upstream and key, or why the policy refuses it */
  resolve(ref: ArmRef): ResolvedArm | ArmProblem;
  price: PriceFn;
  /** whether the price catalog knows the model (default: every model) */
  priced?: (model: string) => boolean;
  exclusions(target: string): TargetShadowConfig | undefined;
  metrics: RouterMetrics;
  log: RouterLogger;
  random: () => number;
  batcher: ShadowBatcher;
}

/** The request as the mirror needs it (the client's body text and its parse, from handlers/chat.ts). */
export interface MirroredRequest {
  raw: string;
  body: Record<string, unknown>;
  user: string | undefined;
}

interface Job {
  target: string;
  request: MirroredRequest;
  accept: string;
  shape: RequestShape;
  blue: ArmResult;
  /** the texts it holds (request body, blue's answer), for the queue's byte budget */
  bytes: number;
}

const optedOut = (v: string | string[] | undefined) => {
  const s = (Array.isArray(v) ? v[0] : v)?.trim().toLowerCase();
  return s !== undefined && s !== '0' && s !== 'false';
};

function excluded(cfg: TargetShadowConfig | undefined, user: string | undefined, url: string): boolean {
  if (!cfg) return false;
  if (user !== undefined && cfg.excludeUsers?.some((u) => (u.endsWith('*') ? user.startsWith(u.slice(0, -1)) : u === user))) return true;
  return !!cfg.excludePaths?.some((p) => url.startsWith(p));
}

/** Blue's answer as it passes (bounded), then the mirror once blue's outcome is known. */
class Capture implements AnswerTap {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private over = false;

  constructor(
    private readonly onEnd: (chunks: Buffer[] | undefined, outcome: Outcome) => void,
    private readonly max: number,
  ) {}

  data(chunk: Buffer): void {
    if (this.over) return;
    this.bytes += chunk.length;
    if (this.bytes > this.max) {
      this.over = true;
      this.chunks = [];
    } else this.chunks.push(chunk);
  }

  end(_status: number | string, outcome: Outcome): void {
    const chunks = this.over ? undefined : this.chunks;
    this.chunks = [];
    this.onEnd(chunks, outcome);
  }
}

export class ShadowMirror {
  private readonly queue: Job[] = [];
  private queuedBytes = 0;
  /** blue answers captured whose mirror is not queued yet (a turn later) */
  private settling = 0;
  private inFlight = 0;
  private closed = false;
  private readonly abort = new AbortController();
  private readonly idle = new Set<() => void>();
  private readonly judges = new Map<string, OpenAI>();
  private readonly logged = new Set<string>();
  private readonly queueSize: number;
  private readonly maxQueueBytes: number;
  private readonly concurrency: number;
  private readonly maxBytes: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly host: MirrorHost,
    private readonly o: ShadowOptions = {},
  ) {
    this.queueSize = o.queueSize ?? 256;
    this.maxQueueBytes = o.maxQueueBytes ?? 64 * 1024 * 1024;
    this.concurrency = Math.max(1, o.concurrency ?? 8);
    this.maxBytes = o.maxAnswerBytes ?? 4 * 1024 * 1024;
    this.timeoutMs = o.timeoutMs ?? 120_000;
  }

  /** Mirrors waiting and in flight (for /healthz and tests). */
  get load(): { queued: number; inFlight: number } {
    return { queued: this.queue.length + this.settling, inFlight: this.inFlight };
  }

  /**
   * Before blue is called: a tap for blue's attempt when this request is to be mirrored, else undefined.
   * A request drawn for a mirror but opted out or excluded is counted `skipped`.
   */
  select(target: string, blueModel: string, req: IncomingMessage, request: MirroredRequest): AnswerTap | undefined {
    if (this.closed) return undefined;
    const active = this.host.active(target);
    if (!active || !(this.host.random() * 100 < active.orders.percent)) return undefined;
    const optOut = optedOut(req.headers[SHADOW_OPT_OUT_HEADER]);
    if (optOut || excluded(this.host.exclusions(target), request.user, req.url ?? '')) {
      this.count(target, 'skipped', optOut ? 'skipped_opt_out' : 'skipped_excluded');
      return undefined;
    }
    const accept = (req.headers.accept as string | undefined) ?? 'application/json';
    return new Capture((chunks, outcome) => {
      // called as the attempt records blue's outcome: the answer is read on a later turn, not on the user's
      this.settling++;
      setImmediate(() => {
        this.settling--;
        this.blueAnswered(target, blueModel, request, accept, chunks && Buffer.concat(chunks).toString('utf8'), outcome);
      });
    }, this.maxBytes);
  }

  private count(target: string, kind: 'dropped' | 'skipped', result: string): void {
    this.host.batcher.count(target, kind);
    this.host.metrics.shadowRequests.labels(target, result).inc();
  }

  /** Blue is done and the user has the answer: queue the mirror (or drop it), never wait for it. */
  private blueAnswered(
    target: string,
    blueModel: string,
    request: MirroredRequest,
    accept: string,
    text: string | undefined,
    outcome: Outcome,
  ): void {
    if (this.closed) return;
    if (outcome.ok && text === undefined) return this.count(target, 'dropped', 'dropped_too_large');
    const bytes = request.raw.length + (text?.length ?? 0);
    if (this.queue.length >= this.queueSize || this.queuedBytes + bytes > this.maxQueueBytes)
      return this.count(target, 'dropped', 'dropped_queue_full');
    const answer = outcome.ok && text !== undefined ? readAnswer(text) : undefined;
    const code: OutcomeCode = outcome.ok ? (answer ? 'ok' : 'malformed') : (outcome.errorClass ?? 'server');
    const blue: ArmResult = { model: blueModel, code, latencyMs: outcome.latencyMs, answer };
    this.queue.push({ target, request, accept, shape: requestShape(request.body), blue, bytes });
    this.queuedBytes += bytes;
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.inFlight < this.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.queuedBytes -= job.bytes;
      this.inFlight++;
      void this.run(job)
        .catch((err: Error) => this.logOnce(job.target, 'mirror failed', err.name))
        .finally(() => {
          this.inFlight--;
          if (this.inFlight === 0) for (const done of this.idle) done();
          this.pump();
        });
    }
  }

  private async run(job: Job): Promise<void> {
    const active = this.host.active(job.target);
    if (!active) return; // stopped, or the phase ended, while it waited: discarded
    const { target } = job;
    this.host.metrics.shadowRequests.labels(target, 'mirrored').inc();
    const green = await this.callGreen(job, active.green);
    if (!green) return this.count(target, 'dropped', 'dropped_too_large');
    const row = pairRow(job.shape, job.blue, green, this.host.price);
    const judged = await this.maybeJudge(job, active, green);
    const priced = this.host.priced ?? (() => true);
    const unpriced = { blue: !priced(job.blue.model) || undefined, green: !priced(green.model) || undefined };
    this.host.batcher.add(target, { ...row, judge: judged.code }, judged.microUsd, unpriced);
    if (row.green.microUsd > 0) this.host.metrics.shadowSpend.labels(target, 'green').inc(row.green.microUsd / 1e6);
    if (judged.microUsd > 0) this.host.metrics.shadowSpend.labels(target, 'judge').inc(judged.microUsd / 1e6);
  }

  /** The same request to green, read whole; undefined when green's answer is too large to compare. */
  private async callGreen(job: Job, ref: ArmRef): Promise<ArmResult | undefined> {
    const arm = this.host.resolve(ref);
    if (arm instanceof ArmProblem) return { model: ref.model, code: arm.code === 'no_upstream' ? 'connection' : 'auth', latencyMs: 0 };
    const t0 = performance.now();
    const fail = (code: OutcomeCode): ArmResult => ({ model: arm.model, code, latencyMs: performance.now() - t0 });
    let r: Dispatcher.ResponseData;
    try {
      r = await arm.up.pool.request({
        path: arm.up.basePath + UPSTREAM_PATH,
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: job.accept, authorization: arm.authorization, 'x-modelshift-shadow': '1' },
        body: replaceModel(job.request.raw, arm.model, job.request.body),
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
    } catch (err) {
      return fail((err as Error).name === 'TimeoutError' ? 'timeout' : classifyNetworkError(err));
    }
    if (r.statusCode >= 400) {
      await r.body.dump().catch(() => undefined);
      return fail(classifyStatus(r.statusCode));
    }
    let text: string | undefined;
    try {
      text = await this.readCapped(r.body);
    } catch (err) {
      return fail((err as Error).name === 'TimeoutError' ? 'timeout' : classifyNetworkError(err));
    }
    if (text === undefined) return undefined;
    const answer = readAnswer(text);
    if (!answer) return fail('malformed');
    if (substitution(arm.model, answer.model ?? modelInText(text), headerLookup(r.headers))) return fail('substituted');
    return { model: arm.model, code: 'ok', latencyMs: performance.now() - t0, answer };
  }

  private async readCapped(body: Dispatcher.ResponseData['body']): Promise<string | undefined> {
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > this.maxBytes) {
        body.destroy();
        return undefined;
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** The judge's call on a pair both arms answered, for `judgePercent` of them (random order, blind). */
  private async maybeJudge(job: Job, active: ActiveShadow, green: ArmResult): Promise<{ code: number; microUsd: number }> {
    const none = { code: NOT_JUDGED, microUsd: 0 };
    const share = active.orders.judgePercent ?? 0;
    const ref = active.orders.judge ?? this.o.judge;
    if (!ref || !(share > 0) || !job.blue.answer || !green.answer || !(this.host.random() * 100 < share)) return none;
    const client = this.judgeClient(job.target, ref);
    if (!client) return none;
    const r = await judgePair(
      {
        client,
        model: ref.model,
        cost: this.host.price,
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timeoutMs)]),
      },
      {
        messages: job.request.body.messages,
        blue: answerText(job.blue.answer),
        green: answerText(green.answer),
        rubric: ref.rubric,
        seed: randomInt(2 ** 31),
      },
    );
    if (r.failure) this.logOnce(job.target, 'judge gave no verdict', r.failure);
    return { code: r.code, microUsd: r.microUsd };
  }

  /** An `openai` client for the judge, on the judge arm's upstream pool (one per upstream and key). */
  private judgeClient(target: string, ref: ShadowJudgeRef): OpenAI | undefined {
    const arm = this.host.resolve(ref);
    if (arm instanceof ArmProblem) {
      this.logOnce(target, 'judge refused by the key/origin policy', arm.code);
      return undefined;
    }
    const key = `${arm.up.origin}${arm.up.basePath}\u0000${arm.authorization}`;
    let client = this.judges.get(key);
    if (!client) {
      const pool = arm.up.pool;
      client = new OpenAI({
        baseURL: arm.up.origin + arm.up.basePath,
        apiKey: arm.secret || 'none',
        maxRetries: 0,
        timeout: this.timeoutMs,
        fetch: ((url: string, init: object) => undiciFetch(url, { ...init, dispatcher: pool })) as unknown as typeof fetch,
      });
      if (this.judges.size < 16) this.judges.set(key, client);
    }
    return client;
  }

  /** A problem, once per target and kind: never a prompt, an answer or an error text that might quote one. */
  private logOnce(target: string, msg: string, reason: string): void {
    const key = `${target}\u0000${msg}\u0000${reason}`;
    if (this.logged.has(key) || this.logged.size >= 1_000) return;
    this.logged.add(key);
    this.host.log.warn(`shadow: ${msg}`, { target, reason });
  }

  /** Stop taking mirrors, drop the queued ones, give those in flight up to `graceMs`, then abort them; then send the last batches. */
  async close(graceMs = 5_000): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((r) => this.idle.add(r)), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      this.abort.abort();
    }
    await this.host.batcher.close();
  }
}
