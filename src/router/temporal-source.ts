/**
 * RatioSource backed by the rollout workflows. Every read starts with `describe` on `rollout-<target>`,
 * which the server answers without a worker: the run, its status and its RolloutPhase / GreenPercent
 * search attributes.
 * - a running rollout: the arms and the exact ratio come from the `status` query (a "full read", which
 *   needs a worker), made when the run, the phase or the rounded GreenPercent changes and every
 *   `fullRefreshMs` besides. In between, the exact ratio of the last full read stays in force while the
 *   rounded attribute agrees with it (a 0.4 % step is served at 0.4 %, not at its rounded 0 %); a closed
 *   phase in the attributes (abort, failed verdict, promote) is served at once, without a query, so an
 *   abort reaches the router within a poll even when workers are busy.
 * - a closed rollout is read from what the server recorded — never a query, which would need a worker
 *   on a task queue that may have none: a completed one from its result (history), one that ended
 *   without completing (terminated, timed out, failed, cancelled) → 0 % green, so a killed rollout never
 *   leaves users on green. It is then asked about again only every `closedRecheckMs` (default 30 s: to
 *   pick up a new rollout of the target, a new run under the same workflow id), and when Temporal's
 *   retention later deletes the workflow, the target keeps being served by that outcome (a promoted green
 *   stays 100 %) instead of reverting to the configured blue.
 * - no such workflow → null (the target is 100 % blue, its configured model)
 * - Temporal unreachable → throws; the router keeps the last ratio (fail static)
 */
import { Client, WorkflowNotFoundError, type ConnectionLike, type WorkflowExecutionDescription } from '@temporalio/client';
import {
  BlueModel,
  GreenPercent,
  isClosedPhase,
  RolloutPhase,
  rolloutWorkflowId,
  statusQuery,
  type Phase,
  type RolloutResult,
  type RolloutStatus,
} from '../rollout/contract';
import { readShadowOrders } from '../shadow/orders';
import type { RatioSnapshot, RatioSource } from './ratio';

export interface TemporalRatioSourceOptions {
  connection: ConnectionLike;
  namespace?: string;
  /** gRPC deadline per call (default 1,000 ms) */
  queryTimeoutMs?: number;
  /** how often a closed rollout is asked about again (default 30,000 ms) */
  closedRecheckMs?: number;
  /** how often a running rollout gets a full read (the status query) even when nothing changed (default 5,000 ms) */
  fullRefreshMs?: number;
  now?: () => number;
}

/** What the last full read of a target found. */
interface Known {
  runId: string;
  snap: RatioSnapshot;
  /** when the full read was made */
  at: number;
  /** the run had closed: its snapshot is final */
  closed: boolean;
  /** closed: when the server was last asked whether a new run exists */
  checkedAt: number;
  /** running: a failed status query is not retried before this (the attributes stand in meanwhile) */
  queryRetryAt: number;
}

/** Server calls by kind (for tests and the measurements in bench/). */
export interface SourceCalls {
  describe: number;
  query: number;
  result: number;
  list: number;
}

export class TemporalRatioSource implements RatioSource {
  private readonly client: Client;
  private readonly timeoutMs: number;
  private readonly closedRecheckMs: number;
  private readonly fullRefreshMs: number;
  private readonly now: () => number;
  private readonly known = new Map<string, Known>();
  /** every server call in flight (close() waits for them, so the connection can be closed after) */
  private readonly inFlight = new Set<Promise<unknown>>();
  private closing = false;
  readonly calls: SourceCalls = { describe: 0, query: 0, result: 0, list: 0 };

  constructor(o: TemporalRatioSourceOptions) {
    this.client = new Client({ connection: o.connection, namespace: o.namespace ?? 'default' });
    this.timeoutMs = o.queryTimeoutMs ?? 1_000;
    this.closedRecheckMs = o.closedRecheckMs ?? 30_000;
    this.fullRefreshMs = o.fullRefreshMs ?? 5_000;
    this.now = o.now ?? Date.now;
  }

  static fromClient(client: Client, queryTimeoutMs?: number): TemporalRatioSource {
    return new TemporalRatioSource({ connection: client.connection, namespace: client.options.namespace, queryTimeoutMs });
  }

  /** status queries sent */
  get queries(): number {
    return this.calls.query;
  }

  async get(target: string): Promise<RatioSnapshot | null> {
    const k = this.known.get(target);
    if (k?.closed && this.now() - k.checkedAt < this.closedRecheckMs) return k.snap;
    let d: WorkflowExecutionDescription;
    try {
      d = await this.call('describe', () => this.client.workflow.getHandle(rolloutWorkflowId(target)).describe());
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      if (k?.closed) {
        // deleted by retention after it closed: its outcome stands (a promoted green stays green)
        k.checkedAt = this.now();
        return k.snap;
      }
      this.known.delete(target);
      return null;
    }
    return d.status.name === 'RUNNING' ? this.readRunning(target, d, k) : this.readClosed(target, d, k);
  }

