/**
 * Records real histories of the rollout and experiment workflows (dev server + simulator + worker)
 * into test/histories/, for the replay tests. Re-run after an intentional, versioned workflow change:
 *   node --import tsx scripts/record-histories.ts
 * or record new histories without touching the stored ones (each name is a file in test/histories/):
 *   node --import tsx scripts/record-histories.ts rollout-approved-with-webhook
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { parseSpec } from '../src/rollout/spec';
import { startSimulator } from '../src/sim/index';
import { ensureTemporalCli } from '../src/temporal/cli';
import { startDevServer } from '../src/temporal/devserver';
import { createWorker } from '../src/worker';
import { buildExperimentInput } from '../src/experiment/command';
import { emptyArmStats, recordOutcome, toWireArmStats } from '../src/decision/arm-stats';
import {
  abortSignal,
  approveUpdate,
  liveMetricsSignal,
  pauseUpdate,
  promoteUpdate,
  resumeSignal,
  rolloutWorkflowId,
  shadowMetricsSignal,
  statusQuery,
} from '../src/rollout/contract';
import { JUDGE_CODES, type ProbeRound } from '../src/decision/paired';
import type { ShadowBatch } from '../src/shadow/contract';

const out = join(import.meta.dirname, '..', 'test', 'histories');
const only = process.argv.slice(2);
// a webhook receiver for the rollouts that notify
const hooks = createServer((req, res) => void req.resume().on('end', () => res.writeHead(200).end()));
await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
const hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
const server = await startDevServer();
const sim = await startSimulator({
  latencyScale: 0.02,
  seed: 3,
  models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } },
});
process.env.GATEWAY_BASE_URL = sim.url;
process.env.GATEWAY_API_KEY = sim.apiKey;
const native = await NativeConnection.connect({ address: server.address });
const worker = await createWorker({ connection: native, namespace: 'default', taskQueue: 'record' });
const running = worker.run();
const client = new Client({ connection: server.env.connection });

const base = {
  blue: { model: 'gpt-4.1' },
  green: { model: 'gpt-4.1-turbo' },
  plan: { steps: [25, 50, 100], dwell: '300ms', probesPerRound: 100, concurrency: 25 },
  rateLimit: { requestsPerMinute: 100_000 },
  retry: { attempts: 2, minBackoff: '50ms', maxBackoff: '200ms' },
};
const start = (target: string, over: object = {}, options?: object) =>
  client.workflow.start('rolloutWorkflow', {
    workflowId: rolloutWorkflowId(target),
    taskQueue: 'record',
    args: [{ spec: parseSpec({ ...base, target, ...over }), options }],
  });
const cli = (await ensureTemporalCli()).path!;
/** Export with the official CLI (`temporal workflow show -o json`), the format historyFromJSON reads. */
const save = async (name: string, workflowId: string, runId?: string) => {
  if (only.length && !only.includes(name)) return;
  const json = execFileSync(
    cli,
    ['workflow', 'show', '--address', server.address, '-w', workflowId, ...(runId ? ['-r', runId] : []), '-o', 'json'],
    {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  writeFileSync(join(out, `${name}.json`), json);
  console.log(`saved ${name}.json (${JSON.parse(json).events.length} events)`);
};
const until = async (target: string, pred: (s: Awaited<ReturnType<typeof query>>) => boolean) => {
  for (;;) {
    const s = await query(target).catch(() => undefined);
    if (s && pred(s)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
};
const query = (target: string) => client.workflow.getHandle(rolloutWorkflowId(target)).query(statusQuery);

try {
  // 1. Promoted, with a router's live batch, and a pause (update) / resume (signal) on the way.
  const p = await start('record-promote');
  await until('record-promote', (s) => s.verdicts.length > 0);
  const live = () => {
    const s = emptyArmStats();
    for (let i = 0; i < 40; i++) recordOutcome(s, { ok: true, latencyMs: 400 + i, inputTokens: 10, outputTokens: 20, costUsd: 0.0001 });
    return toWireArmStats(s);
  };
  await p.signal(liveMetricsSignal, { batchId: 'record-router-1', blue: live(), green: live() });
  await p.executeUpdate(pauseUpdate, { args: [{ reason: 'checking' }] });
  await p.signal(resumeSignal);
  await p.result();
  await save('rollout-promoted-with-pause', p.workflowId);

  // 2. Rolled back on a failed verdict.
  sim.setProfile('gpt-4.1-turbo', { errorRate: 0.5 });
  const r = await start('record-rollback');
  await r.result();
  await save('rollout-rolled-back', r.workflowId);
  sim.setProfile('gpt-4.1-turbo', { errorRate: 0 });

  // 3. Aborted mid-dwell.
  const a = await start('record-abort', { plan: { ...base.plan, dwell: '1h' } });
  await until('record-abort', (s) => s.verdicts.some((v) => v.evaluation.verdict === 'Pass'));
  await a.signal(abortSignal, { reason: 'operator' });
  await a.result();
  await save('rollout-aborted', a.workflowId);

  // 3b. Promoted early by an operator (update).
  const e2 = await start('record-promote-now', { plan: { ...base.plan, dwell: '1h' } });
  await until('record-promote-now', (s) => s.verdicts.length > 0);
  await e2.executeUpdate(promoteUpdate, { args: [{ reason: 'looks good' }] });
  await e2.result();
  await save('rollout-promoted-by-operator', e2.workflowId);

  // 3c. An approval gate at the first step, approved by update, with a webhook told of every event.
  const g = await start('record-approve', {
    plan: { ...base.plan, steps: [{ percent: 25, approval: true }, 50, 100] },
    notify: [{ url: hookUrl }],
  });
  await until('record-approve', (s) => s.waiting === 'approval');
  await g.executeUpdate(approveUpdate, { args: [{ by: 'recorder', reason: 'looks good' }] });
  await g.result();
  await save('rollout-approved-with-webhook', g.workflowId);

  // 3d. A shadow phase (plan.shadow, the judge on): a router's batches of mirrored pairs (numbers only, one
  // sent twice), passed to the steps and promoted; and one rolled back in the phase on broken JSON.
  const shadowBatch = (id: string, n: number, brokenJson: number): ShadowBatch => {
    const arm = (micro: number) => ({
      code: Array(n).fill(0),
      ms: Array.from({ length: n }, (_, i) => 300 + (i % 40)),
      microUsd: Array(n).fill(micro),
      inputTokens: Array(n).fill(20),
      outputTokens: Array(n).fill(40),
      check: Array(n).fill(-1),
      retriedFailures: Array(n).fill(0),
    });
    const round: ProbeRound = {
      prompt: Array(n).fill(0),
      blue: arm(120),
      green: arm(100),
      output: { json: { blue: Array(n).fill(1), green: Array.from({ length: n }, (_, i) => (i < brokenJson ? 0 : 1)) } },
      judge: Array.from({ length: n }, (_, i) => JUDGE_CODES.indexOf(i % 5 === 0 ? 'tie' : 'none')),
      judgeMicroUsd: 900,
    };
    return { batchId: id, round, dropped: 0, skipped: 1 };
  };
  const shadowPlan = {
    plan: { ...base.plan, shadow: { percent: 10, minPairs: 300 } },
    guards: { judge: { model: 'gpt-4.1', samplePercent: 20 } },
  };
  const sp = await start('record-shadow', shadowPlan);
  await until('record-shadow', (s) => s.phase === 'shadow');
  for (let i = 1; i <= 2; i++) await sp.signal(shadowMetricsSignal, shadowBatch(`record-router-s${i}`, 200, 0));
  await sp.signal(shadowMetricsSignal, shadowBatch('record-router-s2', 200, 0)); // redelivered: dropped
  await sp.result();
  await save('rollout-shadow-promoted', sp.workflowId);
  const sj = await start('record-shadow-json', shadowPlan);
  await until('record-shadow-json', (s) => s.phase === 'shadow');
  await sj.signal(shadowMetricsSignal, shadowBatch('record-router-j1', 200, 60));
  await sj.result();
  await save('rollout-shadow-rolled-back', sj.workflowId);
  // 3e. The spend cap crossed by a batch merged while paused (its pairs sampled out): judged at once on resume.
  const sc = await start('record-shadow-capped', {
    ...shadowPlan,
    plan: { ...base.plan, shadow: { percent: 10, minPairs: 5000, maxSpendUsd: 0.002 } },
  });
  await until('record-shadow-capped', (s) => s.phase === 'shadow');
  await sc.executeUpdate('pause', { args: [{ reason: 'record: hold' }] });
  await sc.signal(shadowMetricsSignal, {
    ...shadowBatch('record-router-c1', 20, 0),
    sampledOut: { pairs: 500, greenMicroUsd: 50_000, blueMicroUsd: 60_000 },
  });
  await until('record-shadow-capped', (s) => s.shadowStats?.sampledOut === 500);
  await sc.executeUpdate('resume', { args: [] });
  await sc.result();
  await save('rollout-shadow-capped-while-paused', sc.workflowId);
  // 3f. The judge on probe pairs (no shadow phase): probe rounds carry judge codes and the judge's spend.
  const pj = await start('record-probe-judge', { guards: { judge: { model: 'gpt-4.1', samplePercent: 50 } } });
  await pj.result();
  await save('rollout-probe-judged', pj.workflowId);

  // 4. Unknown model: failed in preflight.
  const f = await start('record-preflight', { green: { model: 'no-such-model' } });
  await f.result();
  await save('rollout-preflight-failed', f.workflowId);

  // 5. Continue-as-new (the first run's history ends in ContinuedAsNew).
  const c = await start('record-can', {}, { historyEventLimit: 10 });
  await client.workflow.getHandle(c.workflowId).result();
  await save('rollout-continued-as-new', c.workflowId, c.firstExecutionRunId);

  // 6. An A/B experiment over the seed models (rounds), and one cancelled mid-way.
  const { input } = buildExperimentInput({ rounds: '3', interval: '0s', concurrency: '4' } as never);
  const e = await client.workflow.start('experimentWorkflow', { workflowId: 'record-experiment', taskQueue: 'record', args: [input] });
  await e.result();
  await save('experiment-rounds', e.workflowId);
  const { input: long } = buildExperimentInput({ rounds: '200', interval: '1s', concurrency: '4' } as never);
  const ec = await client.workflow.start('experimentWorkflow', {
    workflowId: 'record-experiment-cancel',
    taskQueue: 'record',
    args: [long],
  });
  await new Promise((r) => setTimeout(r, 2500));
  await ec.cancel();
  await ec.result();
  await save('experiment-cancelled', ec.workflowId);
} finally {
  worker.shutdown();
  await running;
  await native.close();
  await sim.close();
  hooks.close();
  await server.stop();
}
