/**
 * Bench-only workflows (bundled by bench/sampling.ts, not by the worker): the same probe pairs sent as
 * one round activity, or as one activity per pair.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from '../src/activities';
import type { ProbeRoundInput } from '../src/rollout/contract';

const { runProbeRound } = proxyActivities<typeof activities>({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '30s' });

export async function oneBatch(input: ProbeRoundInput): Promise<number> {
  const r = await runProbeRound(input);
  return r.round.prompt.length;
}

export async function perSample(input: ProbeRoundInput): Promise<number> {
  let done = 0;
  // The same concurrency as the round's own limit, so only the per-activity overhead differs.
  for (let i = 0; i < input.pairs; i += input.concurrency) {
    const n = Math.min(input.concurrency, input.pairs - i);
    const rs = await Promise.all(
      Array.from({ length: n }, (_, k) => runProbeRound({ ...input, pairs: 1, concurrency: 1, promptOffset: i + k })),
    );
    done += rs.reduce((a, r) => a + r.round.prompt.length, 0);
  }
  return done;
}
