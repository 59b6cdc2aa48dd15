/**
 * Paired probe evidence. A probe sends one prompt to blue and green at the same moment; whatever hits the
 * gateway then (an outage, load, a rate limit) hits both arms of the pair alike, so green is judged on
 * per-pair differences, where shared conditions cancel:
 * - errors: D = 1[green failed] − 1[blue failed]; mean D = green's error rate minus blue's;
 * - latency: exceedances of a blue threshold τ (blue's p50 or tail quantile from the record before the
 *   round — predictable, so the sequential test stays valid): X_F = 1[green > F·τ] − 1[blue > τ] for a few
 *   factors F; mean X_F > 0 means green's quantile is above F × blue's. Robust to heavy tails (ranks, not
 *   values) and able to reach a Fail on a real tail regression;
 * - golden checks: D = 1[green's check failed] − 1[blue's], pooled and per prompt;
 * - cost: per-pair cost sums, for the ratio of means.
 * Pairs where either arm was answered 429 are capacity, not quality: counted, not judged.
 * Pure and deterministic, fixed-size plain JSON (safe in workflow code). Methods: src/decision/README.md.
 */
import { emptyArmStats, mergeArmStats, recordOutcome, type ArmStats, type ErrorClass } from './arm-stats';
import { bernoulliCS, QUANTILE_MIX, RATE_MIX } from './cs';
import { histogramQuantile } from './histogram';

/**
 * A paired difference, by its discordant pairs: of `n` pairs, `gOnly` where only green had the event
 * (failed, exceeded, failed its check) and `bOnly` where only blue had it. Pairs where both or neither had
 * it carry no evidence about the difference — that is how a shared outage cancels.
 */
export interface DiffCounts {
  n: number;
  gOnly: number;
  bOnly: number;
}
export const emptyDiff = (): DiffCounts => ({ n: 0, gOnly: 0, bOnly: 0 });
export const mergeDiff = (a: DiffCounts, b: DiffCounts): DiffCounts => ({
  n: a.n + b.n,
  gOnly: a.gOnly + b.gOnly,
  bOnly: a.bOnly + b.bOnly,
});

export interface DiffBounds {
  /** (gOnly − bOnly) / n: green's rate minus blue's */
  estimate: number;
  lo: number;
  hi: number;
  /** the sign test alone: θ = P(green | discordant) confidently above / below 1/2 */
  worse: boolean;
  better: boolean;
}

/**
 * Time-uniform (1 − α) bounds on d = P(green only) − P(blue only) = r (2θ − 1), where r is the share of
 * discordant pairs and θ the share of them that are green's. θ gets the beta-binomial mixture confidence
 * sequence at α/2 (./cs: exact, valid at every look) — under identical arms θ = 1/2 at every moment,
 * whatever the gateway does, so the sign test is exact even through outages; r gets its own at α/2 (union
 * bound), and the bounds on d combine them conservatively.
 */
export function diffBounds(c: DiffCounts, alpha: number): DiffBounds {
  const key = `${c.n}|${c.gOnly}|${c.bOnly}|${alpha}`;
  let b = boundsCache.get(key);
  if (!b) {
    b = computeDiffBounds(c, alpha);
    if (boundsCache.size >= 4096) boundsCache.clear(); // bounded, deterministic (a pure function's memo)
    boundsCache.set(key, b);
  }
  return b;
}

const boundsCache = new Map<string, DiffBounds>();

function computeDiffBounds(c: DiffCounts, alpha: number): DiffBounds {
  const k = c.gOnly + c.bOnly;
  const estimate = c.n > 0 ? (c.gOnly - c.bOnly) / c.n : 0;
  if (c.n === 0) return { estimate, lo: -1, hi: 1, worse: false, better: false };
  const theta = k > 0 ? bernoulliCS(c.gOnly, k, alpha / 2, QUANTILE_MIX) : { lo: 0, hi: 1 };
  const r = bernoulliCS(k, c.n, alpha / 2, RATE_MIX);
  const lo = (2 * theta.lo - 1) * (theta.lo > 0.5 ? r.lo : r.hi);
  const hi = (2 * theta.hi - 1) * (theta.hi > 0.5 ? r.hi : r.lo);
  return { estimate, lo, hi, worse: theta.lo > 0.5, better: theta.hi < 0.5 };
}

