/**
 * RatioSource backed by the rollout workflows: reads `status` on `rollout-<target>` (the arms and ratio),
 * and in between — every poll — the rollout's RolloutPhase / GreenPercent search attributes, which the
 * server answers without a worker, so an abort reaches the router within a poll even when workers are busy.
 * - no such workflow → null (the target is 100 % blue, its configured model)
 * - a rollout that ended without completing cleanly (terminated, timed out, failed, cancelled) →
 *   0 % green, so a killed rollout never leaves users on green
 * - Temporal unreachable → throws; the router keeps the last ratio (fail static)
 * - a closed rollout (promoted / rolled back / failed) is remembered: it is re-queried only every
 *   `closedRecheckMs` (default 30 s — to pick up a new rollout of the target, a new run under the same
 *   workflow id), and when Temporal's retention later deletes the workflow the target keeps being served
 *   by that outcome (a promoted green stays 100 %) instead of reverting to the configured blue
 */
import { Client, QueryRejectedError, WorkflowNotFoundError, type ConnectionLike, type WorkflowHandle } from '@temporalio/client';
import {
  CLOSED_PHASES,
  GreenPercent,
  RolloutPhase,
  rolloutWorkflowId,
  statusQuery,
  type Phase,
  type RolloutStatus,
} from '../rollout/contract';
import type { RatioSnapshot, RatioSource } from './ratio';

export interface TemporalRatioSourceOptions {
  connection: ConnectionLike;
  namespace?: string;
  /** gRPC deadline per query (default 1,000 ms) */
  queryTimeoutMs?: number;
  /** how often a closed rollout is re-queried (default 30,000 ms) */
  closedRecheckMs?: number;
  /** how often the full status query runs; polls in between read the search attributes (default 5,000 ms) */
  fullRefreshMs?: number;
  now?: () => number;
}

export class TemporalRatioSource implements RatioSource {
  private readonly client: Client;
  private readonly timeoutMs: number;
  private readonly closedRecheckMs: number;
  private readonly fullRefreshMs: number;
  /** per target: the arms from the last full read, the run they belong to, and when */
  private readonly arms = new Map<string, { runId: string; snap: RatioSnapshot; at: number }>();
  private readonly now: () => number;
  private readonly last = new Map<string, RatioSnapshot>();
  /** the outcome of each target's last closed rollout, and when Temporal was last asked about it */
  private readonly closed = new Map<string, { snap: RatioSnapshot; checkedAt: number }>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** status queries sent (for tests) */
  queries = 0;

  constructor(o: TemporalRatioSourceOptions) {
    this.client = new Client({
      connection: o.connection,
      namespace: o.namespace ?? 'default',
      workflow: { queryRejectCondition: 'NOT_COMPLETED_CLEANLY' },
    });
    this.timeoutMs = o.queryTimeoutMs ?? 1_000;
    this.closedRecheckMs = o.closedRecheckMs ?? 30_000;
    this.fullRefreshMs = o.fullRefreshMs ?? 5_000;
    this.now = o.now ?? Date.now;
  }

  static fromClient(client: Client, queryTimeoutMs?: number): TemporalRatioSource {
    return new TemporalRatioSource({ connection: client.connection, namespace: client.options.namespace, queryTimeoutMs });
  }

  async get(target: string): Promise<RatioSnapshot | null> {
    const closed = this.closed.get(target);
    if (closed && this.now() - closed.checkedAt < this.closedRecheckMs) return closed.snap;
    const handle = this.client.workflow.getHandle(rolloutWorkflowId(target));
    const known = this.arms.get(target);
    if (!closed && known && this.now() - known.at < this.fullRefreshMs) {
      const fast = await this.fromSearchAttributes(target, handle, known);
      if (fast) return fast;
    }
    try {
      // The full read: the status query (answered by a worker) for the arms, and the run it came from.
      const run = await this.client.withDeadline(Date.now() + this.timeoutMs, () => handle.describe()).catch(() => undefined);
      this.queries++;
      const q = this.client.withDeadline(Date.now() + this.timeoutMs, () => handle.query(statusQuery));
      this.inFlight.add(q);
      const st = await q.finally(() => this.inFlight.delete(q));
      const snap = toSnapshot(st);
      this.last.set(target, snap);
      if (run) this.arms.set(target, { runId: run.runId, snap, at: this.now() });
      if (snap.phase && CLOSED_PHASES.includes(snap.phase)) this.closed.set(target, { snap, checkedAt: this.now() });
      else this.closed.delete(target); // a new rollout of the target (a new run under the same id)
      return snap;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        this.last.delete(target);
        if (closed) {
          // deleted by retention after it closed: its outcome stands (a promoted green stays green)
          closed.checkedAt = this.now();
          return closed.snap;
        }
        return null;
      }
      if (err instanceof QueryRejectedError) {
        const prev = this.last.get(target) ?? closed?.snap;
        const snap: RatioSnapshot = { greenPercent: 0, phase: 'failed', blue: prev?.blue, green: prev?.green };
        this.closed.set(target, { snap, checkedAt: this.now() });
        return snap;
      }
      throw err;
    }
  }

  /**
   * The fast read between full ones: phase and ratio from the rollout's search attributes, which the
   * server answers without a worker (a query waits for one, and under load that can take over a
   * second). The rollout upserts them in the same workflow task that changes them — an abort included.
   * Returns undefined when the full read is needed (another run, attributes missing, any doubt).
   */
  private async fromSearchAttributes(
    target: string,
    handle: WorkflowHandle,
    known: { runId: string; snap: RatioSnapshot },
  ): Promise<RatioSnapshot | undefined> {
    let d;
    try {
      d = await this.client.withDeadline(Date.now() + this.timeoutMs, () => handle.describe());
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
    if (d.runId !== known.runId) return undefined;
    const status = d.status.name;
    if (status !== 'RUNNING' && status !== 'COMPLETED') return undefined; // not closed cleanly: the full read decides
    const phase = d.typedSearchAttributes.get(RolloutPhase) as Phase | undefined;
    const greenPercent = d.typedSearchAttributes.get(GreenPercent);
    if (phase === undefined || greenPercent === undefined) return undefined;
    const snap: RatioSnapshot = { ...known.snap, phase, greenPercent };
    this.last.set(target, snap);
    if (CLOSED_PHASES.includes(phase)) this.closed.set(target, { snap, checkedAt: this.now() });
    return snap;
  }

  /** Targets of running rollouts (by workflow id prefix), so the router serves targets it was not configured with. */
  async discoverTargets(): Promise<string[]> {
    const out: string[] = [];
    const query = 'WorkflowId STARTS_WITH "rollout-" AND ExecutionStatus = "Running"';
    for await (const wf of this.client.workflow.list({ query, pageSize: 100 })) {
      out.push(wf.workflowId.slice('rollout-'.length));
      if (out.length >= 1000) break;
    }
    return out;
  }

  /**
   * Gives queries in flight up to one query timeout to settle (a query to an unreachable server may
   * never settle), so the caller can close its connection after; the connection belongs to the caller.
   */
  async close(): Promise<void> {
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise<void>((r) => (timer = setTimeout(r, this.timeoutMs)))]);
    clearTimeout(timer);
  }
}

export function toSnapshot(st: RolloutStatus): RatioSnapshot {
  return {
    greenPercent: st.greenPercent,
    phase: st.phase,
    blue: { model: st.blue.model, baseURL: st.blue.baseURL, apiKeyEnv: st.blue.apiKeyEnv },
    green: { model: st.green.model, baseURL: st.green.baseURL, apiKeyEnv: st.green.apiKeyEnv },
  };
}
