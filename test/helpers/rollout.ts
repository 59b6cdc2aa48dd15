/** Helpers for rollout tests: specs with fast defaults, waiting on status, reading results. */
import type { Client } from '@temporalio/client';
import { parseSpec, type RolloutSpec, type SpecInput } from '../../src/rollout/spec';
import { rolloutWorkflowId, statusQuery, type RolloutOptions, type RolloutResult, type RolloutStatus } from '../../src/rollout/contract';
import { RolloutClient } from '../../src/rollout/client';

let n = 0;
export function uniqueTarget(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${n++}`;
}

/** A spec tuned for tests: fast retries, short dwell, enough samples for verdicts in a few rounds. */
export function testSpec(over: Partial<SpecInput> & { target: string }): RolloutSpec {
  return parseSpec({
    blue: { model: 'gpt-4.1' },
    green: { model: 'gpt-4.1-turbo' },
    plan: { steps: [50, 100], dwell: '300ms', samplesPerStep: 100, concurrency: 25 },
    rateLimit: { requestsPerMinute: 100_000 },
    retry: { attempts: 2, minBackoff: '50ms', maxBackoff: '200ms' },
    request: { timeout: '5s' },
    ...over,
  });
}

/** Start a rollout exactly as `modelshift start` does (same options, search attributes, conflict policy). */
export function startTestRollout(client: Client, taskQueue: string, spec: RolloutSpec, options?: RolloutOptions) {
  return new RolloutClient(client, taskQueue).start(spec, options);
}

export async function result(client: Client, target: string): Promise<RolloutResult> {
  return (await client.workflow.getHandle(rolloutWorkflowId(target)).result()) as RolloutResult;
}

export async function status(client: Client, target: string): Promise<RolloutStatus> {
  return client.workflow.getHandle(rolloutWorkflowId(target)).query(statusQuery);
}

/** Poll the status query until `pred` holds (or fail after timeoutMs). */
export async function waitForStatus(
  client: Client,
  target: string,
  pred: (s: RolloutStatus) => boolean,
  timeoutMs = 30_000,
): Promise<RolloutStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: RolloutStatus | undefined;
  while (Date.now() < deadline) {
    try {
      last = await status(client, target);
      if (pred(last)) return last;
    } catch {
      /* not started yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out waiting for ${target}; last status: ${JSON.stringify(last && { phase: last.phase, step: last.step, greenPercent: last.greenPercent, reason: last.reason })}`,
  );
}