// ---------- one round as the probe activity reports it (columns of numbers: compact in history) ----------

/** Outcome codes in a round's columns. */
export const OUTCOME_CODES = [
  'ok',
  'server',
  'timeout',
  'connection',
  'rate_limited',
  'auth',
  'not_found',
  'bad_request',
  'malformed',
  'check_failed',
  'substituted',
] as const;
export type OutcomeCode = (typeof OUTCOME_CODES)[number];

/** One arm's side of every pair in a round, column by column. */
/** One arm's side of one pair, as numbers: the row of ArmColumns at the pair's index. */
export interface PairSide {
  code: number;
  ms: number;
  microUsd: number;
  inputTokens: number;
  outputTokens: number;
  check: number;
  retriedFailures: number;
}

/** Append one pair's side to an arm's columns (probe rounds and shadow batches build them the same way). */
export function pushSide(c: ArmColumns, s: PairSide): void {
  c.code.push(s.code);
  c.ms.push(s.ms);
  c.microUsd.push(s.microUsd);
  c.inputTokens.push(s.inputTokens);
  c.outputTokens.push(s.outputTokens);
  c.check.push(s.check);
  c.retriedFailures.push(s.retriedFailures);
}

export interface ArmColumns {
  /** index into OUTCOME_CODES of the final attempt */
  code: number[];
  /** latency of the final attempt, whole ms (0 when it failed) */
  ms: number[];
  /** cost in micro-dollars (0 when unpriced or failed) */
  microUsd: number[];
  inputTokens: number[];
  outputTokens: number[];
  /** golden check: 1 passed, 0 failed, -1 none (no check, or no answer) */
  check: number[];
  /** earlier attempts that failed and were retried (each counts against the arm) */
  retriedFailures: number[];
}

/**
 * Output checks that need no golden answer, judged per pair against blue's answer to the same request:
 * - json: the answer parses as JSON (asked for with response_format json_object / json_schema)
 * - schema: it conforms to the request's response_format json_schema
 * - toolCall: the answer calls a tool (counted only where blue's answer called one)
 * - toolArgs: every tool call's arguments parse as JSON (and match the tool's parameters schema, if given)
 * - refusal: the answer is not a refusal (no `refusal` field, no refusal marker at its start)
 */
export const OUTPUT_CHECKS = ['json', 'schema', 'toolCall', 'toolArgs', 'refusal'] as const;
export type OutputCheck = (typeof OUTPUT_CHECKS)[number];

/** Per pair and arm: 1 the answer passed the check, 0 it failed, -1 the check does not apply (or no answer). */
export type OutputColumns = Partial<Record<OutputCheck, { blue: number[]; green: number[] }>>;

/** An LLM judge's call per pair, blind and in random order: which answer was better. */
export const JUDGE_CODES = ['none', 'green', 'blue', 'tie'] as const;
export type JudgeCode = (typeof JUDGE_CODES)[number];
/** A probe pair the judge was not asked about (not sampled, or an arm failed). */
export const NOT_ASKED = -1;

/** The judge's grades as a paired difference: n judged, gOnly green lost, bOnly green won (the rest ties); asked includes no-verdicts. */
export interface JudgeCounts extends DiffCounts {
  asked: number;
}
export const emptyJudge = (): JudgeCounts => ({ n: 0, gOnly: 0, bOnly: 0, asked: 0 });

