/**
 * `npx tsx bench/scale.ts [--sizes 50,200,500] [--soak 300] [--rate 500] [--state-dir D] [--port-offset 22000]`
 *
 * The product on the native production stack (src/stack: PostgreSQL, the Temporal server with SQL
 * visibility, 3 workers, 2 routers, the simulator at zero latency):
 *
 * 1. For each size, that many concurrent rollouts (equal healthy arms, steps 50 → 100 %): orchestration
 *    overhead per round (round wall time − gateway time, from each round's history: scheduled → the
 *    workflow task after its completion, minus started → completed), history events per step, worker CPU
 *    and memory per rollout, and one more rollout aborted under that load, timed to 0 % at both routers.
 * 2. A soak: both routers at `--rate` requests/s for `--soak` seconds (open loop, bounded), while 20
 *    rollouts start, ramp, and roll back (10, whose green turns bad at step 2) or promote (10); totals:
 *    requests sent / answered / errors, rollouts started / ended right, router and worker memory over time.
 *
 * The soak runs first, then the sizes; each row is printed as soon as it is measured. All traffic is on
 * 127.0.0.1; every loop is bounded in count and time.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { rolloutWorkflowId } from '../src/rollout/contract';
import { parseSpec, type RolloutSpec } from '../src/rollout/spec';
import { Stack } from '../src/stack/stack';
import { closedResult, connectStack, routerTarget, simModel, until, type StackClient } from '../test/stack/helpers';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const SIZES = arg('sizes', '50,200,500').split(',').filter(Boolean).map(Number);
const SOAK_S = Number(arg('soak', '300'));
const RATE = Number(arg('rate', '500'));
const SOAK_ROLLOUTS = 20;
const OFFSET = Number(arg('port-offset', '22000'));
const ownState = process.argv.indexOf('--state-dir') < 0;
const stateDir = ownState ? mkdtempSync(join(tmpdir(), 'modelshift-scale-')) : arg('state-dir', '');
const err = (l: string) => process.stderr.write(`${l}\n`);

const soakTargets = [...Array(SOAK_ROLLOUTS)].map((_, i) => `soak-${i + 1}`);
const abortTargets = SIZES.map((n) => `scale-abort-${n}`);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  GATEWAY_BASE_URL: '',
  GATEWAY_API_KEY: 'sim-key',
  SIM_LATENCY_SCALE: '0',
  ROUTER_TARGETS: [...soakTargets, ...abortTargets].map((t) => `${t}=scale-blue`).join(','),
  ROUTER_REPORT_INTERVAL_SECONDS: '5',
};

function spec(target: string, blue: string, green: string, steps: number[], dwell: string): RolloutSpec {
  return parseSpec({
    target,
    blue: { model: blue },
    green: { model: green },
    plan: { steps, dwell, samplesPerStep: 100, concurrency: 20 },
    rateLimit: { requestsPerMinute: 1_000_000 },
    retry: { attempts: 2, minBackoff: '50ms', maxBackoff: '200ms' },
    request: { timeout: '10s' },
  });
}

const CLK = 100; // USER_HZ
function procStat(pid: number): { cpuS: number; rssMb: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const rssPages = Number(f[21]);
    return { cpuS: (Number(f[11]) + Number(f[12])) / CLK, rssMb: (rssPages * 4096) / 2 ** 20 };
  } catch {
    return undefined;
  }
}

async function pids(stack: Stack, prefix: string): Promise<number[]> {
  return (await stack.status()).filter((s) => s.name.startsWith(prefix) && s.pid).map((s) => s.pid!);
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : NaN;

/** Per round (each non-preflight activity): wall = scheduled → the next workflow task completed after it; gateway = started → completed. */
async function roundTimes(
  sc: StackClient,
  target: string,
): Promise<{ overhead: number[]; gateway: number[]; events: number; steps: number }> {
  const h = await sc.client.workflow.getHandle(rolloutWorkflowId(target)).fetchHistory();
  const events = h.events ?? [];
  const byId = new Map<string, { scheduled: number; started?: number; preflight: boolean }>();
  const overhead: number[] = [];
  const gateway: number[] = [];
  let pending: Array<{ scheduled: number; started: number; completed: number }> = [];
  for (const e of events) {
    const id = String(e.eventId);
    const t = ms(e.eventTime);
    const s = e.activityTaskScheduledEventAttributes;
    if (s) byId.set(id, { scheduled: t, preflight: /preflight/i.test(s.activityType?.name ?? '') });
    const st = e.activityTaskStartedEventAttributes;
    if (st) byId.get(String(st.scheduledEventId))!.started = t;
    const c = e.activityTaskCompletedEventAttributes;
    if (c) {
      const a = byId.get(String(c.scheduledEventId))!;
      if (!a.preflight && a.started !== undefined) pending.push({ scheduled: a.scheduled, started: a.started, completed: t });
    }
    if (e.workflowTaskCompletedEventAttributes) {
      for (const p of pending) {
        gateway.push(p.completed - p.started);
        overhead.push(t - p.scheduled - (p.completed - p.started));
      }
      pending = [];
    }
  }
  return { overhead, gateway, events: events.length, steps: 2 };
}

