/**
 * `npx tsx bench/scale.ts [--sizes 50,200,500] [--soak 300] [--rate 500] [--budget 1800] [--state-dir D] [--port-offset 22000]`
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
 *
 * What a rollout costs under the current spec (default guards; `modelshift validate` accepts these plans):
 * with equal arms a step passes on 200 pairs of its own (machine pairsToPass: minSamples 50,
 * windowMinPairs 100, and the error bound within 0.02), and the last step promotes only once the whole
 * rollout has guards.promoteMinPairs (600) judged pairs. At probesPerRound 100: a size rollout (50 → 100 %)
 * runs 2 rounds at 50 % and collects to 600 at 100 % — about 6 rounds, 600 pairs (1,200 simulated requests);
 * a soak rollout (10/25/50/100 %) about 8 rounds (800 pairs), plus its dwell at each of the first three
 * steps. The simulator's models are not in the price catalog, so the cost guard does not compare cost.
 * Each size has a budget (`--budget`, seconds from the first start, default 1800): rollouts still running
 * then are counted in the row with their phase, step and reason, and terminated so the next size starts
 * clean. A soak rollout that ends wrong gets `modelshift status <target> --json` printed to stderr and
 * saved in the state folder.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { rolloutWorkflowId, type RolloutResult } from '../src/rollout/contract';
import { parseSpec, type RolloutSpec } from '../src/rollout/spec';
import { Stack } from '../src/stack/stack';
import { closedResult, connectStack, modelshift, routerTarget, simModel, until, type StackClient } from '../test/stack/helpers';
import { modelshiftEnv } from '../src/stack/settings';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const SIZES = arg('sizes', '50,200,500').split(',').filter(Boolean).map(Number);
const SOAK_S = Number(arg('soak', '300'));
const RATE = Number(arg('rate', '500'));
const SOAK_ROLLOUTS = 20;
/** Seconds a size may take from its first start before the rollouts still running are reported and terminated. */
const BUDGET_S = Number(arg('budget', '1800'));
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
    plan: { steps, dwell, probesPerRound: 100, concurrency: 20 },
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

const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');
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
  /** what did not promote: closed otherwise, or still running at the budget (then terminated), with why */
  notes: string[];
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

const sleep = (msToWait: number) => new Promise((r) => setTimeout(r, Math.max(0, msToWait)));

/** First `max` characters of a line (reasons carry numbers; a table cell needs one short line). */
const short = (line: string | undefined, max = 140) => {
  const l = (line ?? '').split('\n')[0];
  return l.length > max ? `${l.slice(0, max - 1)}…` : l;
};

/**
 * Wait (until `deadline`) for every target's workflow to close: a cheap visibility count while many run,
 * then describe() on each still open (authoritative). Returns how each closed, when the last one did, and
 * the targets still open at the deadline.
 */
async function waitClosed(
  sc: StackClient,
  targets: string[],
  runningQuery: string,
  deadline: number,
): Promise<{ closed: Map<string, { status: string; result?: RolloutResult }>; lastCloseMs: number; open: string[] }> {
  const closed = new Map<string, { status: string; result?: RolloutResult }>();
  let lastCloseMs = NaN;
  let open = [...targets];
  let described = 0;
  while (open.length && Date.now() < deadline) {
    const running = await sc.client.workflow.count(runningQuery).then(
      (c) => c.count,
      () => open.length,
    );
    // visibility lags a little behind: describe each open one when it says few are left, every 30 s, and
    // just before the deadline
    if (running > 25 && Date.now() - described < 30_000 && Date.now() < deadline - 10_000) {
      await sleep(Math.min(5_000, deadline - 10_000 - Date.now()));
      continue;
    }
    described = Date.now();
    const still: string[] = [];
    for (let i = 0; i < open.length; i += 25) {
      await Promise.all(
        open.slice(i, i + 25).map(async (t) => {
          try {
            const h = sc.client.workflow.getHandle(rolloutWorkflowId(t));
            const d = await h.describe();
            if (d.status.name === 'RUNNING' || d.status.name === 'CONTINUED_AS_NEW') return void still.push(t);
            const result = d.status.name === 'COMPLETED' ? ((await h.result()) as RolloutResult) : undefined;
            closed.set(t, { status: d.status.name, result });
            const at = d.closeTime?.getTime() ?? Date.now();
            lastCloseMs = Number.isFinite(lastCloseMs) ? Math.max(lastCloseMs, at) : at;
          } catch {
            still.push(t);
          }
        }),
      );
    }
    open = still;
    if (open.length) await sleep(Math.min(5_000, deadline - Date.now()));
  }
  return { closed, lastCloseMs, open };
}

