/**
 * Shadow pairs → `shadowMetrics` signals. Per target, the pairs since the last report are kept as
 * numbers only (ProbeRound rows) — at most MAX_SHADOW_PAIRS_PER_BATCH of them, a uniform sample
 * (reservoir) beyond that — with the mirrors dropped and skipped and the judge's spend, and go out as
 * one ShadowBatch per target and interval. As for live batches (src/router/reporter.ts): at most one
 * send in flight per target, a failed send is retried with the same batchId and contents (the workflow
 * counts an id once), and intervals sealed while a batch is in doubt are merged into one new batch.
 */
import { randomUUID } from 'node:crypto';
import {
  emptyColumns,
  JUDGE_CODES,
  OUTPUT_CHECKS,
  pushSide,
  type ArmColumns,
  type OutputColumns,
  type ProbeRound,
} from '../decision/paired';
import type { PairRow, Side } from './compare';
import { MAX_SHADOW_PAIRS_PER_BATCH, type SampledOut, type ShadowBatch } from './contract';
import { drainQueue } from '../router/send-queue';

/** One pair as the batch keeps it: its row and the judge's call (a JUDGE_CODES index; 'none' when not judged). */
export interface ShadowPair extends PairRow {
  judge: number;
}

type Unpriced = NonNullable<ProbeRound['unpriced']>;

interface Interval {
  pairs: ShadowPair[];
  /** pairs offered to the reservoir (pairs.length once below the cap) */
  seen: number;
  dropped: number;
  skipped: number;
  judgeMicroUsd: number;
  unpriced: Unpriced;
  /** pairs the reservoir left out, with their spend (booked, not judged) */
  sampledOut: SampledOut;
}

const emptyInterval = (): Interval => ({
  pairs: [],
  seen: 0,
  dropped: 0,
  skipped: 0,
  judgeMicroUsd: 0,
  unpriced: {},
  sampledOut: { pairs: 0, greenMicroUsd: 0, blueMicroUsd: 0 },
});

function addSampledOut(to: SampledOut, from: SampledOut | undefined): void {
  if (!from) return;
  to.pairs += from.pairs;
  to.greenMicroUsd += from.greenMicroUsd;
  to.blueMicroUsd += from.blueMicroUsd;
}
const NOT_JUDGED = JUDGE_CODES.indexOf('none');

/** Reservoir sampling: every pair offered has the same chance to be among the `max` kept; the one left out is booked. */
function offer(i: Interval, pair: ShadowPair, random: () => number, max: number): void {
  i.seen++;
  if (i.pairs.length < max) return void i.pairs.push(pair);
  const j = Math.floor(random() * i.seen);
  const out = j < max ? i.pairs[j] : pair;
  if (j < max) i.pairs[j] = pair;
  addSampledOut(i.sampledOut, { pairs: 1, greenMicroUsd: out.green.microUsd, blueMicroUsd: out.blue.microUsd });
}

/** The pairs as a ProbeRound: prompt index 0 throughout, the output checks that applied to any pair, the judge when it judged any. */
export function roundOf(pairs: readonly ShadowPair[], judgeMicroUsd = 0, unpriced: Unpriced = {}): ProbeRound {
  const round: ProbeRound = { prompt: pairs.map(() => 0), blue: emptyColumns(), green: emptyColumns() };
  const output: OutputColumns = {};
  for (const check of OUTPUT_CHECKS)
    if (pairs.some((p) => p.output[check].blue !== -1 || p.output[check].green !== -1))
      output[check] = { blue: pairs.map((p) => p.output[check].blue), green: pairs.map((p) => p.output[check].green) };
  for (const p of pairs) {
    pushSide(round.blue, p.blue);
    pushSide(round.green, p.green);
  }
  if (Object.keys(output).length) round.output = output;
  if (pairs.some((p) => p.judge !== NOT_JUDGED)) round.judge = pairs.map((p) => p.judge);
  if (judgeMicroUsd > 0) round.judgeMicroUsd = judgeMicroUsd;
  if (unpriced.blue || unpriced.green) round.unpriced = { ...unpriced };
  return round;
}

const sideAt = (c: ArmColumns, i: number): Side => ({
  code: c.code[i] ?? 0,
  ms: c.ms[i] ?? 0,
  microUsd: c.microUsd[i] ?? 0,
  inputTokens: c.inputTokens[i] ?? 0,
  outputTokens: c.outputTokens[i] ?? 0,
  check: c.check[i] ?? -1,
  retriedFailures: c.retriedFailures[i] ?? 0,
});

/** A round's pairs back as rows (to merge a cluster worker's batch into the primary's). */
export function pairsOf(round: ProbeRound): ShadowPair[] {
  return round.prompt.map((_, i) => {
    const output = {} as ShadowPair['output'];
    for (const check of OUTPUT_CHECKS)
      output[check] = { blue: round.output?.[check]?.blue[i] ?? -1, green: round.output?.[check]?.green[i] ?? -1 };
    return { blue: sideAt(round.blue, i), green: sideAt(round.green, i), output, judge: round.judge?.[i] ?? NOT_JUDGED };
  });
}

export type ShadowReport = (target: string, batch: ShadowBatch) => Promise<void>;

