/**
 * The product on the production topology (`npm run test:stack`): `modelshift stack up` with 3 workers
 * and 2 routers — PostgreSQL, the Temporal server with SQL visibility, the UI server, the simulator —
 * then rollouts that promote and roll back, a worker SIGKILLed mid-batch, the Temporal server and then
 * PostgreSQL restarted mid-rollout, an abort followed by both routers (measured), a router restarted
 * mid-traffic, search-attribute queries answered from PostgreSQL, and `stack down` stopping exactly what
 * `up` started. One file, in order: the faults are the stack's, so the tests do not overlap.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolloutWorkflowId, type RolloutStatus } from '../../src/rollout/contract';
import { pgLayout } from '../../src/stack/postgres';
import { Stack, stackPorts } from '../../src/stack/stack';
import { processStartTicks } from '../../src/stack/supervisor';
import { chat, closedResult, connectStack, modelshift, routerTarget, simModel, stackSpec, until, type StackClient } from './helpers';

const stateDir = mkdtempSync(join(tmpdir(), 'modelshift-stack-test-'));
const OFFSET = Number(process.env.STACK_TEST_PORT_OFFSET ?? 21_000);
/** Targets the routers are configured with (ROUTER_TARGETS), so they follow these rollouts from their start. */
const ABORT_TARGET = 'stack-abort';
const ROUTER_TARGET = 'stack-router-restart';
const env: NodeJS.ProcessEnv = {
  ...process.env,
  GATEWAY_BASE_URL: '',
  GATEWAY_API_KEY: 'sim-key',
  MODELSHIFT_STATE_DIR: stateDir,
  ROUTER_TARGETS: `${ABORT_TARGET}=gpt-4.1,${ROUTER_TARGET}=gpt-4.1`,
  ROUTER_REPORT_INTERVAL_SECONDS: '1',
  SIM_LATENCY_SCALE: '1',
  WORKER_REPLICAS: '3',
};
const upArgs = ['stack', 'up', '--workers', '3', '--routers', '2', '--state-dir', stateDir, '--port-offset', String(OFFSET)];

let stack: Stack;
let sc: StackClient;
let n = 0;
const unique = (p: string) => `${p}-${Date.now().toString(36)}-${n++}`;
const log = (line: string) => console.log(`[stack] ${line}`);

/** Two fresh simulator models: blue and green, equal and healthy unless told otherwise. */
async function models(prefix: string, green: Record<string, unknown> = {}, latencyMs = 20) {
  const blue = unique(`${prefix}-blue`);
  const greenName = unique(`${prefix}-green`);
  const base = { errorRate: 0, timeoutRate: 0, malformedRate: 0, latencyMs, rpm: null };
  await simModel(stack, blue, base);
  await simModel(stack, greenName, { ...base, ...green });
  return { blue, green: greenName };
}

const status = (target: string) => sc.rollouts.status(target, { queryTimeoutMs: 5_000 });
const counted = (s: RolloutStatus) => s.arms.blue.requests + s.arms.green.requests;

beforeAll(async () => {
  stack = Stack.from({ stateDir, portOffset: OFFSET, workers: 3, routers: 2 }, env);
  const busy = [];
  for (const [name, port] of stackPorts(stack.settings)) {
    const probe = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { timeout: 2_000 });
    if (probe.status === 0) busy.push(`${name}:${port}`);
  }
  if (busy.length) throw new Error(`ports in use (${busy.join(', ')}); set STACK_TEST_PORT_OFFSET to move the test stack`);
  const started = Date.now();
  const up = await modelshift(upArgs, env, 900_000);
  log(`stack up: exit ${up.code} in ${Math.round((Date.now() - started) / 1000)} s`);
  if (up.code !== 0) throw new Error(`modelshift stack up failed (${up.code}):\n${up.stderr}\n${up.stdout}`);
  sc = await connectStack(stack);
}, 900_000);

afterAll(async () => {
  await sc?.close().catch(() => undefined);
  if (await stack?.isUp().catch(() => false)) await stack.down(() => undefined);
  rmSync(stateDir, { recursive: true, force: true });
}, 180_000);