/** One round's judge codes added to the counts (NOT_ASKED skipped; 'none' asked, no verdict). Returns a new object. */
export function addJudgeCodes(acc: JudgeCounts, codes: readonly number[] | undefined): JudgeCounts {
  const out = { ...acc };
  for (const code of codes ?? []) {
    const j = JUDGE_CODES[code];
    if (j === undefined) continue;
    out.asked++;
    if (j === 'none') continue;
    out.n++;
    if (j === 'blue') out.gOnly++;
    else if (j === 'green') out.bOnly++;
  }
  return out;
}

export interface ProbeRound {
  /** prompt index of each pair (shadow pairs: 0) */
  prompt: number[];
  blue: ArmColumns;
  green: ArmColumns;
  /** output checks needing no golden answer (shadow pairs, and probes whose request asks for JSON or tools) */
  output?: OutputColumns;
  /** index into JUDGE_CODES per pair, when a judge graded it ('none': not judged) */
  judge?: number[];
  /** the judge's own spend for this round, micro-dollars (booked apart from both arms) */
  judgeMicroUsd?: number;
  /** the arm's model is missing from the price catalog the worker used */
  unpriced?: { blue?: boolean; green?: boolean };
}

export const emptyColumns = (): ArmColumns => ({
  code: [],
  ms: [],
  microUsd: [],
  inputTokens: [],
  outputTokens: [],
  check: [],
  retriedFailures: [],
});

// ---------- accumulated evidence ----------

/** p50: typical latency; tail: the tail quantile (p99); shoulder: blue's p95, where a heavier tail shows first (screening). */
export type LatencyLevel = 'p50' | 'tail' | 'shoulder';
export const LATENCY_LEVELS: readonly LatencyLevel[] = ['p50', 'tail', 'shoulder'];
/** The screening quantile of the tail (blue's p95): five times the exceedances of a p99, so a heavier tail shows early. */
export const SHOULDER_QUANTILE = 0.95;
/** Threshold factors of the exceedance tests: 1, √(1+t), 1+t, (1+t)². */
export type FactorKey = 'x1' | 'half' | 'tol' | 'tol2';
export const FACTOR_KEYS: readonly FactorKey[] = ['x1', 'half', 'tol', 'tol2'];
export const factorOf = (k: FactorKey, tolerance: number): number =>
  k === 'x1' ? 1 : k === 'half' ? Math.sqrt(1 + tolerance) : k === 'tol' ? 1 + tolerance : (1 + tolerance) ** 2;

export interface ProbeEvidence {
  rounds: number;
  /** pairs sent */
  sent: number;
  /** pairs judged: neither arm was answered 429 */
  pairs: number;
  /** final 429s per arm (pairs not judged) */
  rateLimited: { blue: number; green: number };
  /** the errors' 2×2 table over judged pairs */
  table: { bothOk: number; greenFailed: number; blueFailed: number; bothFailed: number };
  /** green answers from another model than asked (a gateway fallback), within greenFailed */
  substituted: number;
  errors: DiffCounts;
  /** exceedance tests by level and factor (see the module doc) */
  latency: Record<LatencyLevel, Record<FactorKey, DiffCounts>>;
  checks: { pooled: DiffCounts; byPrompt: Record<string, DiffCounts> };
  /** sums over pairs both answered and priced, for the cost ratio */
  cost: { n: number; g: number; b: number; gg: number; bb: number; gb: number; unpricedPairs: number };
  /** per arm, every attempt (retried failures included): for display, quantiles and spend */
  arms: { blue: ArmStats; green: ArmStats };
  /** the last round alone: capacity and gateway-health waits look at it */
  last: { sent: number; greenRateLimited: number; blueRateLimited: number; bothFailed: number; pairs: number };
  /** the judge's grades of probe pairs (guards.judge), and its own spend: present once a round carried a judge column (the judge is on), absent in records from before the judge graded probes */
  judge?: JudgeCounts;
  judgeMicroUsd?: number;
}

const emptyLatency = (): Record<FactorKey, DiffCounts> => ({ x1: emptyDiff(), half: emptyDiff(), tol: emptyDiff(), tol2: emptyDiff() });

