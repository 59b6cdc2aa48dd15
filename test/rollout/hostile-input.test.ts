/**
 * What outside input must never do to a running rollout (real dev server, real worker): a huge or
 * inconsistent live batch, a flood of liveMetrics signals. The rollout keeps answering, continues as
 * new before the server's per-run signal limit, and an operator can always stop it.
 */
import { describe, expect, it } from 'vitest';
import { emptyArmStats, recordOutcome, toWireArmStats } from '../../src/decision/arm-stats';
import { RolloutClient } from '../../src/rollout/client';
import { liveMetricsSignal, type LiveMetricsBatch } from '../../src/rollout/contract';
import { startSimulator } from '../../src/sim/index';
import { useHarness } from '../helpers/harness';
import { result, startTestRollout, testSpec, uniqueTarget, waitForStatus } from '../helpers/rollout';
import { historyText } from '../helpers/temporal';

const h = useHarness({
  sim: { latencyScale: 0.02, seed: 11, models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } } },
  queue: 'hostile',
});

/** A live batch as routers send it (sparse histogram). */
function liveBatch(batchId: string, n = 10): LiveMetricsBatch {
  const arm = emptyArmStats();
  for (let i = 0; i < n; i++) recordOutcome(arm, { ok: true, latencyMs: 20, inputTokens: 10, outputTokens: 10, costUsd: 0 });
  return { batchId, blue: toWireArmStats(arm), green: toWireArmStats(arm) };
}

/** A rollout that has passed its first step and dwells for an hour (live batches are judged as they come). */
async function dwellingRollout(prefix: string) {
  const spec = testSpec({ target: uniqueTarget(prefix), plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 100, concurrency: 25 } });
  const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
  await waitForStatus(h.t.client, spec.target, (s) => s.verdicts.some((v) => v.evaluation.verdict === 'Pass'), 60_000);
  return { spec, handle, rollouts: new RolloutClient(h.t.client, h.taskQueue) };
}

describe('hostile input to a running rollout', () => {
  it('a live batch with counts past 2^30 (or inconsistent ones) is dropped; the rollout keeps answering and aborts', async () => {
    const { spec, handle, rollouts } = await dwellingRollout('huge');
    const huge = liveBatch('huge-1', 10);
    huge.green.latency.count = 1_100_000_000;
    huge.green.latency.buckets = [[50, 1_100_000_000]];
    huge.green.successes = 1_100_000_000;
    huge.green.requests = 1_100_000_000;
    await handle.signal(liveMetricsSignal, huge);
    const inconsistent = liveBatch('bad-2', 10);
    inconsistent.green.requests = 5; // fewer requests than successes
    await handle.signal(liveMetricsSignal, inconsistent);
    await handle.signal(liveMetricsSignal, liveBatch('ok-3', 10));
    const s = await waitForStatus(h.t.client, spec.target, (st) => st.live.batches >= 1, 20_000);
    expect(s.live.batches).toBe(1);
    expect(s.live.green.requests).toBe(10);
    await rollouts.abort(spec.target, 'done');
    expect((await rollouts.watch(spec.target, () => undefined)).phase).toBe('rolled_back');
  });

  it('a burst of 10,000 liveMetrics signals: the rollout continues as new, keeps answering, and abort lands', async () => {
    const { spec, handle, rollouts } = await dwellingRollout('flood');
    const firstRun = (await handle.describe()).runId;
    const batch = liveBatch('x', 5);
    let refused = 0;
    const started = Date.now();
    for (let i = 0; i < 10_000; i += 200) {
      const sends = Array.from({ length: 200 }, (_, k) =>
        handle.signal(liveMetricsSignal, { ...batch, batchId: `flood-${i + k}` }).catch(() => void refused++),
      );
      await Promise.all(sends);
      if (Date.now() - started > 240_000) break; // bounded in time as well as count
    }
    // The workflow kept up: it answers, it continued as new (a new run), and an operator's abort lands.
    // A wedged run never answers; a live one on a starved CPU (two burners beside the suite) may take a
    // while to work through the backlog, so the read is bounded generously rather than at a speed.
    const floodEnded = Date.now();
    const s = await waitForStatus(h.t.client, spec.target, (st) => st.phase === 'ramping', 180_000);
    console.log(`flood: ${Math.round((floodEnded - started) / 1000)} s of signals, status answered ${Date.now() - floodEnded} ms later`);
    expect(s.phase).toBe('ramping');
    expect((await handle.describe()).runId).not.toBe(firstRun);
    await rollouts.abort(spec.target, 'after the flood');
    const final = await rollouts.watch(spec.target, () => undefined);
    expect(final.phase).toBe('rolled_back');
    expect(final.reason).toBe('aborted by operator: after the flood');
    expect(refused).toBe(0);
  }, 400_000);
});

