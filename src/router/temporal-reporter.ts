/**
 * LiveReporter backed by the rollout workflows: one `liveMetrics` signal per target per batch, and in
 * the shadow phase one `shadowMetrics` signal per target per batch of shadow pairs.
 * The batch holds counts, latencies and tokens only — never keys or prompts — so history stays clean.
 * On the wire each arm's latency histogram is sparse ([bucket, count] pairs: toWireArmStats), about a
 * third of the dense form; the workflow accepts both.
 */
import { Client, type ConnectionLike } from '@temporalio/client';
import { liveMetricsSignal, rolloutWorkflowId, shadowMetricsSignal, type LiveMetricsBatch } from '../rollout/contract';
import type { ShadowBatch } from '../shadow/contract';
import { toWireArmStats } from '../decision/arm-stats';
import type { LiveBatch, LiveReporter } from './reporter';

export class TemporalLiveReporter implements LiveReporter {
  private readonly client: Client;
  private readonly timeoutMs: number;

  constructor(o: { connection: ConnectionLike; namespace?: string; signalTimeoutMs?: number }) {
    this.client = new Client({ connection: o.connection, namespace: o.namespace ?? 'default' });
    this.timeoutMs = o.signalTimeoutMs ?? 5_000;
  }

  static fromClient(client: Client): TemporalLiveReporter {
    return new TemporalLiveReporter({ connection: client.connection, namespace: client.options.namespace });
  }

  async report(target: string, batch: LiveBatch): Promise<void> {
    const payload: LiveMetricsBatch = { batchId: batch.batchId, blue: toWireArmStats(batch.blue), green: toWireArmStats(batch.green) };
    const handle = this.client.workflow.getHandle(rolloutWorkflowId(target));
    await this.client.withDeadline(Date.now() + this.timeoutMs, () => handle.signal(liveMetricsSignal, payload));
  }

  /** A router's shadow pairs: one `shadowMetrics` signal (numbers only: the ProbeRound columns, dropped, skipped). */
  async reportShadow(target: string, batch: ShadowBatch): Promise<void> {
    const handle = this.client.workflow.getHandle(rolloutWorkflowId(target));
    await this.client.withDeadline(Date.now() + this.timeoutMs, () => handle.signal(shadowMetricsSignal, batch));
  }
}
