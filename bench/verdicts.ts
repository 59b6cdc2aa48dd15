/**
 * Monte-Carlo harness for the rollout verdicts (no server):
 *   npx tsx bench/verdicts.ts [--runs 1000] [--seed 1] [--samples 200] [--holds 60]
 *                             [--policy rollback|advance] [--scenarios eq,e4,...]
 * Draws per-request outcomes from per-arm distributions (error probability; lognormal latency
 * fitted from p50/p99 like the simulator, capped at 4 x p99; lognormal output tokens; cost from
 * tokens), drives the rollout machine (src/rollout/machine.ts: the workflow's own policy), and the seed's rule
 * (fallback hides green errors, 10 samples/step, +0.1 steps) on the same scenarios.
 * Prints Markdown tables.
 */
import { emptyArmStats, recordOutcome, type ArmStats, type Outcome } from '../src/decision/arm-stats';
import { DEFAULT_GUARDS } from '../src/decision/defaults';
import type { Guards } from '../src/decision/guards-schema';
import { seedRecordedGreenError, seedShouldRollback, SEED_SAMPLES_PER_STEP, SEED_STEP_INCREMENT } from '../src/decision/seed-rule';
import { percentile } from '../src/stats/percentile';
import * as m from '../src/rollout/machine';
import { parseSpec, type RolloutSpec } from '../src/rollout/spec';
import { mulberry32 } from '../src/stats/rng';