/** Abort `target` and time it to 0 % at both routers (NaN when a router did not follow within 180 s). */
async function measureAbort(stack: Stack, sc: StackClient, target: string): Promise<{ routers: number[]; ackMs: number; queued: boolean }> {
  const t0 = performance.now();
  let ackMs = NaN;
  let queued = false;
  const abort = sc.rollouts.abort(target, 'scale bench').then((r) => {
    ackMs = performance.now() - t0;
    queued = r.queued;
  });
  const routers = await Promise.all(
    [1, 2].map((k) =>
      until(
        `router-${k} at 0%`,
        async () => ((await routerTarget(stack, k, target))?.greenPercent === 0 ? performance.now() - t0 : undefined),
        180_000,
        20,
      ).catch(() => NaN),
    ),
  );
  await abort.catch(() => undefined);
  return { routers, ackMs, queued };
}

interface SizeRow {
  n: number;
  promoted: number;
  wallS: number;
  overheadP50: number;
  overheadP95: number;
  gatewayP50: number;
  eventsPerStep: number;
  cpuMsPerRollout: number;
  memKbPerRollout: number;
  abortMs: number[];
  abortAckMs: number;
  abortQueued: boolean;
}

async function runSize(stack: Stack, sc: StackClient, n: number): Promise<SizeRow> {
  const blue = `scale-blue-${n}`;
  const green = `scale-green-${n}`;
  const base = { errorRate: 0, timeoutRate: 0, malformedRate: 0, latencyMs: 0, rpm: null };
  await simModel(stack, blue, base);
  await simModel(stack, green, base);
  const workers = await pids(stack, 'worker-');
  const before = workers.map((p) => procStat(p)!);
  let peakRss = sum(before.map((b) => b.rssMb));
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, sum(workers.map((p) => procStat(p)?.rssMb ?? 0)));
  }, 250);
  const abortTarget = `scale-abort-${n}`;
  await sc.rollouts.start(spec(abortTarget, blue, green, [50, 100], '1h'));
  await until(
    'both routers at 50% for the abort probe',
    async () => (await Promise.all([1, 2].map((k) => routerTarget(stack, k, abortTarget)))).every((t) => t?.greenPercent === 50),
    120_000,
    100,
  );
  const targets = [...Array(n)].map((_, i) => `scale-${n}-${i}-${Date.now().toString(36)}`);
  const t0 = Date.now();
  for (let i = 0; i < targets.length; i += 25)
    await Promise.all(targets.slice(i, i + 25).map((t) => sc.rollouts.start(spec(t, blue, green, [50, 100], '200ms'))));
  err(`scale: ${n} rollouts started in ${Date.now() - t0} ms`);
  // Abort the probe rollout while the others are running (once a third of them have a verdict).
  await until(
    'load under way',
    async () => {
      const running = await sc.client.workflow.count(`WorkflowType="rolloutWorkflow" AND ExecutionStatus="Running"`);
      return running.count <= Math.ceil(n * 0.9) + 1 || Date.now() - t0 > 20_000;
    },
    600_000,
    500,
  );
  const abort = await measureAbort(stack, sc, abortTarget);
  const results = [];
  for (const t of targets) results.push(await closedResult(sc, t, 900_000));
  const wallS = (Date.now() - t0) / 1000;
  clearInterval(sampler);
  const after = workers.map((p) => procStat(p)!);
  const overhead: number[] = [];
  const gateway: number[] = [];
  let events = 0;
  const sample = targets.filter((_, i) => i % Math.max(1, Math.floor(n / 50)) === 0); // up to ~50 histories
  for (const t of sample) {
    const r = await roundTimes(sc, t);
    overhead.push(...r.overhead);
    gateway.push(...r.gateway);
    events += r.events / r.steps;
  }
  return {
    n,
    promoted: results.filter((r) => r.phase === 'promoted').length,
    wallS,
    overheadP50: pct(overhead, 50),
    overheadP95: pct(overhead, 95),
    gatewayP50: pct(gateway, 50),
    eventsPerStep: events / sample.length,
    cpuMsPerRollout: ((sum(after.map((a) => a.cpuS)) - sum(before.map((b) => b.cpuS))) * 1000) / n,
    memKbPerRollout: ((peakRss - sum(before.map((b) => b.rssMb))) * 1024) / n,
    abortMs: abort.routers,
    abortAckMs: abort.ackMs,
    abortQueued: abort.queued,
  };
}

