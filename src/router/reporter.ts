/**
 * Live outcomes → the rollout's verdict. Outcomes are aggregated per target and arm in memory and
 * sent as one batch per target per interval (never one message per request). A batch that fails to
 * send is retried with the same batchId on the next tick (the workflow drops duplicates).
 */
import { randomUUID } from 'node:crypto';
import type { Arm } from './assign';
import { emptyLive, recordLive, type LiveArmStats, type Outcome } from './live-stats';

export interface LiveBatch {
  batchId: string;
  blue: LiveArmStats;
  green: LiveArmStats;
}

export interface LiveReporter {
  report(target: string, batch: LiveBatch): Promise<void>;
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
  /** give up on a batch after this many failed sends */
  maxAttempts?: number;
  /** keep at most this many unsent batches (oldest dropped) */
  maxPending?: number;
  onSent?: (target: string, batch: LiveBatch) => void;
  onError?: (target: string, err: Error, dropped: boolean) => void;
}

export class LiveAggregator {
  private current = new Map<string, { blue: LiveArmStats; green: LiveArmStats }>();
  private pending: Pending[] = [];
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

  private async doFlush(): Promise<void> {
    const sealed = this.current;
    this.current = new Map();
    for (const [target, arms] of sealed) {
      if (arms.blue.requests + arms.green.requests === 0) continue;
      if (this.o.shouldReport && !this.o.shouldReport(target)) continue;
      this.seq++;
      this.pending.push({ target, attempts: 0, batch: { batchId: `${this.routerId}-${target}-${this.seq}-${Date.now()}`, ...arms } });
    }
    const max = this.o.maxPending ?? 1000;
    while (this.pending.length > max) {
      const d = this.pending.shift()!;
      this.o.onError?.(d.target, new Error('too many unsent live batches'), true);
    }
    const reporter = this.o.reporter;
    if (!reporter) {
      this.pending = [];
      return;
    }
    const todo = this.pending;
    this.pending = [];
    const results = await Promise.all(
      todo.map(async (p) => {
        try {
          await reporter.report(p.target, p.batch);
          this.o.onSent?.(p.target, p.batch);
          return undefined;
        } catch (err) {
          p.attempts++;
          const drop = p.attempts >= (this.o.maxAttempts ?? 5) || isPermanent(err as Error);
          this.o.onError?.(p.target, err as Error, drop);
          return drop ? undefined : p;
        }
      }),
    );
    this.pending = [...results.filter((p): p is Pending => p !== undefined), ...this.pending];
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    await this.o.reporter?.close?.();
  }
}

/** Errors that retrying will not fix (the rollout has finished or never existed). */
function isPermanent(err: Error): boolean {
  return err.name === 'WorkflowNotFoundError' || /not found|already completed|workflow execution already/i.test(err.message);
}
