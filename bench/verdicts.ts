/**
 * Monte-Carlo bench for the rollout's verdicts (no server): the rollout machine itself
 * (src/rollout/machine.ts, the workflow's policy) driven over simulated time, on scenarios of every class
 * a production gateway shows — heavy tails, shared outages and brown-outs, base error rates from 0.1 % to
 * 8 %, rate limits, one-prompt and late (load-dependent) regressions, latency within and beyond tolerance,
 * a slow-replica tail, a gateway that substitutes models, small probe rounds — and the seed's rule beside it.
 *
 *   npx tsx bench/verdicts.ts [--runs 400] [--seed 1] [--scenarios id,id,…] [--probes 50] [--rate 120]
 *                             [--traffic 10] [--dwell 60] [--policy rollback|advance] [--seedrule]
 *
 * --rate: probe pairs per minute (the same for every design compared); --traffic: live requests per
 * second through the router (green's share follows the step). Prints Markdown tables.
 */
import { emptyArmStats, recordOutcome, toWireArmStats, type ArmStats, type Outcome } from '../src/decision/arm-stats';
import { DEFAULT_GUARDS } from '../src/decision/defaults';
import { OUTCOME_CODES, emptyColumns, type ArmColumns, type ProbeRound } from '../src/decision/paired';
import { seedRecordedGreenError, seedShouldRollback, SEED_SAMPLES_PER_STEP, SEED_STEP_INCREMENT } from '../src/decision/seed-rule';
import * as m from '../src/rollout/machine';
import { parseSpec, type RolloutSpec, type SpecInput } from '../src/rollout/spec';
import { percentile } from '../src/stats/percentile';
import { mulberry32 } from '../src/stats/rng';

export { mulberry32 };

// ---------- draws ----------
export function normal(rng: () => number): number {
  const u = 1 - rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}
const Z99 = 2.3263478740408408;

/** An arm's latency: lognormal (median p50, spread from p99), optionally with a heavy tail or a slow replica. */
export interface LatencyModel {
  p50: number;
  p99: number;
  /** lognormal σ given directly (overrides p99) */
  sigma?: number;
  /** share of requests drawn from a Pareto tail starting at the p99 (shape 1.5) */
  paretoShare?: number;
  /** share of requests served by a slow replica, and how much slower it is */
  slowShare?: number;
  slowFactor?: number;
}

export interface ArmModel {
  errorRate: number;
  latency: LatencyModel;
  outputTokens: { p50: number; p99: number };
  inputTokens: number;
  /** USD per 1M input / output tokens; 0/0 = unpriced */
  priceIn: number;
  priceOut: number;
  /** share of requests answered 429 (capacity) */
  rateLimited?: number;
  /** share of requests the gateway answers from another model (a fallback) */
  substituted?: number;
  /** golden-check fail probability per prompt index (default: checkFail) */
  checkFailByPrompt?: number[];
  checkFail?: number;
}

export const BLUE: ArmModel = {
  errorRate: 0.01,
  latency: { p50: 450, p99: 1200 },
  outputTokens: { p50: 150, p99: 600 },
  inputTokens: 300,
  priceIn: 0.5,
  priceOut: 1.5,
  checkFail: 0.02,
};

/** `shared` is the pair's common factor, already scaled by √ρ (same prompt, same moment); the private part fills the rest. */
function latencyOf(rng: () => number, l: LatencyModel, shared: number): number {
  const sigma = l.sigma ?? (Math.log(l.p99) - Math.log(l.p50)) / Z99;
  let ms = l.p50 * Math.exp(sigma * (shared + normal(rng) * Math.sqrt(1 - RHO)));
  if (l.paretoShare && rng() < l.paretoShare) ms = l.p99 * Math.pow(1 - rng(), -1 / 1.5);
  if (l.slowShare && rng() < l.slowShare) ms *= l.slowFactor ?? 2;
  return Math.min(ms, 600_000);
}
/** The scenario's pair correlation (set per run; the bench is single-threaded). */
let RHO = 0;

/** The world at time t: a shared outage or brown-out (both arms), and green's load-dependent degradation. */
export interface World {
  /** both arms answered 503 for `secs` every `everySecs` */
  outage?: { everySecs: number; secs: number };
  /** both arms get `extraErrors` for `secs` every `everySecs` */
  brownout?: { everySecs: number; secs: number; extraErrors: number };
  /** green's extra error rate as a function of the green percent in force (load- or ratio-dependent) */
  greenExtraErrors?: (greenPercent: number) => number;
  /** pairs' latency correlation (same prompt, same moment): 0 = independent */
  rho?: number;
}