describe('the native stack', () => {
  it('comes up with one command: every service supervised, healthy, with its PID and log', async () => {
    const r = await modelshift(['stack', 'status', '--json', '--state-dir', stateDir], env, 60_000);
    expect(r.code, r.stderr).toBe(0);
    const services = (JSON.parse(r.stdout) as { services: Array<{ name: string; pid: number; healthy: boolean; log: string }> }).services;
    expect(services.map((s) => s.name)).toEqual([
      'postgresql',
      'temporal',
      'temporal-ui',
      'sim',
      'worker-1',
      'worker-2',
      'worker-3',
      'router-1',
      'router-2',
    ]);
    for (const s of services) {
      expect(s.healthy, s.name).toBe(true);
      expect(processStartTicks(s.pid), s.name).toBeDefined();
      expect(existsSync(s.log), s.log).toBe(true);
    }
    // PostgreSQL runs as the postgres system user (it refuses root), the rest as this user.
    const pg = services.find((s) => s.name === 'postgresql')!;
    const owner = spawnSync('ps', ['-o', 'user=', '-p', String(pg.pid)], { encoding: 'utf8' }).stdout.trim();
    if (process.getuid?.() === 0) expect(owner).toBe('postgres');
  });

  it('promotes equal healthy arms and rolls back a green with 50% errors, as on the dev server', async () => {
    const good = await models('promote');
    const bad = await models('rollback', { errorRate: 0.5 });
    const promote = stackSpec(unique('promote'), good.blue, good.green, { steps: [50, 100], dwell: '500ms' });
    const rollback = stackSpec(unique('rollback'), bad.blue, bad.green, { steps: [50, 100], dwell: '500ms' });
    await Promise.all([sc.rollouts.start(promote), sc.rollouts.start(rollback)]);
    const [p, b] = await Promise.all([closedResult(sc, promote.target, 240_000), closedResult(sc, rollback.target, 240_000)]);
    expect(p.phase).toBe('promoted');
    expect(p.greenPercent).toBe(100);
    expect(b.phase).toBe('rolled_back');
    expect(b.greenPercent).toBe(0);
    expect(b.status.arms.green.errors).toBeGreaterThan(0);
    log(`promoted after ${p.status.verdicts.length} rounds; rolled back after ${b.status.verdicts.length}: ${b.reason}`);
  });

  it('answers search-attribute queries (RolloutPhase="ramping") from PostgreSQL visibility', async () => {
    const m = await models('visibility');
    const spec = stackSpec(unique('visibility'), m.blue, m.green, { steps: [50, 100], dwell: '1h' });
    await sc.rollouts.start(spec);
    await until('ramping', async () => (await status(spec.target)).phase === 'ramping', 120_000);
    const query = `RolloutPhase="ramping" AND RolloutTarget="${spec.target}"`;
    const found = await until(
      'the visibility query to list it',
      async () => {
        const ids: string[] = [];
        for await (const wf of sc.client.workflow.list({ query })) ids.push(wf.workflowId);
        return ids.length === 1 ? ids : undefined;
      },
      30_000,
      250,
    );
    expect(found).toEqual([rolloutWorkflowId(spec.target)]);
    expect((await sc.client.workflow.count(query)).count).toBe(1);
    // The same row, read from PostgreSQL itself: the visibility database holds the search attributes
    // (custom ones under the namespace's field names, Keyword01…, Int01…).
    const pg = pgLayout(stack.settings);
    const sql = `select search_attributes::text from executions_visibility where workflow_id = '${rolloutWorkflowId(spec.target)}' and status = 1`;
    const psql = spawnSync(
      join(pg.bin, 'psql'),
      ['-h', '127.0.0.1', '-p', String(stack.settings.ports.postgres), '-U', 'temporal', '-d', 'temporal_visibility', '-At', '-c', sql],
      {
        env: { ...process.env, PGPASSWORD: stack.settings.postgresPassword },
        encoding: 'utf8',
      },
    );
    expect(psql.status, psql.stderr).toBe(0);
    const row = psql.stdout.trim();
    expect(row).toContain('"ramping"');
    expect(row).toContain(`"${spec.target}"`);
    expect(row).toMatch(/: 50\b/);
    log(`executions_visibility row: ${row}`);
    await sc.rollouts.abort(spec.target, 'visibility test done');
    const r = await closedResult(sc, spec.target, 60_000);
    expect(r.phase).toBe('rolled_back');
  });

  it('loses nothing and counts no sample twice when the worker running a batch is SIGKILLed', async () => {
    // Slow answers (150 ms each, 8 at a time) keep a round in flight for a few seconds.
    const m = await models('kill', {}, 150);
    const spec = stackSpec(unique('kill'), m.blue, m.green, { steps: [20, 50, 100], dwell: '500ms', concurrency: 8 });
    const handle = await sc.rollouts.start(spec);
    const atKill = await until(
      'a verdict, then a batch in flight on a worker',
      async () => {
        const s = await status(spec.target);
        if (s.verdicts.length < 1) return undefined;
        const d = await handle.describe();
        const pending = d.raw.pendingActivities?.find((a) => a.lastWorkerIdentity && a.state === 2); // STARTED
        return pending ? { s, identity: pending.lastWorkerIdentity as string } : undefined;
      },
      120_000,
      100,
    );
    const pid = Number(atKill.identity.split('@')[0]);
    const victim = (await stack.status()).find((x) => x.pid === pid);
    expect(victim?.name, `the batch runs on a stack worker (${atKill.identity})`).toMatch(/^worker-\d$/);
    process.kill(pid, 'SIGKILL');
    log(`SIGKILLed ${victim!.name} (pid ${pid}) mid-batch at step ${atKill.s.step} after ${atKill.s.verdicts.length} verdicts`);
    const r = await closedResult(sc, spec.target, 240_000);
    expect(r.phase).toBe('promoted');
    const steps = r.status.verdicts.map((v) => v.step);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    expect(r.status.verdicts.slice(0, atKill.s.verdicts.length)).toEqual(atKill.s.verdicts);
    // Every round counted exactly once: each round adds what the rounds before the kill added.
    const perRound = counted(atKill.s) / atKill.s.verdicts.length;
    expect(counted(r.status)).toBe(perRound * r.status.verdicts.length);
    const events = (await handle.fetchHistory()).events ?? [];
    expect(events.some((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1)).toBe(true);
    await stack.waitHealthy(victim!.name, 240_000); // the supervisor brought it back
    expect((await stack.service(victim!.name)).restarts).toBeGreaterThanOrEqual(1);
  });

  it('every rollout resumes and ends right after the Temporal server, then PostgreSQL, restart mid-rollout', async () => {
    const a = await models('restart-a');
    const b = await models('restart-b');
    const c = await models('restart-c'); // its green turns bad after both restarts
    const plan = { steps: [10, 25, 50, 100], dwell: '4s' };
    const specs = [
      stackSpec(unique('restart-a'), a.blue, a.green, plan),
      stackSpec(unique('restart-b'), b.blue, b.green, plan),
      stackSpec(unique('restart-c'), c.blue, c.green, { ...plan, dwell: '6s' }),
    ];
    for (const s of specs) await sc.rollouts.start(s);
    await until(
      'every rollout ramping with a verdict',
      async () => (await Promise.all(specs.map((s) => status(s.target)))).every((s) => s.phase === 'ramping' && s.verdicts.length >= 1),
      120_000,
    );
    const before = await Promise.all(specs.map((s) => status(s.target)));

    let t0 = Date.now();
    await stack.restart('temporal');
    log(`Temporal server restarted and healthy in ${Date.now() - t0} ms`);
    await until(
      'progress after the server restart',
      async () => {
        const now = await Promise.all(specs.map((s) => status(s.target)));
        return now.every((s, i) => s.verdicts.length > before[i].verdicts.length) ? now : undefined;
      },
      180_000,
      500,
    );
    const mid = await Promise.all(specs.map((s) => status(s.target)));
    expect(
      mid.some((s) => s.phase === 'ramping'),
      'still mid-rollout for the database restart',
    ).toBe(true);

    t0 = Date.now();
    await stack.restart('postgresql');
    log(
      `PostgreSQL restarted and healthy in ${Date.now() - t0} ms (rollouts then: ${mid.map((s) => `${s.phase} ${s.greenPercent}%`).join(', ')})`,
    );
    await until(
      'progress after the database restart',
      async () => {
        const now = await Promise.all(specs.map((s) => status(s.target)));
        return now.every((s, i) => s.verdicts.length > mid[i].verdicts.length || s.phase === 'promoted') ? now : undefined;
      },
      180_000,
      500,
    );
    await simModel(stack, c.green, { errorRate: 0.5 });

    const results = await Promise.all(specs.map((s) => closedResult(sc, s.target, 300_000)));
    expect(results.map((r) => r.phase)).toEqual(['promoted', 'promoted', 'rolled_back']);
    expect(results.map((r) => r.greenPercent)).toEqual([100, 100, 0]);
    for (const r of results) {
      const steps = r.status.verdicts.map((v) => v.step);
      expect(steps).toEqual([...steps].sort((x, y) => x - y)); // never went back a step
    }
    expect(new Set(results[0].status.verdicts.map((v) => v.step))).toEqual(new Set([1, 2, 3, 4]));
  });

  it('an abort reaches both routers (0% green) within 1 s', async () => {
    const m = await models('abort');
    const spec = stackSpec(ABORT_TARGET, m.blue, m.green, { steps: [50, 100], dwell: '1h' });
    await sc.rollouts.start(spec);
    await until(
      'both routers at 50%',
      async () => (await Promise.all([1, 2].map((k) => routerTarget(stack, k, ABORT_TARGET)))).every((t) => t?.greenPercent === 50),
      120_000,
    );
    const t0 = performance.now();
    const abort = sc.rollouts.abort(ABORT_TARGET, 'router test');
    const followed = await Promise.all(
      [1, 2].map((k) =>
        until(
          `router-${k} at 0%`,
          async () => ((await routerTarget(stack, k, ABORT_TARGET))?.greenPercent === 0 ? performance.now() - t0 : undefined),
          10_000,
          10,
        ),
      ),
    );
    await abort;
    log(`abort → 0% green: router-1 ${followed[0].toFixed(0)} ms, router-2 ${followed[1].toFixed(0)} ms (limit 1000 ms)`);
    for (const ms of followed) expect(ms).toBeLessThan(1_000);
    expect((await closedResult(sc, ABORT_TARGET, 60_000)).phase).toBe('rolled_back');
  });

  it('a router restarted mid-traffic resumes at the current ratio', async () => {
    const m = await models('router');
    const spec = stackSpec(ROUTER_TARGET, m.blue, m.green, { steps: [50, 100], dwell: '1h' });
    await sc.rollouts.start(spec);
    await until('router-2 at 50%', async () => (await routerTarget(stack, 2, ROUTER_TARGET))?.greenPercent === 50, 120_000);
    // Traffic through router-2 (bounded: 4 clients, at most 60 s) while it restarts.
    let stop = false;
    const during: Array<Awaited<ReturnType<typeof chat>>> = [];
    const deadline = Date.now() + 60_000;
    const clients = [...Array(4)].map(async (_, c) => {
      for (let i = 0; !stop && Date.now() < deadline && i < 2_000; i++) {
        during.push(await chat(stack.routerUrl(2), ROUTER_TARGET, `during-${c}-${i}`));
        await new Promise((r) => setTimeout(r, 20));
      }
    });
    await new Promise((r) => setTimeout(r, 1_000));
    await stack.restart('router-2');
    const after = await routerTarget(stack, 2, ROUTER_TARGET);
    stop = true;
    await Promise.all(clients);
    expect(after).toMatchObject({ greenPercent: 50, phase: 'ramping' });
    // After the restart: every request answered, split by the rollout's ratio (sticky per user).
    const served = [];
    for (let i = 0; i < 200; i++) served.push(await chat(stack.routerUrl(2), ROUTER_TARGET, `after-${i}`));
    expect(served.filter((r) => !r.ok)).toEqual([]);
    const green = served.filter((r) => r.arm === 'green').length / served.length;
    log(
      `router-2 restarted mid-traffic: ${during.filter((r) => r.ok).length}/${during.length} answered during; after: ${(green * 100).toFixed(0)}% of 200 on green at 50%`,
    );
    expect(green).toBeGreaterThan(0.3);
    expect(green).toBeLessThan(0.7);
    await sc.rollouts.abort(ROUTER_TARGET, 'router test done');
  });

  it('`stack down` stops exactly what `stack up` started', async () => {
    const bystander: ChildProcess = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      const before = (await stack.status()).map((s) => ({ name: s.name, pid: s.pid!, ticks: processStartTicks(s.pid!) }));
      expect(before).toHaveLength(9);
      await sc.close();
      const r = await modelshift(['stack', 'down', '--state-dir', stateDir], env, 180_000);
      expect(r.code, r.stderr).toBe(0);
      for (const s of before) expect(processStartTicks(s.pid) === s.ticks, `${s.name} (pid ${s.pid}) still running`).toBe(false);
      expect(bystander.exitCode).toBeNull();
      expect(processStartTicks(bystander.pid!)).toBeDefined();
      const st = await modelshift(['stack', 'status', '--state-dir', stateDir], env, 60_000);
      expect(st.stdout).toMatch(/no stack is running/);
    } finally {
      bystander.kill();
    }
  });
});