export function emptyEvidence(): ProbeEvidence {
  return {
    rounds: 0,
    sent: 0,
    pairs: 0,
    rateLimited: { blue: 0, green: 0 },
    table: { bothOk: 0, greenFailed: 0, blueFailed: 0, bothFailed: 0 },
    substituted: 0,
    errors: emptyDiff(),
    latency: { p50: emptyLatency(), tail: emptyLatency(), shoulder: emptyLatency() },
    checks: { pooled: emptyDiff(), byPrompt: {} },
    cost: { n: 0, g: 0, b: 0, gg: 0, bb: 0, gb: 0, unpricedPairs: 0 },
    arms: { blue: emptyArmStats(), green: emptyArmStats() },
    last: { sent: 0, greenRateLimited: 0, blueRateLimited: 0, bothFailed: 0, pairs: 0 },
  };
}

/** What the tests need to know before a round: blue's thresholds (from the record) and the tolerances. */
export interface RoundContext {
  /** blue's p50, tail and shoulder quantiles so far, in ms (undefined until blue has enough answers for each) */
  thresholds: { p50?: number; tail?: number; shoulder?: number };
  tolerance: { p50: number; tail: number };
}

/** Blue's thresholds for the next round, from the record so far. */
export function thresholdsFrom(record: ProbeEvidence, tailQuantile: number): RoundContext['thresholds'] {
  const h = record.arms.blue.latency;
  // A quantile needs some answers above it before it is a threshold worth testing against (an early p99
  // of a hundred answers is their maximum, which would hide exceedances on both arms).
  const at = (q: number) => (h.count * (1 - q) >= 2 && h.count >= 20 ? histogramQuantile(h, q) : undefined);
  return { p50: at(0.5), tail: at(tailQuantile), shoulder: at(SHOULDER_QUANTILE) };
}

type Sums = DiffCounts;
const sums = (): Sums => emptyDiff();
/** One pair's difference: +1 only green had the event, −1 only blue, 0 both or neither. */
const add = (s: Sums, d: number) => {
  s.n++;
  if (d > 0) s.gOnly++;
  else if (d < 0) s.bOnly++;
};
const failed = (code: number) => code !== 0 && OUTCOME_CODES[code] !== 'check_failed' && OUTCOME_CODES[code] !== 'rate_limited';
const isRateLimited = (code: number) => OUTCOME_CODES[code] === 'rate_limited';

/** Feed every attempt of one arm into its per-arm stats (display, quantiles, spend). */
function recordArm(stats: ArmStats, c: ArmColumns, i: number): void {
  for (let r = 0; r < (c.retriedFailures[i] ?? 0); r++) {
    recordOutcome(stats, { ok: false, errorClass: 'server', latencyMs: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 });
  }
  const cls = OUTCOME_CODES[c.code[i]] ?? 'server';
  const check = c.check[i] === -1 ? undefined : { passed: c.check[i] === 1 };
  recordOutcome(stats, {
    ok: cls === 'ok',
    errorClass: cls === 'ok' ? undefined : (cls as ErrorClass),
    latencyMs: c.ms[i],
    inputTokens: c.inputTokens[i],
    outputTokens: c.outputTokens[i],
    costUsd: c.microUsd[i] / 1e6,
    check,
  });
}