  /** A running rollout: the last full read while the attributes agree with it, else a full read now. */
  private async readRunning(target: string, d: WorkflowExecutionDescription, k: Known | undefined): Promise<RatioSnapshot> {
    const sa = attributes(d);
    const sameRun = k !== undefined && !k.closed && k.runId === d.runId;
    if (sameRun && sa) {
      const now = this.now();
      const agrees = sa.phase === k.snap.phase && sa.greenPercent === Math.round(k.snap.greenPercent);
      if (agrees && now - k.at < this.fullRefreshMs) return k.snap; // the exact ratio is still the one in force
      if (isClosedPhase(sa.phase) && !agrees) return (k.snap = { ...k.snap, ...sa }); // abort, failed verdict, promote: at once
      if (now < k.queryRetryAt) return agrees ? k.snap : { ...k.snap, ...sa };
    }
    let st: RolloutStatus;
    try {
      st = await this.call('query', () => this.client.workflow.getHandle(rolloutWorkflowId(target), d.runId).query(statusQuery));
    } catch (err) {
      // The query needs a worker; while none answers, the attributes (read without one) stand in.
      if (!sameRun || !sa) throw err;
      k.queryRetryAt = this.now() + this.fullRefreshMs;
      return sa.phase === k.snap.phase && sa.greenPercent === Math.round(k.snap.greenPercent) ? k.snap : { ...k.snap, ...sa };
    }
    const snap = toSnapshot(st);
    const now = this.now();
    this.known.set(target, { runId: d.runId, snap, at: now, closed: false, checkedAt: now, queryRetryAt: 0 });
    return snap;
  }

  /** A closed rollout: from what the server recorded (its result, or how it ended), never a query. */
  private async readClosed(target: string, d: WorkflowExecutionDescription, k: Known | undefined): Promise<RatioSnapshot> {
    const now = this.now();
    if (k?.closed && k.runId === d.runId) {
      k.checkedAt = now;
      return k.snap;
    }
    let snap: RatioSnapshot;
    if (d.status.name === 'COMPLETED') {
      const handle = this.client.workflow.getHandle(rolloutWorkflowId(target), d.runId, { followRuns: false });
      const r = (await this.call('result', () => handle.result())) as RolloutResult;
      snap = { ...toSnapshot(r.status), phase: r.phase, greenPercent: r.greenPercent };
    } else {
      // ended without completing: 0 % green; the arms of an earlier read of the same rollout, if any
      const prev = k && k.snap.blue?.model === d.typedSearchAttributes.get(BlueModel) ? k.snap : undefined;
      snap = { greenPercent: 0, phase: 'failed', blue: prev?.blue, green: prev?.green };
    }
    this.known.set(target, { runId: d.runId, snap, at: now, closed: true, checkedAt: now, queryRetryAt: 0 });
    return snap;
  }

  /** Targets of running rollouts (by workflow id prefix), for a router that serves targets it was not configured with. */
  discoverTargets(): Promise<string[]> {
    return this.call('list', async () => {
      const out: string[] = [];
      const query = 'WorkflowId STARTS_WITH "rollout-" AND ExecutionStatus = "Running"';
      for await (const wf of this.client.workflow.list({ query, pageSize: 100 })) {
        out.push(wf.workflowId.slice('rollout-'.length));
        if (out.length >= 1000) break;
      }
      return out;
    });
  }

  /** One server call under the deadline, tracked until it settles. */
  private call<T>(kind: keyof SourceCalls, fn: () => Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new Error('ratio source closed'));
    this.calls[kind]++;
    const p = this.client.withDeadline(Date.now() + this.timeoutMs, fn);
    this.inFlight.add(p);
    const settled = () => void this.inFlight.delete(p);
    p.then(settled, settled);
    return p;
  }

  /**
   * Refuses new calls and waits for every call in flight — describes, queries, result reads — to settle
   * (each has a deadline; a call to an unreachable server still gets at most the deadline and a second),
   * so the caller can then close its connection: a client retry that finds the channel closed would throw
   * from a timer. The connection belongs to the caller.
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((r) => (timer = setTimeout(r, this.timeoutMs + 1_000)));
    await Promise.race([Promise.allSettled([...this.inFlight]), cap]);
    clearTimeout(timer);
  }
}

/** Phase and rounded ratio from the search attributes, when both are there. */
function attributes(d: WorkflowExecutionDescription): { phase: Phase; greenPercent: number } | undefined {
  const phase = d.typedSearchAttributes.get(RolloutPhase) as Phase | undefined;
  const greenPercent = d.typedSearchAttributes.get(GreenPercent);
  return phase === undefined || greenPercent === undefined ? undefined : { phase, greenPercent };
}

export function toSnapshot(st: RolloutStatus): RatioSnapshot {
  const snap: RatioSnapshot = {
    greenPercent: st.greenPercent,
    phase: st.phase,
    blue: { model: st.blue.model, baseURL: st.blue.baseURL, apiKeyEnv: st.blue.apiKeyEnv },
    green: { model: st.green.model, baseURL: st.green.baseURL, apiKeyEnv: st.green.apiKeyEnv },
  };
  const shadow = st.phase === 'shadow' ? readShadowOrders(st.shadow) : undefined;
  if (shadow) snap.shadow = shadow;
  return snap;
}