export interface Scenario {
  id: string;
  name: string;
  green: ArmModel;
  blue?: ArmModel;
  world?: World;
  /** true if rolling back is the right answer */
  bad: boolean;
  /** spec overrides (e.g. small probe rounds) */
  spec?: Partial<SpecInput>;
  /** prompts with golden checks (default 5) */
  prompts?: number;
}

const inOutage = (w: World | undefined, tSec: number) => !!w?.outage && tSec % w.outage.everySecs < w.outage.secs;
const brownout = (w: World | undefined, tSec: number) =>
  w?.brownout && tSec % w.brownout.everySecs < w.brownout.secs ? w.brownout.extraErrors : 0;

/** One request to an arm at time t: an outcome in the activity's terms. */
/** Tries per request on a 429 (the spec's retry.attempts, honouring Retry-After): only the last 429 is final. */
const ATTEMPTS = 3;

function request(
  rng: () => number,
  arm: ArmModel,
  w: World | undefined,
  tSec: number,
  extraErrors: number,
  shared: number,
  prompt: number,
) {
  if (arm.rateLimited) {
    let tries = 0;
    while (tries < ATTEMPTS && rng() < arm.rateLimited) tries++;
    if (tries === ATTEMPTS) return { code: 'rate_limited' as const, ms: 0, usd: 0, out: 0, check: -1 };
  }
  if (inOutage(w, tSec) || rng() < arm.errorRate + extraErrors + brownout(w, tSec))
    return { code: 'server' as const, ms: 0, usd: 0, out: 0, check: -1 };
  if (arm.substituted && rng() < arm.substituted) return { code: 'substituted' as const, ms: 0, usd: 0, out: 0, check: -1 };
  const sigmaTok = (Math.log(arm.outputTokens.p99) - Math.log(arm.outputTokens.p50)) / Z99;
  const out = Math.round(arm.outputTokens.p50 * Math.exp(sigmaTok * normal(rng)));
  const usd = (arm.inputTokens * arm.priceIn + out * arm.priceOut) / 1e6;
  const failP = arm.checkFailByPrompt?.[prompt] ?? arm.checkFail ?? 0;
  return { code: 'ok' as const, ms: Math.round(latencyOf(rng, arm.latency, shared)), usd, out, check: rng() < failP ? 0 : 1 };
}

// ---------- the machine over simulated time ----------
export interface BenchConfig {
  runs: number;
  seed: number;
  /** probe pairs per minute */
  pairsPerMinute: number;
  /** live requests per second through the router */
  traffic: number;
  dwellSecs: number;
  probesPerRound: number;
  policy: 'rollback' | 'advance';
}

export interface RunResult {
  rolledBack: boolean;
  /** how it ended: a Fail verdict, the hold limit, the wait budget, or promoted */
  by: 'fail' | 'hold' | 'wait' | 'promoted';
  minutes: number;
  /** probe requests sent (both arms) */
  probeRequests: number;
  probeUsd: number;
  /** live requests green served before the end */
  greenLive: number;
  failedGuards: string[];
  /** the rollout's final state (for a closer look) */
  state: m.RolloutState;
}

export function benchSpec(sc: Scenario, cfg: BenchConfig): RolloutSpec {
  const prompts = Array.from({ length: sc.prompts ?? 5 }, (_, i) => ({
    messages: [{ role: 'user' as const, content: `prompt ${i}` }],
    expect: { contains: 'x' },
  }));
  return parseSpec({
    target: 'bench',
    blue: { model: 'blue' },
    green: { model: 'green' },
    plan: { steps: [10, 25, 50, 100], dwell: cfg.dwellSecs, probesPerRound: cfg.probesPerRound },
    prompts,
    onFailure: cfg.policy === 'rollback' ? 'rollback' : 'pause',
    ...sc.spec,
  });
}