/** The per-pair differences of one round, by test. */
function roundSums(round: ProbeRound, ctx: RoundContext) {
  const out = {
    errors: sums(),
    latency: {
      p50: { x1: sums(), half: sums(), tol: sums(), tol2: sums() },
      tail: { x1: sums(), half: sums(), tol: sums(), tol2: sums() },
      shoulder: { x1: sums(), half: sums(), tol: sums(), tol2: sums() },
    },
    pooled: sums(),
    byPrompt: new Map<number, Sums>(),
    table: { bothOk: 0, greenFailed: 0, blueFailed: 0, bothFailed: 0 },
    substituted: 0,
    rateLimited: { blue: 0, green: 0 },
    cost: { n: 0, g: 0, b: 0, gg: 0, bb: 0, gb: 0, unpricedPairs: 0 },
  };
  const { blue: b, green: g } = round;
  for (let i = 0; i < round.prompt.length; i++) {
    if (isRateLimited(b.code[i]) || isRateLimited(g.code[i])) {
      if (isRateLimited(b.code[i])) out.rateLimited.blue++;
      if (isRateLimited(g.code[i])) out.rateLimited.green++;
      continue;
    }
    // an arm failed the pair if its final attempt failed or any earlier attempt did
    const bf = failed(b.code[i]) || (b.retriedFailures[i] ?? 0) > 0;
    const gf = failed(g.code[i]) || (g.retriedFailures[i] ?? 0) > 0;
    out.table[bf ? (gf ? 'bothFailed' : 'blueFailed') : gf ? 'greenFailed' : 'bothOk']++;
    if (OUTCOME_CODES[g.code[i]] === 'substituted') out.substituted++;
    add(out.errors, (gf ? 1 : 0) - (bf ? 1 : 0));
    const bAnswered = !failed(b.code[i]);
    const gAnswered = !failed(g.code[i]);
    if (bAnswered && gAnswered) {
      for (const level of LATENCY_LEVELS) {
        const tau = ctx.thresholds[level];
        if (tau === undefined) continue;
        const overBlue = b.ms[i] > tau ? 1 : 0;
        const tolerance = level === 'p50' ? ctx.tolerance.p50 : ctx.tolerance.tail;
        for (const k of FACTOR_KEYS) add(out.latency[level][k], (g.ms[i] > factorOf(k, tolerance) * tau ? 1 : 0) - overBlue);
      }
      if (b.check[i] !== -1 && g.check[i] !== -1) {
        const d = (g.check[i] === 0 ? 1 : 0) - (b.check[i] === 0 ? 1 : 0);
        add(out.pooled, d);
        let p = out.byPrompt.get(round.prompt[i]);
        if (!p) out.byPrompt.set(round.prompt[i], (p = sums()));
        add(p, d);
      }
      if (round.unpriced?.blue || round.unpriced?.green) out.cost.unpricedPairs++;
      else {
        const cg = g.microUsd[i] / 1e6;
        const cb = b.microUsd[i] / 1e6;
        out.cost.n++;
        out.cost.g += cg;
        out.cost.b += cb;
        out.cost.gg += cg * cg;
        out.cost.bb += cb * cb;
        out.cost.gb += cg * cb;
      }
    }
  }
  return out;
}

const addDiff = (acc: DiffCounts, s: Sums): DiffCounts => mergeDiff(acc, s);