describe('what a spec may make the worker do', () => {
  it('a green naming TEMPORAL_API_KEY, or a host the worker was not configured with, fails preflight and sends nothing', async () => {
    process.env.TEMPORAL_API_KEY = 'tmprl-must-never-leave-4711';
    const other = await startSimulator({ latencyScale: 0 });
    try {
      for (const green of [
        { model: 'gpt-4.1-turbo', apiKeyEnv: 'TEMPORAL_API_KEY' },
        { model: 'gpt-4.1-turbo', baseURL: other.url },
        { model: 'gpt-4.1-turbo', baseURL: 'http://169.254.169.254/v1' },
      ]) {
        const spec = testSpec({ target: uniqueTarget('policy'), green });
        const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
        const r = await result(h.t.client, spec.target);
        expect(r.phase).toBe('failed');
        expect(r.reason).toMatch(
          /^preflight failed: green: (apiKeyEnv: TEMPORAL_API_KEY is never sent upstream|baseURL: http:\/\/[\d.:]+ is not an allowed origin here)/,
        );
        expect(historyText(await handle.fetchHistory())).not.toContain('tmprl-must-never-leave-4711');
      }
      expect(Object.values(other.stats()).reduce((n, s) => n + s.requests, 0)).toBe(0);
    } finally {
      delete process.env.TEMPORAL_API_KEY;
      await other.close();
    }
  });

  it('a gateway error that quotes the key never puts it in the status, the reason or history', async () => {
    h.sim.setProfile('gpt-4.1-turbo', { errorRate: 1, quotesKeyInErrors: true });
    try {
      const spec = testSpec({ target: uniqueTarget('quote'), retry: { attempts: 1 } });
      const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
      const r = await result(h.t.client, spec.target);
      expect(r.phase).toBe('rolled_back');
      const text = `${JSON.stringify(r)} ${historyText(await handle.fetchHistory())}`;
      expect(text).toContain('[redacted]'); // the quoted key was there, and was scrubbed
      expect(text).not.toContain(h.sim.apiKey);
    } finally {
      h.sim.setProfile('gpt-4.1-turbo', { errorRate: 0, quotesKeyInErrors: false });
    }
  });

  it('a spec that reaches the workflow with a check that cannot run fails as a spec error, not a green failure', async () => {
    const spec = testSpec({
      target: uniqueTarget('badcheck'),
      prompts: [{ messages: [{ role: 'user', content: '2+2?' }], expect: { json: true } }],
    });
    // What `temporal workflow start` with hand-written input could carry: a schema parseSpec would refuse.
    spec.prompts[0].expect = { json: { type: 'integr' }, caseSensitive: false };
    await startTestRollout(h.t.client, h.taskQueue, spec);
    const r = await result(h.t.client, spec.target);
    expect(r.phase).toBe('failed');
    expect(r.greenPercent).toBe(0);
    expect(r.reason).toMatch(/^spec error: a golden check cannot run: expect\.json: schema is invalid/);
  });
});
