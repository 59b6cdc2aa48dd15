/**
 * Live outcomes → the rollout's verdict. Outcomes are aggregated per target and arm in memory and
 * sent as one batch per target per interval (never one message per request), at most one send in
 * flight per target. A batch that fails to send is retried with the same batchId and the same contents
 * on a later tick (it may have arrived: the workflow drops duplicates by id). Intervals sealed while a
 * target's batch cannot be sent are merged into ONE new batch (one id), so after an outage each target
 * has at most two batches to send — the one in doubt and the merged rest — sent one after the other.
 */
import { randomUUID } from 'node:crypto';
import type { Arm } from './assign';
import type { ShadowBatch } from '../shadow/contract';
import { emptyLive, mergeLive, recordLive, type LiveArmStats, type Outcome } from './live-stats';
import { drainQueue } from './send-queue';

export interface LiveBatch {
  batchId: string;
  blue: LiveArmStats;
  green: LiveArmStats;
}

export interface LiveReporter {
  report(target: string, batch: LiveBatch): Promise<void>;
  /** the shadow phase's pairs (src/shadow/batch.ts): one ShadowBatch per target and interval */
  reportShadow?(target: string, batch: ShadowBatch): Promise<void>;
  close?(): Promise<void>;
}

interface Pending {
  target: string;
  batch: LiveBatch;
  attempts: number;
}

export interface LiveAggregatorOptions {
  reporter: LiveReporter | undefined;
  intervalMs: number;
  /** only targets for which this returns true are reported (e.g. those with an open rollout) */
  shouldReport?: (target: string) => boolean;
  routerId?: string;
  /** give up on a batch after this many failed sends (default 60: 5 minutes at the default 5 s interval) */
  maxAttempts?: number;
  /** keep at most this many unsent batches (oldest dropped; at most two per target are ever kept) */
  maxPending?: number;
  onSent?: (target: string, batch: LiveBatch) => void;
  onError?: (target: string, err: Error, dropped: boolean) => void;
}

export class LiveAggregator {
  private current = new Map<string, { blue: LiveArmStats; green: LiveArmStats }>();
  /** per target, oldest first: [a batch already tried (contents fixed)?, the merge of every interval since (never tried)?] */
  private pending = new Map<string, Pending[]>();
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  readonly routerId: string;

  constructor(private readonly o: LiveAggregatorOptions) {
    this.routerId = o.routerId ?? randomUUID().slice(0, 8);
  }

  start(): void {
    if (this.timer || !this.o.reporter) return;
    this.timer = setInterval(() => void this.flush(), this.o.intervalMs);
    this.timer.unref();
  }

  record(target: string, arm: Arm, outcome: Outcome): void {
    let t = this.current.get(target);
    if (!t) {
      t = { blue: emptyLive(), green: emptyLive() };
      this.current.set(target, t);
    }
    recordLive(t[arm], outcome);
  }

  /**
   * Add outcomes aggregated elsewhere (a cluster worker's sealed interval) to the current interval, so
   * they go out in this aggregator's next batch: one batch per target and interval for the whole cluster.
   */
  merge(target: string, arms: { blue: LiveArmStats; green: LiveArmStats }): void {
    const t = this.current.get(target);
    this.current.set(target, t ? { blue: mergeLive(t.blue, arms.blue), green: mergeLive(t.green, arms.green) } : { ...arms });
  }

  /** The not-yet-sealed aggregate of a target (for tests and /healthz). */
  peek(target: string): { blue: LiveArmStats; green: LiveArmStats } | undefined {
    return this.current.get(target);
  }

  /** Seal the current interval into one batch per target, then send everything pending. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.doFlush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Batches waiting to be sent (for tests and tooling). */
  pendingCount(target?: string): number {
    if (target !== undefined) return this.pending.get(target)?.length ?? 0;
    let n = 0;
    for (const q of this.pending.values()) n += q.length;
    return n;
  }

  private async doFlush(): Promise<void> {
    const sealed = this.current;
    this.current = new Map();
    for (const [target, arms] of sealed) {
      if (arms.blue.requests + arms.green.requests === 0) continue;
      if (this.o.shouldReport && !this.o.shouldReport(target)) continue;
      let q = this.pending.get(target);
      if (!q) this.pending.set(target, (q = []));
      const last = q[q.length - 1];
      if (last && last.attempts === 0) {
        // not sent yet: this interval joins it (same id: it has never been seen by the workflow)
        last.batch = {
          batchId: last.batch.batchId,
          blue: mergeLive(last.batch.blue, arms.blue),
          green: mergeLive(last.batch.green, arms.green),
        };
      } else {
        this.seq++;
        q.push({ target, attempts: 0, batch: { batchId: `${this.routerId}-${target}-${this.seq}-${Date.now()}`, ...arms } });
      }
    }
    const max = this.o.maxPending ?? 1000;
    for (let n = this.pendingCount(); n > max; n--) {
      const [target, q] = this.pending.entries().next().value as [string, Pending[]];
      q.shift();
      if (q.length === 0) this.pending.delete(target);
      this.o.onError?.(target, new Error('too many unsent live batches'), true);
    }
    const reporter = this.o.reporter;
    if (!reporter) {
      this.pending.clear();
      return;
    }
    // targets in parallel, each target's batches one after the other (stop at the first failure)
    await Promise.all([...this.pending].map(([target, q]) => this.drain(reporter, target, q)));
  }

  private async drain(reporter: LiveReporter, target: string, q: Pending[]): Promise<void> {
    await drainQueue(q, {
      send: (p) => reporter.report(target, p.batch),
      maxAttempts: this.o.maxAttempts ?? 60,
      isPermanent,
      onSent: (p) => this.o.onSent?.(target, p.batch),
      onError: (err, dropped) => this.o.onError?.(target, err, dropped),
    });
    if (q.length === 0 && this.pending.get(target) === q) this.pending.delete(target);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    await this.o.reporter?.close?.();
  }
}

/** Errors that retrying will not fix (the rollout has finished or never existed). */
export function isPermanent(err: Error): boolean {
  return err.name === 'WorkflowNotFoundError' || /not found|already completed|workflow execution already/i.test(err.message);
}