export interface ShadowBatcherOptions {
  /** where batches go (undefined: nowhere — the pairs are counted and discarded) */
  report: ShadowReport | undefined;
  intervalMs: number;
  routerId?: string;
  random?: () => number;
  /** give up on a batch after this many failed sends (default 60) */
  maxAttempts?: number;
  maxPairs?: number;
  onSent?: (target: string, batch: ShadowBatch) => void;
  onError?: (target: string, err: Error, dropped: boolean) => void;
  /** a send failure that retrying will not fix (the rollout has ended) */
  isPermanent?: (err: Error) => boolean;
}

interface Pending {
  batchId: string;
  interval: Interval;
  attempts: number;
}

/** A queued interval as the batch it is sent as (the same id and contents on every attempt). */
function batchOf(p: Pending): ShadowBatch {
  const i = p.interval;
  return {
    batchId: p.batchId,
    round: roundOf(i.pairs, i.judgeMicroUsd, i.unpriced),
    dropped: i.dropped,
    skipped: i.skipped,
    ...(i.sampledOut.pairs > 0 ? { sampledOut: { ...i.sampledOut } } : {}),
  };
}

export class ShadowBatcher {
  private current = new Map<string, Interval>();
  private pending = new Map<string, Pending[]>();
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly random: () => number;
  private readonly max: number;
  readonly routerId: string;

  constructor(private readonly o: ShadowBatcherOptions) {
    this.random = o.random ?? Math.random;
    this.max = o.maxPairs ?? MAX_SHADOW_PAIRS_PER_BATCH;
    this.routerId = o.routerId ?? randomUUID().slice(0, 8);
  }

  start(): void {
    if (this.timer || !this.o.report) return;
    this.timer = setInterval(() => void this.flush(), this.o.intervalMs);
    this.timer.unref();
  }

  private interval(target: string): Interval {
    let i = this.current.get(target);
    if (!i) this.current.set(target, (i = emptyInterval()));
    return i;
  }

  add(target: string, pair: ShadowPair, judgeMicroUsd = 0, unpriced: Unpriced = {}): void {
    const i = this.interval(target);
    offer(i, pair, this.random, this.max);
    i.judgeMicroUsd += judgeMicroUsd;
    if (unpriced.blue) i.unpriced.blue = true;
    if (unpriced.green) i.unpriced.green = true;
  }

  count(target: string, kind: 'dropped' | 'skipped', n = 1): void {
    this.interval(target)[kind] += n;
  }

  /** A batch sealed elsewhere (a cluster worker's) joins the current interval: one batch per target and interval for the host. */
  merge(target: string, batch: ShadowBatch): void {
    const i = this.interval(target);
    for (const p of pairsOf(batch.round)) offer(i, p, this.random, this.max);
    i.dropped += batch.dropped;
    i.skipped += batch.skipped;
    i.judgeMicroUsd += batch.round.judgeMicroUsd ?? 0;
    addSampledOut(i.sampledOut, batch.sampledOut);
    if (batch.round.unpriced?.blue) i.unpriced.blue = true;
    if (batch.round.unpriced?.green) i.unpriced.green = true;
  }

  /** The interval not yet sealed (for tests and /healthz). */
  peek(target: string): { pairs: number; seen: number; dropped: number; skipped: number } | undefined {
    const i = this.current.get(target);
    return i && { pairs: i.pairs.length, seen: i.seen, dropped: i.dropped, skipped: i.skipped };
  }

  pendingCount(): number {
    let n = 0;
    for (const q of this.pending.values()) n += q.length;
    return n;
  }

  flush(): Promise<void> {
    this.flushing ??= this.doFlush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private seal(): void {
    const sealed = this.current;
    this.current = new Map();
    for (const [target, i] of sealed) {
      if (i.seen + i.dropped + i.skipped === 0) continue;
      let q = this.pending.get(target);
      if (!q) this.pending.set(target, (q = []));
      const last = q[q.length - 1];
      if (last && last.attempts === 0) {
        // never sent: this interval joins it (same id, never seen by the workflow)
        for (const p of i.pairs) offer(last.interval, p, this.random, this.max);
        last.interval.dropped += i.dropped;
        last.interval.skipped += i.skipped;
        last.interval.judgeMicroUsd += i.judgeMicroUsd;
        addSampledOut(last.interval.sampledOut, i.sampledOut);
        Object.assign(last.interval.unpriced, i.unpriced);
      } else q.push({ batchId: `${this.routerId}-shadow-${target}-${++this.seq}-${Date.now()}`, interval: i, attempts: 0 });
    }
  }

  private async doFlush(): Promise<void> {
    this.seal();
    const report = this.o.report;
    if (!report) return void this.pending.clear();
    await Promise.all([...this.pending].map(([target, q]) => this.drain(report, target, q)));
  }

  private async drain(report: ShadowReport, target: string, q: Pending[]): Promise<void> {
    await drainQueue(q, {
      send: (p) => report(target, batchOf(p)),
      maxAttempts: this.o.maxAttempts ?? 60,
      isPermanent: (err) => !!this.o.isPermanent?.(err),
      onSent: (p) => this.o.onSent?.(target, batchOf(p)),
      onError: (err, dropped) => this.o.onError?.(target, err, dropped),
    });
    if (q.length === 0 && this.pending.get(target) === q) this.pending.delete(target);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