/** A probe round of `pairs` pairs starting at `t0` (s), at the configured rate. */
export function probeRound(
  rng: () => number,
  sc: Scenario,
  cfg: BenchConfig,
  pairs: number,
  t0: number,
  greenPercent: number,
  promptOffset: number,
  promptCount: number,
) {
  const blue = sc.blue ?? BLUE;
  const cols: { blue: ArmColumns; green: ArmColumns } = { blue: emptyColumns(), green: emptyColumns() };
  const prompt: number[] = [];
  let usd = 0;
  for (let i = 0; i < pairs; i++) {
    const t = t0 + (i * 60) / cfg.pairsPerMinute;
    const p = (promptOffset + i) % promptCount;
    const shared = Math.sqrt(RHO) * normal(rng);
    const extra = sc.world?.greenExtraErrors?.(greenPercent) ?? 0;
    const b = request(rng, blue, sc.world, t, 0, shared, p);
    const g = request(rng, sc.green, sc.world, t, extra, shared, p);
    prompt.push(p);
    for (const [arm, o] of [
      ['blue', b],
      ['green', g],
    ] as const) {
      const c = cols[arm];
      c.code.push(OUTCOME_CODES.indexOf(o.code));
      c.ms.push(o.ms);
      c.microUsd.push(Math.round(o.usd * 1e6));
      c.inputTokens.push(o.code === 'ok' ? 300 : 0);
      c.outputTokens.push(o.out);
      c.check.push(o.check);
      c.retriedFailures.push(0);
      usd += o.usd;
    }
  }
  const round: ProbeRound = { prompt, ...cols };
  if (sc.green.priceIn === 0 && sc.green.priceOut === 0) round.unpriced = { green: true };
  return { round, secs: (pairs * 60) / cfg.pairsPerMinute, usd };
}