// ---------- seeded draws ----------
// A seeded PRNG (mulberry32, src/stats/rng) instead of Math.random: the same --seed reproduces the
// same table bit for bit on any machine, so README numbers and test thresholds are checkable.
export { mulberry32 };
function normal(rng: () => number): number {
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
const Z99 = 2.3263478740408408;
function lognormal(rng: () => number, p50: number, p99: number): number {
  const sigma = (Math.log(p99) - Math.log(p50)) / Z99;
  return Math.min(4 * p99, p50 * Math.exp(sigma * normal(rng)));
}

// ---------- arm model ----------
export interface ArmModel {
  errorRate: number;
  latency: { p50: number; p99: number };
  outputTokens: { p50: number; p99: number };
  inputTokens: number;
  /** USD per 1M input / output tokens. */
  priceIn: number;
  priceOut: number;
}
export const BLUE: ArmModel = {
  errorRate: 0.01,
  latency: { p50: 450, p99: 1200 },
  outputTokens: { p50: 150, p99: 600 },
  inputTokens: 300,
  priceIn: 0.5,
  priceOut: 1.5,
};
export interface Scenario {
  id: string;
  name: string;
  green: ArmModel;
  /** true if rolling back is the right answer */
  bad: boolean;
}
export const SCENARIOS: Scenario[] = [
  { id: 'eq', name: 'equal arms (1% errors)', green: { ...BLUE }, bad: false },
  { id: 'e2', name: 'green +2 pp errors (= tolerance)', green: { ...BLUE, errorRate: 0.03 }, bad: false },
  { id: 'e4', name: 'green +4 pp errors', green: { ...BLUE, errorRate: 0.05 }, bad: true },
  { id: 'e10', name: 'green +10 pp errors', green: { ...BLUE, errorRate: 0.11 }, bad: true },
  { id: 'p99', name: 'green p99 +30% (p50 same)', green: { ...BLUE, latency: { p50: 450, p99: 1560 } }, bad: true },
  { id: 'cost', name: 'green cost +50%', green: { ...BLUE, priceIn: 0.75, priceOut: 2.25 }, bad: true },
];

export function draw(rng: () => number, m: ArmModel): Outcome {
  if (rng() < m.errorRate) {
    return { ok: false, errorClass: 'server', latencyMs: 50, inputTokens: 0, outputTokens: 0, costUsd: 0 };
  }
  const out = Math.round(lognormal(rng, m.outputTokens.p50, m.outputTokens.p99));
  return {
    ok: true,
    latencyMs: lognormal(rng, m.latency.p50, m.latency.p99),
    inputTokens: m.inputTokens,
    outputTokens: out,
    costUsd: (m.inputTokens * m.priceIn + out * m.priceOut) / 1e6,
  };
}

// ---------- our loop: the rollout machine itself (src/rollout/machine.ts) ----------
export interface LoopConfig {
  /** green percent per step, as in a spec (10 means 10%) */
  steps: number[];
  samplesPerStep: number;
  maxHoldRounds: number;
  /**
   * What happens when a step fails or stays Inconclusive for maxHoldRounds: the spec's onFailure
   * (rollback), or `advance` — onFailure: pause and an operator who resumes at once (accepts the risk).
   */
  onHoldLimit: 'rollback' | 'advance';
  guards: Guards;
}
export interface RunResult {
  rolledBack: boolean;
  byFail: boolean;
  /** index into steps where the rollout ended (rollback) or steps.length (promoted) */
  endStep: number;
  batches: number;
  greenSamples: number;
  failedGuards: string[];
}

/** The spec the machine runs: the bench's loop settings on top of the product's defaults. */
export function loopSpec(cfg: LoopConfig): RolloutSpec {
  return parseSpec({
    target: 'bench',
    blue: { model: 'blue' },
    green: { model: 'green' },
    plan: { steps: cfg.steps, dwell: 0, samplesPerStep: cfg.samplesPerStep },
    guards: { ...cfg.guards, maxHoldRounds: cfg.maxHoldRounds },
    onFailure: cfg.onHoldLimit === 'rollback' ? 'rollback' : 'pause',
  });
}

/** One simulated sample round: each sample to green with the round's share (as the activity routes). */
function simulateRound(rng: () => number, green: ArmModel, greenPercent: number, count: number) {
  const blue: ArmStats = emptyArmStats();
  const grn: ArmStats = emptyArmStats();
  for (let i = 0; i < count; i++) {
    if (rng() * 100 < greenPercent) recordOutcome(grn, draw(rng, green));
    else recordOutcome(blue, draw(rng, BLUE));
  }
  return { blue, green: grn, fallbacksServed: 0 };
}

/** Drive the rollout machine as the workflow does: advance, sample rounds, judge, dwell (no live traffic). */
export function runOurs(rng: () => number, green: ArmModel, cfg: LoopConfig, spec = loopSpec(cfg)): RunResult {
  let s = m.preflightPassed(m.initialState(''));
  let byFail = false;
  const failedGuards = new Set<string>();
  for (;;) {
    const next = m.next(s);
    if (next.kind === 'ended') break;
    if (next.kind === 'paused') s = m.resume(s); // `advance`: the operator accepts the risk
    else if (next.kind === 'advance') s = m.advance(spec, s);
    else if (next.kind === 'dwell') s = m.dwelt(s, next.ms);
    else if (next.kind === 'sample') {
      s = m.recordRound(s, simulateRound(rng, green, m.nextRound(spec, s).greenPercent, spec.samplesPerStep));
      const judged = m.judge(spec, s, '', false);
      s = judged.state;
      if (s.lastEvaluation?.verdict === 'Fail') {
        for (const g of s.lastEvaluation.guards) if (g.verdict === 'Fail') failedGuards.add(g.guard);
        if (judged.decision.kind === 'rollback') byFail = true;
      }
    } else throw new Error(`bench: unexpected ${next.kind}`);
  }
  const rolledBack = s.outcome?.phase === 'rolled_back';
  return {
    rolledBack,
    byFail: rolledBack && byFail,
    endStep: rolledBack ? s.stepIndex : spec.steps.length,
    batches: s.round,
    greenSamples: s.samples.green.requests,
    failedGuards: [...failedGuards],
  };
}

// ---------- the seed's loop ----------
export function runSeed(rng: () => number, green: ArmModel, fallbackHidesErrors = true): RunResult {
  let greenErrors = 0;
  let all = 0;
  let greenSamples = 0;
  let batches = 0;
  const nSteps = Math.round(1 / SEED_STEP_INCREMENT);
  for (let si = 1; si <= nSteps; si++) {
    const ratio = si * SEED_STEP_INCREMENT;
    for (let i = 0; i < SEED_SAMPLES_PER_STEP; i++) {
      all++;
      if (rng() < ratio) {
        greenSamples++;
        const gFail = rng() < green.errorRate;
        const bRetryFail = gFail && rng() < BLUE.errorRate;
        if (fallbackHidesErrors ? seedRecordedGreenError(gFail, bRetryFail) : gFail) greenErrors++;
      }
      // blue requests: their errors are not in the seed's numerator
    }
    batches++;
    if (seedShouldRollback(greenErrors, all)) {
      return { rolledBack: true, byFail: true, endStep: si - 1, batches, greenSamples, failedGuards: ['seed'] };
    }
  }
  return { rolledBack: false, byFail: false, endStep: nSteps, batches, greenSamples, failedGuards: [] };
}

// ---------- aggregation ----------
export interface Row {
  scenario: string;
  rollback: number;
  viaFail: number;
  viaHoldLimit: number;
  earlyRollback: number;
  /** rolled back before green > 25% with at most 600 green samples */
  early600: number;
  greenMean: number;
  greenP95: number;
  batchesMean: number;
  runs: number;
}
/** earlyStepLimit: a rollback "before green passes 25%" is one with endStep <= this index. */
export function aggregate(scenario: string, rs: RunResult[], early: (r: RunResult) => boolean): Row {
  const n = rs.length;
  const rb = rs.filter((r) => r.rolledBack);
  // green samples used to reach the verdict: at the rollback for rollbacks, at promotion otherwise
  const gs = rs.map((r) => r.greenSamples);
  return {
    scenario,
    rollback: rb.length / n,
    viaFail: rs.filter((r) => r.byFail).length / n,
    viaHoldLimit: rs.filter((r) => r.rolledBack && !r.byFail).length / n,
    earlyRollback: rs.filter((r) => r.rolledBack && early(r)).length / n,
    early600: rs.filter((r) => r.rolledBack && early(r) && r.greenSamples <= 600).length / n,
    greenMean: gs.reduce((a, b) => a + b, 0) / n,
    greenP95: percentile(gs, 0.95),
    batchesMean: rs.reduce((a, r) => a + r.batches, 0) / n,
    runs: n,
  };
}

const p = (x: number) => `${(100 * x).toFixed(1)}%`;
export function table(title: string, rows: Row[]): string {
  const head =
    `**${title}**\n\n` +
    '| scenario | rollback | via Fail | via hold limit | rolled back before green > 25% | … with ≤ 600 green samples | green samples mean / p95 | batches (mean) |\n' +
    '|---|---:|---:|---:|---:|---:|---:|---:|\n';
  return (
    head +
    rows
      .map(
        (r) =>
          `| ${r.scenario} | ${p(r.rollback)} | ${p(r.viaFail)} | ${p(r.viaHoldLimit)} | ${p(r.earlyRollback)} | ${p(r.early600)} | ` +
          `${Math.round(r.greenMean)} / ${Math.round(r.greenP95)} | ${r.batchesMean.toFixed(1)} |`,
      )
      .join('\n')
  );
}

export const DEFAULT_LOOP: Omit<LoopConfig, 'guards'> = {
  steps: [10, 25, 50, 100],
  samplesPerStep: 200,
  maxHoldRounds: DEFAULT_GUARDS.maxHoldRounds,
  onHoldLimit: 'rollback',
};

export function benchOurs(runs: number, seed: number, cfg: LoopConfig, scenarios = SCENARIOS): Row[] {
  return scenarios.map((sc, k) => {
    const rng = mulberry32(seed * 1000003 + k * 7919 + 1);
    const rs: RunResult[] = [];
    const spec = loopSpec(cfg);
    for (let i = 0; i < runs; i++) rs.push(runOurs(rng, sc.green, cfg, spec));
    const i25 = cfg.steps.findIndex((s) => s >= 25);
    return aggregate(sc.name, rs, (r) => r.endStep <= i25);
  });
}
export function benchSeed(runs: number, seed: number, scenarios = SCENARIOS, fallbackHidesErrors = true): Row[] {
  return scenarios.map((sc, k) => {
    const rng = mulberry32(seed * 1000003 + k * 7919 + 2);
    const rs: RunResult[] = [];
    for (let i = 0; i < runs; i++) rs.push(runSeed(rng, sc.green, fallbackHidesErrors));
    return aggregate(sc.name, rs, (r) => (r.endStep + 1) * SEED_STEP_INCREMENT <= 0.25 + 1e-9);
  });
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

async function main() {
  const runs = Number(arg('runs', '1000'));
  const seed = Number(arg('seed', '1'));
  const ids = arg('scenarios', SCENARIOS.map((s) => s.id).join(',')).split(',');
  const scenarios = SCENARIOS.filter((s) => ids.includes(s.id));
  const cfg: LoopConfig = {
    ...DEFAULT_LOOP,
    samplesPerStep: Number(arg('samples', String(DEFAULT_LOOP.samplesPerStep))),
    maxHoldRounds: Number(arg('holds', String(DEFAULT_LOOP.maxHoldRounds))),
    onHoldLimit: arg('policy', DEFAULT_LOOP.onHoldLimit) as LoopConfig['onHoldLimit'],
    guards: { ...DEFAULT_GUARDS, alpha: Number(arg('alpha', String(DEFAULT_GUARDS.alpha))) },
  };
  const t0 = performance.now();
  const ours = benchOurs(runs, seed, cfg, scenarios);
  const t1 = performance.now();
  const seedRows = benchSeed(runs, seed, scenarios);
  console.log(
    `modelshift verdict bench: ${runs} rollouts per scenario, seed ${seed}. Blue: 1% errors, latency p50 450 / p99 1200 ms, ` +
      `output tokens p50 150 / p99 600.\n`,
  );
  console.log(
    table(
      `the rollout machine — steps ${cfg.steps.map((s) => `${s}%`).join('/')}, samplesPerStep ${cfg.samplesPerStep}, ` +
        `maxHoldRounds ${cfg.maxHoldRounds}, hold limit → ${cfg.onHoldLimit}, green share = step ratio, ` +
        `blue control ${loopSpec(cfg).blueControlPercent}%, alpha ${cfg.guards.alpha}, default guards`,
      ours,
    ),
  );
  console.log('');
  console.log(table('seed rule — green errors ÷ all requests > 5%, fallback hides green errors, 10 samples/step, +10% steps', seedRows));
  console.log('');
  console.log(table('seed rule without its fallback (green errors visible) — same rule, 10 samples/step, +10% steps', benchSeed(runs, seed, scenarios, false)));
  console.log(`\n(${((t1 - t0) / 1000).toFixed(1)} s for evaluate() runs)`);
}

if (process.argv[1] && /verdicts\.ts$/.test(process.argv[1])) void main();