interface SoakTotals {
  sent: number;
  answered: number;
  errors: number;
  started: number;
  endedRight: number;
  stuck: string[];
  mem: Array<{ t: number; routerMb: number; workerMb: number }>;
}

/** Open-loop traffic at `rate`/s through both routers for `seconds` (bounded: rate × seconds requests). */
async function traffic(stack: Stack, rate: number, seconds: number, totals: SoakTotals): Promise<void> {
  const agent = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
  const urls = [stack.routerUrl(1), stack.routerUrl(2)];
  const total = rate * seconds;
  const inflight = new Set<Promise<void>>();
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    totals.sent++;
    const body = JSON.stringify({
      model: soakTargets[i % soakTargets.length],
      user: `u${i % 5000}`,
      messages: [{ role: 'user', content: 'What is 2+2?' }],
      max_tokens: 16,
    });
    const p = request(`${urls[i % 2]}/v1/chat/completions`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
      dispatcher: agent,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    })
      .then(async (r) => {
        await r.body.dump();
        if (r.statusCode >= 200 && r.statusCode < 300) totals.answered++;
        else totals.errors++;
      })
      .catch(() => {
        totals.errors++;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.allSettled([...inflight]);
  await agent.close();
}

async function soak(stack: Stack, sc: StackClient): Promise<SoakTotals> {
  const totals: SoakTotals = { sent: 0, answered: 0, errors: 0, started: 0, endedRight: 0, stuck: [], mem: [] };
  const base = { errorRate: 0, timeoutRate: 0, malformedRate: 0, latencyMs: 0, rpm: null };
  await simModel(stack, 'scale-blue', base);
  const routers = await pids(stack, 'router-');
  const workers = await pids(stack, 'worker-');
  const t0 = Date.now();
  const memTimer = setInterval(() => {
    totals.mem.push({
      t: Math.round((Date.now() - t0) / 1000),
      routerMb: sum(routers.map((p) => procStat(p)?.rssMb ?? 0)),
      workerMb: sum(workers.map((p) => procStat(p)?.rssMb ?? 0)),
    });
  }, 10_000);
  const load = traffic(stack, RATE, SOAK_S, totals);
  const rollouts = soakTargets.map((target, i) => soakRollout(stack, sc, target, i, totals));
  await Promise.allSettled([load, ...rollouts]);
  clearInterval(memTimer);
  return totals;
}

async function soakRollout(stack: Stack, sc: StackClient, target: string, i: number, totals: SoakTotals): Promise<void> {
  const base = { errorRate: 0, timeoutRate: 0, malformedRate: 0, latencyMs: 0, rpm: null };
  try {
    // Spread the starts over the first 60 % of the soak; odd ones get a green that turns bad at step 2.
    await new Promise((r) => setTimeout(r, (i * SOAK_S * 600) / SOAK_ROLLOUTS));
    const green = `soak-green-${i}`;
    await simModel(stack, green, base);
    const bad = i % 2 === 1;
    await sc.rollouts.start(spec(target, 'scale-blue', green, [10, 25, 50, 100], `${Math.max(2, Math.round(SOAK_S / 60))}s`));
    totals.started++;
    if (bad) {
      await until(
        `${target} at step 2`,
        async () => ((await sc.rollouts.status(target)).step >= 2 ? true : undefined),
        SOAK_S * 1000 + 120_000,
        500,
      );
      await simModel(stack, green, { errorRate: 0.5 });
    }
    const r = await closedResult(sc, target, SOAK_S * 1000 + 300_000);
    if (r.phase === (bad ? 'rolled_back' : 'promoted')) totals.endedRight++;
    else totals.stuck.push(`${target}: ${r.phase}`);
  } catch (e) {
    totals.stuck.push(`${target}: ${(e as Error).message.split('\n')[0]}`);
  }
}

const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');

async function main(): Promise<void> {
  const stack = Stack.from({ stateDir, portOffset: OFFSET, workers: 3, routers: 2 }, env);
  err(`scale: bringing the stack up in ${stateDir} (ports +${OFFSET})`);
  await stack.up(err);
  const sc = await connectStack(stack);
  try {
    // The soak first, then the sizes, each row printed as soon as it is measured.
    if (SOAK_S > 0) {
      err(`scale: soak, ${RATE} requests/s for ${SOAK_S} s with ${SOAK_ROLLOUTS} rollouts…`);
      const s = await soak(stack, sc);
      const first = s.mem.slice(0, 3);
      const last = s.mem.slice(-3);
      const avg = (xs: typeof s.mem, k: 'routerMb' | 'workerMb') => sum(xs.map((m) => m[k])) / Math.max(1, xs.length);
      console.log(
        `\nsoak: ${RATE} requests/s through 2 routers for ${SOAK_S} s, ${SOAK_ROLLOUTS} rollouts (10 promote, 10 roll back after ramping)`,
      );
      console.log(`  requests sent ${s.sent}, answered ${s.answered}, errors ${s.errors}`);
      console.log(
        `  rollouts started ${s.started}, ended right ${s.endedRight}${s.stuck.length ? `, not right: ${s.stuck.join('; ')}` : ''}`,
      );
      console.log(
        `  router RSS (both) first 30 s ${fmt(avg(first, 'routerMb'))} MiB → last 30 s ${fmt(avg(last, 'routerMb'))} MiB; workers (3) ${fmt(avg(first, 'workerMb'))} → ${fmt(avg(last, 'workerMb'))} MiB`,
      );
      console.log(
        `  memory every 10 s (s: routers/workers MiB): ${s.mem.map((m) => `${m.t}:${fmt(m.routerMb)}/${fmt(m.workerMb)}`).join(' ')}`,
      );
    }
    if (SIZES.length) {
      console.log(
        '\n| concurrent rollouts | promoted | wall s | overhead/round p50 ms | p95 ms | gateway/round p50 ms | history events/step | worker CPU ms/rollout | worker memory KiB/rollout | abort → 0% at router-1 / router-2 ms | abort acknowledged ms |',
      );
      console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    }
    for (const n of SIZES) {
      err(`scale: ${n} concurrent rollouts…`);
      const r = await runSize(stack, sc, n);
      console.log(
        `| ${r.n} | ${r.promoted}/${r.n} | ${fmt(r.wallS, 1)} | ${fmt(r.overheadP50)} | ${fmt(r.overheadP95)} | ${fmt(r.gatewayP50)} | ${fmt(r.eventsPerStep, 1)} | ${fmt(r.cpuMsPerRollout, 1)} | ${fmt(r.memKbPerRollout)} | ${r.abortMs.map((x) => fmt(x)).join(' / ')} | ${fmt(r.abortAckMs)}${r.abortQueued ? ' (queued as a signal)' : ''} |`,
      );
    }
  } finally {
    await sc.close().catch(() => undefined);
    await stack.down(err);
    if (ownState) rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