/** Live traffic for `secs` at the green percent in force: what a router would report. */
function liveBatch(rng: () => number, sc: Scenario, cfg: BenchConfig, secs: number, t0: number, greenPercent: number, id: string) {
  const n = Math.round(cfg.traffic * secs);
  const arms = { blue: emptyArmStats(), green: emptyArmStats() } as Record<'blue' | 'green', ArmStats>;
  let greenServed = 0;
  for (let i = 0; i < n; i++) {
    const t = t0 + (i * secs) / Math.max(1, n);
    const toGreen = rng() * 100 < greenPercent;
    const model = toGreen ? sc.green : (sc.blue ?? BLUE);
    const extra = toGreen ? (sc.world?.greenExtraErrors?.(greenPercent) ?? 0) : 0;
    const o = request(rng, model, sc.world, t, extra, 0, i % 5);
    const outcome: Outcome =
      o.code === 'ok'
        ? { ok: true, latencyMs: o.ms, inputTokens: 300, outputTokens: o.out, costUsd: o.usd }
        : { ok: false, errorClass: o.code, latencyMs: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
    recordOutcome(arms[toGreen ? 'green' : 'blue'], outcome);
    if (toGreen) greenServed++;
  }
  return { batch: { batchId: id, blue: toWireArmStats(arms.blue), green: toWireArmStats(arms.green) }, greenServed };
}

const LIVE_INTERVAL_SECS = 5;

/** One simulated rollout: the machine's own loop (advance, probe rounds, judge, dwell with live batches). */
export function runOnce(rng: () => number, sc: Scenario, cfg: BenchConfig, spec: RolloutSpec): RunResult {
  RHO = sc.world?.rho ?? 0;
  let s = m.preflightPassed(m.initialState(''));
  let t = 0;
  let probeRequests = 0;
  let probeUsd = 0;
  let greenLive = 0;
  let batchNo = 0;
  let last: m.Decision | undefined;
  const live = (secs: number) => {
    const r = liveBatch(rng, sc, cfg, secs, t, s.greenPercent, `b${batchNo++}`);
    greenLive += r.greenServed;
    s = m.acceptLiveBatch(s, r.batch).state;
  };
  for (let guard = 0; guard < 100_000; guard++) {
    const next = m.next(s);
    if (next.kind === 'ended') break;
    if (next.kind === 'paused')
      s = m.resume(s); // `advance`: the operator accepts the risk at once
    else if (next.kind === 'advance') s = m.advance(spec, s, t * 1000);
    else if (next.kind === 'sample') {
      const r = m.nextRound(spec, s);
      const round = probeRound(rng, sc, cfg, spec.probesPerRound, t, s.greenPercent, r.promptOffset, spec.prompts.length);
      if (cfg.traffic > 0) live(round.secs); // live outcomes reported during the round
      t += round.secs;
      probeRequests += 2 * spec.probesPerRound;
      probeUsd += round.usd;
      s = m.recordRound(spec, s, { round: round.round });
      const j = m.judge(spec, s, '', t * 1000, false);
      s = j.state;
      last = j.decision;
    } else if (next.kind === 'dwell') {
      // live batches during the dwell, each judged (only a Fail changes anything)
      let left = next.ms / 1000;
      while (left > 0 && !m.isClosed(s)) {
        const secs = Math.min(LIVE_INTERVAL_SECS, left);
        if (cfg.traffic > 0) {
          live(secs);
          const j = m.judge(spec, s, '', (t + secs) * 1000, true);
          s = j.state;
          last = j.decision;
        }
        t += secs;
        left -= secs;
        s = m.dwelt(s, secs * 1000);
      }
    } else throw new Error(`bench: unexpected ${next.kind}`);
  }
  const rolledBack = s.outcome?.phase === 'rolled_back';
  const reason = s.outcome?.reason ?? '';
  const by: RunResult['by'] = !rolledBack
    ? 'promoted'
    : reason.startsWith('failed verdict')
      ? 'fail'
      : reason.startsWith('waited')
        ? 'wait'
        : 'hold';
  const failedGuards =
    rolledBack && last ? (s.lastEvaluation?.guards.filter((g) => g.verdict === 'Fail').map((g) => `${g.guard}/${g.scope}`) ?? []) : [];
  return { rolledBack, by, minutes: t / 60, probeRequests, probeUsd, greenLive, failedGuards, state: s };
}

// ---------- the seed's rule on the same scenarios ----------
/** The Python design's loop: 10 routed samples per step, +10 % steps, its fallback hiding green errors, 60 s per step. */
export function runSeed(rng: () => number, sc: Scenario, cfg: BenchConfig): RunResult {
  let greenErrors = 0;
  let all = 0;
  let greenLive = 0;
  const nSteps = Math.round(1 / SEED_STEP_INCREMENT);
  for (let si = 1; si <= nSteps; si++) {
    const ratio = si * SEED_STEP_INCREMENT;
    const t = si * 60;
    for (let i = 0; i < SEED_SAMPLES_PER_STEP; i++) {
      all++;
      if (rng() >= ratio) continue;
      const extra = sc.world?.greenExtraErrors?.(ratio * 100) ?? 0;
      const gFail = inOutage(sc.world, t) || rng() < sc.green.errorRate + extra + brownout(sc.world, t);
      const bRetryFail = gFail && rng() < (sc.blue ?? BLUE).errorRate;
      if (seedRecordedGreenError(gFail, bRetryFail)) greenErrors++;
    }
    greenLive += cfg.traffic * 60 * ratio;
    if (seedShouldRollback(greenErrors, all))
      return {
        rolledBack: true,
        by: 'fail',
        minutes: si,
        probeRequests: all,
        probeUsd: 0,
        greenLive,
        failedGuards: ['seed'],
        state: m.initialState(''),
      };
  }
  return {
    rolledBack: false,
    by: 'promoted',
    minutes: nSteps,
    probeRequests: all,
    probeUsd: 0,
    greenLive,
    failedGuards: [],
    state: m.initialState(''),
  };
}

// ---------- scenarios ----------
const within = { ...BLUE };
export const SCENARIOS: Scenario[] = [
  { id: 'eq', name: 'identical (1% errors)', green: { ...BLUE }, bad: false },
  {
    id: 'eq-heavy',
    name: 'identical, heavy tail (lognormal σ = 1)',
    blue: { ...BLUE, latency: { p50: 450, p99: 4600, sigma: 1 } },
    green: { ...BLUE, latency: { p50: 450, p99: 4600, sigma: 1 } },
    bad: false,
  },
  {
    id: 'eq-pareto',
    name: 'identical, 5% Pareto tail',
    blue: { ...BLUE, latency: { ...BLUE.latency, paretoShare: 0.05 } },
    green: { ...BLUE, latency: { ...BLUE.latency, paretoShare: 0.05 } },
    bad: false,
  },
  {
    id: 'eq-outage',
    name: 'identical, shared outage (503 for 30 s every 10 min)',
    green: { ...BLUE },
    world: { outage: { everySecs: 600, secs: 30 } },
    bad: false,
  },
  {
    id: 'eq-brownout',
    name: 'identical, brown-out (+30% errors 2 min every 10 min)',
    green: { ...BLUE },
    world: { brownout: { everySecs: 600, secs: 120, extraErrors: 0.3 } },
    bad: false,
  },
  {
    id: 'eq-0.1',
    name: 'identical, 0.1% base errors',
    blue: { ...BLUE, errorRate: 0.001 },
    green: { ...BLUE, errorRate: 0.001 },
    bad: false,
  },
  { id: 'eq-8', name: 'identical, 8% base errors', blue: { ...BLUE, errorRate: 0.08 }, green: { ...BLUE, errorRate: 0.08 }, bad: false },
  { id: 'eq-429-10', name: 'identical, green 10% 429s', green: { ...BLUE, rateLimited: 0.1 }, bad: false },
  { id: 'eq-429-20', name: 'identical, green 20% 429s', green: { ...BLUE, rateLimited: 0.2 }, bad: false },
  {
    id: 'eq-small',
    name: 'identical, 10 probe pairs a round',
    green: { ...BLUE },
    spec: { plan: { steps: [10, 25, 50, 100], dwell: 60, probesPerRound: 10 } },
    bad: false,
  },
  { id: 'eq-rho', name: 'identical, pairs correlated (ρ = 0.7)', green: { ...BLUE }, world: { rho: 0.7 }, bad: false },
  {
    id: 'tol-lat',
    name: 'within tolerance: +15% latency (p50 and p99)',
    green: { ...within, latency: { p50: 450 * 1.15, p99: 1200 * 1.15 } },
    bad: false,
  },
  {
    id: 'tol-err',
    name: 'within tolerance: +1 pp errors at half the cost',
    green: { ...within, errorRate: 0.02, priceIn: 0.25, priceOut: 0.75 },
    bad: false,
  },
  { id: 'tol-cheap', name: 'within tolerance: 40% cheaper', green: { ...within, priceIn: 0.3, priceOut: 0.9 }, bad: false },
  { id: 'e4', name: '+4 pp errors', green: { ...BLUE, errorRate: 0.05 }, bad: true },
  { id: 'e10', name: '+10 pp errors', green: { ...BLUE, errorRate: 0.11 }, bad: true },
  {
    id: 'e4-outage',
    name: '+4 pp errors, shared outage',
    green: { ...BLUE, errorRate: 0.05 },
    world: { outage: { everySecs: 600, secs: 30 } },
    bad: true,
  },
  { id: 'e4-8', name: '+4 pp errors over 8% base', blue: { ...BLUE, errorRate: 0.08 }, green: { ...BLUE, errorRate: 0.12 }, bad: true },
  { id: 'p99', name: '+30% p99 (p50 same)', green: { ...BLUE, latency: { p50: 450, p99: 1560 } }, bad: true },
  {
    id: 'replica',
    name: 'slow replica: 6% of green ×2.5 (p99 +37%)',
    green: { ...BLUE, latency: { ...BLUE.latency, slowShare: 0.06, slowFactor: 2.5 } },
    bad: true,
  },
  { id: 'lat-1.5', name: 'latency ×1.5', green: { ...BLUE, latency: { p50: 675, p99: 1800 } }, bad: true },
  {
    id: 'prompt',
    name: 'one prompt of five fails its check +20 pp',
    green: { ...BLUE, checkFailByPrompt: [0.22, 0.02, 0.02, 0.02, 0.02] },
    bad: true,
  },
  {
    id: 'late',
    name: 'late regression: +6 pp errors at 100%',
    green: { ...BLUE },
    world: { greenExtraErrors: (p) => (p >= 100 ? 0.06 : 0) },
    bad: true,
  },
  {
    id: 'late50',
    name: 'load regression: +4 pp errors from 50%',
    green: { ...BLUE },
    world: { greenExtraErrors: (p) => (p >= 50 ? 0.04 : 0) },
    bad: true,
  },
  { id: 'cost', name: 'cost +50%', green: { ...BLUE, priceIn: 0.75, priceOut: 2.25 }, bad: true },
  { id: 'subst', name: 'green fails, the gateway answers from blue (substitution)', green: { ...BLUE, substituted: 1 }, bad: true },
];

// ---------- aggregation ----------
export interface Row {
  scenario: Scenario;
  runs: number;
  wrong: number;
  rolledBack: number;
  byFail: number;
  byHold: number;
  byWait: number;
  minutesMedian: number;
  minutesP95: number;
  probeRequests: number;
  probeUsd: number;
  greenLive: number;
}

export function aggregate(sc: Scenario, rs: RunResult[]): Row {
  const n = rs.length;
  const share = (f: (r: RunResult) => boolean) => rs.filter(f).length / n;
  const mean = (f: (r: RunResult) => number) => rs.reduce((a, r) => a + f(r), 0) / n;
  return {
    scenario: sc,
    runs: n,
    wrong: share((r) => r.rolledBack !== sc.bad),
    rolledBack: share((r) => r.rolledBack),
    byFail: share((r) => r.by === 'fail'),
    byHold: share((r) => r.by === 'hold'),
    byWait: share((r) => r.by === 'wait'),
    minutesMedian: percentile(
      rs.map((r) => r.minutes),
      0.5,
    ),
    minutesP95: percentile(
      rs.map((r) => r.minutes),
      0.95,
    ),
    probeRequests: mean((r) => r.probeRequests),
    probeUsd: mean((r) => r.probeUsd),
    greenLive: mean((r) => (r.rolledBack ? r.greenLive : 0)),
  };
}

export const DEFAULT_CONFIG: BenchConfig = {
  runs: 400,
  seed: 1,
  pairsPerMinute: 120,
  traffic: 10,
  dwellSecs: 60,
  probesPerRound: 50,
  policy: 'rollback',
};

export function bench(cfg: BenchConfig, scenarios = SCENARIOS, design: 'ours' | 'seed' = 'ours'): Row[] {
  return scenarios.map((sc, k) => {
    const rng = mulberry32(cfg.seed * 1000003 + k * 7919 + (design === 'ours' ? 1 : 2));
    const spec = benchSpec(sc, cfg);
    const rs = Array.from({ length: cfg.runs }, () => (design === 'ours' ? runOnce(rng, sc, cfg, spec) : runSeed(rng, sc, cfg)));
    return aggregate(sc, rs);
  });
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
export function table(title: string, rows: Row[], design: 'ours' | 'seed' = 'ours'): string {
  const head =
    `**${title}**\n\n` +
    '| scenario | right answer | wrong | rolled back | by Fail | by hold limit | by wait limit | minutes median / p95 | probe requests | probe $ | live requests green served before rollback |\n' +
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n';
  return (
    head +
    rows
      .map(
        (r) =>
          `| ${r.scenario.name} | ${r.scenario.bad ? 'roll back' : 'promote'} | **${pct(r.wrong)}** | ${pct(r.rolledBack)} | ${pct(r.byFail)} | ${pct(r.byHold)} | ${pct(r.byWait)} | ` +
          `${r.minutesMedian.toFixed(1)} / ${r.minutesP95.toFixed(1)} | ${Math.round(r.probeRequests)} | ${design === 'seed' ? '–' : `$${r.probeUsd.toFixed(3)}`} | ${r.scenario.bad ? Math.round(r.greenLive) : '–'} |`,
      )
      .join('\n')
  );
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

async function main() {
  const cfg: BenchConfig = {
    runs: Number(arg('runs', String(DEFAULT_CONFIG.runs))),
    seed: Number(arg('seed', String(DEFAULT_CONFIG.seed))),
    pairsPerMinute: Number(arg('rate', String(DEFAULT_CONFIG.pairsPerMinute))),
    traffic: Number(arg('traffic', String(DEFAULT_CONFIG.traffic))),
    dwellSecs: Number(arg('dwell', String(DEFAULT_CONFIG.dwellSecs))),
    probesPerRound: Number(arg('probes', String(DEFAULT_CONFIG.probesPerRound))),
    policy: arg('policy', DEFAULT_CONFIG.policy) as BenchConfig['policy'],
  };
  const ids = arg('scenarios', SCENARIOS.map((s) => s.id).join(',')).split(',');
  const scenarios = SCENARIOS.filter((s) => ids.includes(s.id));
  const t0 = performance.now();
  const ours = bench(cfg, scenarios);
  console.log(
    `modelshift verdict bench: ${cfg.runs} rollouts per scenario, seed ${cfg.seed}; blue 1% errors, latency p50 450 / p99 1200 ms (unless the scenario says otherwise); ` +
      `steps 10/25/50/100%, dwell ${cfg.dwellSecs} s; probes: ${cfg.probesPerRound} pairs a round at ${cfg.pairsPerMinute} pairs/min (${2 * cfg.pairsPerMinute} requests/min); ` +
      `live traffic ${cfg.traffic} req/s; default guards (alpha ${DEFAULT_GUARDS.alpha}, maxHoldPairs ${DEFAULT_GUARDS.maxHoldPairs}); on failure → ${cfg.policy}.\n`,
  );
  console.log(table('modelshift (paired probes, the rollout machine)', ours));
  if (process.argv.includes('--seedrule')) {
    console.log('');
    console.log(
      table(
        "the seed's rule (10 routed samples per step, +10% steps, its fallback hiding green errors, 60 s a step)",
        bench(cfg, scenarios, 'seed'),
        'seed',
      ),
    );
  }
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

if (process.argv[1] && /verdicts\.ts$/.test(process.argv[1])) void main();