/** Rollouts still running at the budget: their phase, step and reason (grouped), then terminate them. */
async function reportAndTerminate(sc: StackClient, open: string[]): Promise<string[]> {
  const groups = new Map<string, { count: number; example: string; pairs: number[] }>();
  for (let i = 0; i < open.length; i += 25) {
    await Promise.all(
      open.slice(i, i + 25).map(async (t) => {
        let key = 'status query failed';
        let example: string;
        let pairs = NaN;
        try {
          const st = await sc.rollouts.status(t, { queryTimeoutMs: 10_000 });
          key = `${st.phase} at step ${st.step}/${st.totalSteps}${st.waiting ? ` (waiting: ${st.waiting})` : ''}`;
          example = short(st.verdicts.at(-1)?.evaluation.reason ?? st.reason, 120);
          pairs = st.probes.pairs;
        } catch (e) {
          example = short((e as Error).message, 80);
        }
        const g = groups.get(key) ?? { count: 0, example, pairs: [] };
        g.count++;
        g.pairs.push(pairs);
        groups.set(key, g);
        await sc.client.workflow
          .getHandle(rolloutWorkflowId(t))
          .terminate('scale bench: over its time budget')
          .catch(() => undefined);
      }),
    );
  }
  return [...groups].map(
    ([key, g]) =>
      `${g.count} ${key}, ${fmt(pct(g.pairs.filter(Number.isFinite), 50))} pairs judged (median)${g.example ? `: "${g.example}"` : ''}`,
  );
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
  try {
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
    const deadline = t0 + BUDGET_S * 1000;
    for (let i = 0; i < targets.length; i += 25)
      await Promise.all(targets.slice(i, i + 25).map((t) => sc.rollouts.start(spec(t, blue, green, [50, 100], '200ms'))));
    err(`scale: ${n} rollouts started in ${Date.now() - t0} ms (budget ${BUDGET_S} s)`);
    const runningQuery = `WorkflowType="rolloutWorkflow" AND ExecutionStatus="Running" AND GreenModel="${green}" AND RolloutTarget!="${abortTarget}"`;
    // Abort the probe rollout while the others are running (once a tenth of them have closed, or after 20 s).
    await until(
      'load under way',
      async () => (await sc.client.workflow.count(runningQuery)).count <= Math.ceil(n * 0.9) || Date.now() - t0 > 20_000,
      60_000,
      500,
    ).catch(() => undefined);
    const abort = await measureAbort(stack, sc, abortTarget);
    const { closed, lastCloseMs, open } = await waitClosed(sc, targets, runningQuery, deadline);
    const wallS = ((open.length ? Date.now() : lastCloseMs) - t0) / 1000;
    clearInterval(sampler);
    const after = workers.map((p) => procStat(p)!);
    const notes: string[] = [];
    const others = new Map<string, { count: number; example: string }>();
    for (const [, c] of closed) {
      if (c.result?.phase === 'promoted') continue;
      const key = c.result ? c.result.phase : c.status.toLowerCase();
      const g = others.get(key) ?? { count: 0, example: short(c.result?.reason, 120) };
      g.count++;
      others.set(key, g);
    }
    for (const [key, g] of others) notes.push(`${g.count} ${key}${g.example ? `: "${g.example}"` : ''}`);
    if (open.length) {
      err(`scale: ${open.length} of ${n} rollouts still running at the ${BUDGET_S} s budget; reading their status, then terminating them`);
      notes.push(
        `${open.length} still running at the ${BUDGET_S} s budget, then terminated — ${(await reportAndTerminate(sc, open)).join('; ')}`,
      );
    }
    const promotedTargets = targets.filter((t) => closed.get(t)?.result?.phase === 'promoted');
    const overhead: number[] = [];
    const gateway: number[] = [];
    let events = 0;
    let histories = 0;
    const sample = targets.filter((_, i) => i % Math.max(1, Math.floor(n / 50)) === 0); // up to ~50 histories
    for (const t of sample) {
      const r = await roundTimes(sc, t).catch(() => undefined);
      if (!r) continue;
      overhead.push(...r.overhead);
      gateway.push(...r.gateway);
      if (promotedTargets.includes(t)) {
        events += r.events / r.steps;
        histories++;
      }
    }
    return {
      n,
      promoted: promotedTargets.length,
      notes,
      wallS,
      overheadP50: pct(overhead, 50),
      overheadP95: pct(overhead, 95),
      gatewayP50: pct(gateway, 50),
      eventsPerStep: histories ? events / histories : NaN,
      cpuMsPerRollout: ((sum(after.map((a) => a.cpuS)) - sum(before.map((b) => b.cpuS))) * 1000) / n,
      memKbPerRollout: ((peakRss - sum(before.map((b) => b.rssMb))) * 1024) / n,
      abortMs: abort.routers,
      abortAckMs: abort.ackMs,
      abortQueued: abort.queued,
    };
  } finally {
    clearInterval(sampler);
  }
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
    else {
      totals.stuck.push(
        `${target} (${bad ? 'green turned bad' : 'equal arms'}): ${r.phase} at step ${r.status.step}, "${short(r.reason, 300)}"`,
      );
      await saveStatus(stack, target);
    }
  } catch (e) {
    totals.stuck.push(`${target}: ${short((e as Error).message, 300)}`);
    await saveStatus(stack, target);
  }
}