/** Evidence after one more round. Returns a new object. */
export function addProbeRound(e: ProbeEvidence, round: ProbeRound, ctx: RoundContext): ProbeEvidence {
  const s = roundSums(round, ctx);
  const blue = emptyArmStats();
  const green = emptyArmStats();
  for (let i = 0; i < round.prompt.length; i++) {
    recordArm(blue, round.blue, i);
    recordArm(green, round.green, i);
  }
  const latency = {} as ProbeEvidence['latency'];
  for (const level of LATENCY_LEVELS) {
    latency[level] = {} as Record<FactorKey, DiffCounts>;
    for (const k of FACTOR_KEYS) latency[level][k] = addDiff(e.latency[level][k], s.latency[level][k]);
  }
  const byPrompt = { ...e.checks.byPrompt };
  for (const [p, ps] of s.byPrompt) byPrompt[p] = addDiff(byPrompt[p] ?? emptyDiff(), ps);
  const pairs = s.errors.n;
  return {
    rounds: e.rounds + 1,
    sent: e.sent + round.prompt.length,
    pairs: e.pairs + pairs,
    rateLimited: { blue: e.rateLimited.blue + s.rateLimited.blue, green: e.rateLimited.green + s.rateLimited.green },
    table: {
      bothOk: e.table.bothOk + s.table.bothOk,
      greenFailed: e.table.greenFailed + s.table.greenFailed,
      blueFailed: e.table.blueFailed + s.table.blueFailed,
      bothFailed: e.table.bothFailed + s.table.bothFailed,
    },
    substituted: e.substituted + s.substituted,
    errors: addDiff(e.errors, s.errors),
    latency,
    checks: { pooled: addDiff(e.checks.pooled, s.pooled), byPrompt },
    cost: {
      n: e.cost.n + s.cost.n,
      g: e.cost.g + s.cost.g,
      b: e.cost.b + s.cost.b,
      gg: e.cost.gg + s.cost.gg,
      bb: e.cost.bb + s.cost.bb,
      gb: e.cost.gb + s.cost.gb,
      unpricedPairs: e.cost.unpricedPairs + s.cost.unpricedPairs,
    },
    arms: { blue: mergeArmStats(e.arms.blue, blue), green: mergeArmStats(e.arms.green, green) },
    last: {
      sent: round.prompt.length,
      greenRateLimited: s.rateLimited.green,
      blueRateLimited: s.rateLimited.blue,
      bothFailed: s.table.bothFailed,
      pairs,
    },
    ...(e.judge || round.judge
      ? { judge: addJudgeCodes(e.judge ?? emptyJudge(), round.judge), judgeMicroUsd: (e.judgeMicroUsd ?? 0) + (round.judgeMicroUsd ?? 0) }
      : {}),
  };
}

/** Two scopes' evidence together (e.g. for a view over several windows). */
export function mergeEvidence(a: ProbeEvidence, b: ProbeEvidence): ProbeEvidence {
  const latency = {} as ProbeEvidence['latency'];
  for (const level of LATENCY_LEVELS) {
    latency[level] = {} as Record<FactorKey, DiffCounts>;
    for (const k of FACTOR_KEYS) latency[level][k] = mergeDiff(a.latency[level][k], b.latency[level][k]);
  }
  const byPrompt = { ...a.checks.byPrompt };
  for (const [p, acc] of Object.entries(b.checks.byPrompt)) byPrompt[p] = byPrompt[p] ? mergeDiff(byPrompt[p], acc) : acc;
  return {
    rounds: a.rounds + b.rounds,
    sent: a.sent + b.sent,
    pairs: a.pairs + b.pairs,
    rateLimited: { blue: a.rateLimited.blue + b.rateLimited.blue, green: a.rateLimited.green + b.rateLimited.green },
    table: {
      bothOk: a.table.bothOk + b.table.bothOk,
      greenFailed: a.table.greenFailed + b.table.greenFailed,
      blueFailed: a.table.blueFailed + b.table.blueFailed,
      bothFailed: a.table.bothFailed + b.table.bothFailed,
    },
    substituted: a.substituted + b.substituted,
    errors: mergeDiff(a.errors, b.errors),
    latency,
    checks: { pooled: mergeDiff(a.checks.pooled, b.checks.pooled), byPrompt },
    cost: {
      n: a.cost.n + b.cost.n,
      g: a.cost.g + b.cost.g,
      b: a.cost.b + b.cost.b,
      gg: a.cost.gg + b.cost.gg,
      bb: a.cost.bb + b.cost.bb,
      gb: a.cost.gb + b.cost.gb,
      unpricedPairs: a.cost.unpricedPairs + b.cost.unpricedPairs,
    },
    arms: { blue: mergeArmStats(a.arms.blue, b.arms.blue), green: mergeArmStats(a.arms.green, b.arms.green) },
    last: b.rounds > 0 ? b.last : a.last,
    ...(a.judge || b.judge
      ? {
          judge: { ...mergeDiff(a.judge ?? emptyJudge(), b.judge ?? emptyJudge()), asked: (a.judge?.asked ?? 0) + (b.judge?.asked ?? 0) },
          judgeMicroUsd: (a.judgeMicroUsd ?? 0) + (b.judgeMicroUsd ?? 0),
        }
      : {}),
  };
}
