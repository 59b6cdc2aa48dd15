/**
 * RatioSource backed by the rollout workflows: polls `status` on `rollout-<target>`.
 * - no such workflow → null (the target is 100 % blue, its configured model)
 * - a rollout that ended without completing cleanly (terminated, timed out, failed, cancelled) →
 *   0 % green, so a killed rollout never leaves users on green
 * - Temporal unreachable → throws; the router keeps the last ratio (fail static)
 */
import { Client, QueryRejectedError, WorkflowNotFoundError, type ConnectionLike } from '@temporalio/client';
import { rolloutWorkflowId, statusQuery, type RolloutStatus } from '../../workflows/messages';
import type { RatioSnapshot, RatioSource } from './ratio';

export interface TemporalRatioSourceOptions {
  connection: ConnectionLike;
  namespace?: string;
  /** gRPC deadline per query (default 1,000 ms) */
  queryTimeoutMs?: number;
}

export class TemporalRatioSource implements RatioSource {
  private readonly client: Client;
  private readonly timeoutMs: number;
  private readonly last = new Map<string, RatioSnapshot>();

  constructor(o: TemporalRatioSourceOptions) {
    this.client = new Client({
      connection: o.connection,
      namespace: o.namespace ?? 'default',
      workflow: { queryRejectCondition: 'NOT_COMPLETED_CLEANLY' },
    });
    this.timeoutMs = o.queryTimeoutMs ?? 1_000;
  }

  static fromClient(client: Client, queryTimeoutMs?: number): TemporalRatioSource {
    return new TemporalRatioSource({ connection: client.connection, namespace: client.options.namespace, queryTimeoutMs });
  }

  async get(target: string): Promise<RatioSnapshot | null> {
    const handle = this.client.workflow.getHandle(rolloutWorkflowId(target));
    try {
      const st = await this.client.withDeadline(Date.now() + this.timeoutMs, () => handle.query(statusQuery));
      const snap = toSnapshot(st);
      this.last.set(target, snap);
      return snap;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        this.last.delete(target);
        return null;
      }
      if (err instanceof QueryRejectedError) {
        const prev = this.last.get(target);
        return { greenPercent: 0, phase: 'failed', blue: prev?.blue, green: prev?.green };
      }
      throw err;
    }
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

  async close(): Promise<void> {
    // the connection belongs to the caller
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