/** `modelshift status <target> --json` against this stack, to stderr and <stateDir>/status-<target>.json. */
async function saveStatus(stack: Stack, target: string): Promise<void> {
  const r = await modelshift(['status', target, '--json'], { ...process.env, ...modelshiftEnv(stack.settings) }, 60_000);
  const file = join(stateDir, `status-${target}.json`);
  writeFileSync(file, r.stdout || r.stderr);
  err(`scale: ${target} ended wrong; modelshift status ${target} --json (exit ${r.code}, saved in ${file}):\n${r.stdout || r.stderr}`);
}

async function main(): Promise<void> {
  const stack = Stack.from({ stateDir, portOffset: OFFSET, workers: 3, routers: 2 }, env);
  err(`scale: bringing the stack up in ${stateDir} (ports +${OFFSET})`);
  // Interrupted (Ctrl-C, a timeout's SIGTERM): the stack still comes down.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      err(`scale: ${sig}; bringing the stack down`);
      void stack
        .down(err)
        .catch(() => undefined)
        .finally(() => process.exit(130));
    });
  }
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
        `| ${r.n} | ${r.promoted}/${r.n}${r.notes.length ? ` (${r.notes.join('; ')})` : ''} | ${fmt(r.wallS, 1)} | ${fmt(r.overheadP50)} | ${fmt(r.overheadP95)} | ${fmt(r.gatewayP50)} | ${fmt(r.eventsPerStep, 1)} | ${fmt(r.cpuMsPerRollout, 1)} | ${fmt(r.memKbPerRollout)} | ${r.abortMs.map((x) => fmt(x)).join(' / ')} | ${fmt(r.abortAckMs)}${r.abortQueued ? ' (queued as a signal)' : ''} |`,
      );
    }
  } finally {
    await sc.close().catch(() => undefined);
    await stack.down(err);
    if (ownState) rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
