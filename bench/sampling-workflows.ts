/**
 * Bench-only workflows (bundled by bench/sampling.ts, not by the worker): the same sample requests
 * sent as one batch activity, or as one activity per sample.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../src/activities';
import type { SampleBatchInput } from '../src/rollout/contract';

const { runSampleBatch } = proxyActivities<typeof activities>({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '30s' });

export async function oneBatch(input: SampleBatchInput): Promise<number> {
  const r = await runSampleBatch(input);
  return r.blue.requests + r.green.requests;
}

export async function perSample(input: SampleBatchInput): Promise<number> {
  let done = 0;
  // The same concurrency as the batch's own limit, so only the per-activity overhead differs.
  for (let i = 0; i < input.count; i += input.concurrency) {
    const n = Math.min(input.concurrency, input.count - i);
    const rs = await Promise.all(
      Array.from({ length: n }, (_, k) => runSampleBatch({ ...input, count: 1, concurrency: 1, seed: input.seed + i + k })),
    );
    done += rs.reduce((a, r) => a + r.blue.requests + r.green.requests, 0);
  }
  return done;
}
