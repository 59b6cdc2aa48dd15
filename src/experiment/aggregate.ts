/**
 * Folding batch results into per-model metrics, the experiment report and the progress view.
 * Pure and deterministic: runs inside the workflow (and in tests).
 */
import { estimateCost, type Catalog } from '../catalog/prices';
import { percentileSorted } from '../stats/percentile';
import type {
  BatchResult,
  ExperimentInput,
  ExperimentProgress,
  ExperimentReport,
  ExperimentSettings,
  ExperimentStatus,
  LatencyHistogram,
  ModelReport,
} from './contract';
import { roundsPlanned, type RoundsState } from './plan';

interface ModelAcc {
  requests: number;
  latencies: number[];
  errors: Record<string, number>;
  inputTokens: number;
  outputTokens: number;
  failedBatches: number;
  lastError?: string;
}

export class ExperimentAccumulator {
  private readonly acc = new Map<string, ModelAcc>();

  constructor(readonly models: readonly string[]) {
    for (const m of models) this.acc.set(m, { requests: 0, latencies: [], errors: {}, inputTokens: 0, outputTokens: 0, failedBatches: 0 });
  }

  private get(model: string): ModelAcc {
    const a = this.acc.get(model);
    if (!a) throw new Error(`experiment: result for unknown model ${model}`);
    return a;
  }

  add(b: BatchResult): void {
    const a = this.get(b.model);
    a.requests += b.requests;
    for (const l of b.latenciesMs) a.latencies.push(l);
    for (const [cls, n] of Object.entries(b.errors)) a.errors[cls] = (a.errors[cls] ?? 0) + n;
    a.inputTokens += b.inputTokens;
    a.outputTokens += b.outputTokens;
    if (b.lastError) a.lastError = b.lastError;
  }

  /**
   * A batch that failed as a whole (its activity gave up) still planned `plannedRequests` requests:
   * they count as failed requests, so a model whose batches fail cannot show a 100% success rate.
   */
  addFailedBatch(model: string, message: string, plannedRequests = 0): void {
    const a = this.get(model);
    a.failedBatches++;
    a.requests += plannedRequests;
    if (plannedRequests) a.errors.batch_failed = (a.errors.batch_failed ?? 0) + plannedRequests;
    a.lastError = message;
  }

  report(args: {
    status: ExperimentStatus;
    rounds: number;
    prompts: string[];
    settings: ExperimentSettings;
    startedAt: string;
    catalog: Catalog;
  }): ExperimentReport {
    const sorted = new Map<string, number[]>();
    for (const [m, a] of this.acc)
      sorted.set(
        m,
        [...a.latencies].sort((x, y) => x - y),
      );
    const bounds = histogramBounds([...sorted.values()]);
    const models = this.models.map((m) => modelReport(m, this.acc.get(m)!, sorted.get(m)!, bounds, args.catalog));
    return {
      status: args.status,
      rounds: args.rounds,
      prompts: args.prompts,
      settings: args.settings,
      startedAt: args.startedAt,
      models: sortByCostPerRequest(models),
    };
  }
}

/** The report as it stands: the measurements so far under the rounds' status and count of finished rounds. */
export function reportOf(acc: ExperimentAccumulator, r: RoundsState, input: ExperimentInput, startedAt: string): ExperimentReport {
  const prompts = input.prompts.map((p) => p.name);
  return acc.report({ status: r.status, rounds: r.roundsDone, prompts, settings: input.settings, startedAt, catalog: input.catalog });
}

/** The progress query's answer (and what the Web UI shows): the round counters and the report so far. */
export function progressOf(r: RoundsState, settings: ExperimentSettings, report: ExperimentReport): ExperimentProgress {
  return { status: r.status, round: r.round, roundsPlanned: roundsPlanned(settings), batchesInFlight: r.batchesInFlight, report };
}

function modelReport(model: string, a: ModelAcc, lat: number[], bounds: number[], catalog: Catalog): ModelReport {
  const successes = lat.length;
  const failures = Object.values(a.errors).reduce((s, n) => s + n, 0);
  const { usd, priced } = estimateCost(catalog, model, { inputTokens: a.inputTokens, outputTokens: a.outputTokens });
  const sum = lat.reduce((s, x) => s + x, 0);
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return {
    model,
    requests: a.requests,
    successes,
    failures,
    successRate: a.requests ? successes / a.requests : null,
    errors: { ...a.errors },
    avgLatencyMs: successes ? r1(sum / successes) : null,
    p50LatencyMs: successes ? percentileSorted(lat, 0.5) : null,
    p99LatencyMs: successes ? percentileSorted(lat, 0.99) : null,
    minLatencyMs: successes ? lat[0] : null,
    maxLatencyMs: successes ? lat[lat.length - 1] : null,
    expectedP99LatencyMs: catalog.models[model]?.p99LatencyMs ?? null,
    inputTokens: a.inputTokens,
    outputTokens: a.outputTokens,
    totalTokens: a.inputTokens + a.outputTokens,
    costUsd: usd,
    costPerRequestUsd: a.requests ? usd / a.requests : null,
    costPerSuccessUsd: successes ? usd / successes : null,
    priced,
    failedBatches: a.failedBatches,
    ...(a.lastError ? { lastError: a.lastError } : {}),
    histogram: histogram(lat, bounds),
  };
}

/** Cheapest cost per request first; models without a price or without requests last; ties by name. */
export function sortByCostPerRequest(models: ModelReport[]): ModelReport[] {
  const key = (m: ModelReport) => (m.priced && m.costPerRequestUsd !== null ? m.costPerRequestUsd : Infinity);
  return [...models].sort((a, b) => {
    const d = key(a) - key(b); // Infinity - Infinity is NaN: fall through to the name
    if (d < 0 || d > 0) return d;
    return a.model < b.model ? -1 : a.model > b.model ? 1 : 0;
  });
}

const BUCKETS = 20;

/** Shared linear buckets from 0 to a round number just above the largest p99 (the tail goes to the last, open bucket). */
export function histogramBounds(sortedPerModel: number[][]): number[] {
  let top = 0;
  for (const s of sortedPerModel) if (s.length) top = Math.max(top, percentileSorted(s, 0.99));
  if (top <= 0) return [];
  const step = niceStep((top * 1.05) / BUCKETS);
  return Array.from({ length: BUCKETS }, (_, i) => step * (i + 1));
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

export function histogram(sorted: readonly number[], boundsMs: readonly number[]): LatencyHistogram {
  const counts = new Array<number>(boundsMs.length + 1).fill(0);
  if (boundsMs.length === 0) return { boundsMs: [], counts: sorted.length ? [sorted.length] : [] };
  let b = 0;
  for (const x of sorted) {
    while (b < boundsMs.length && x > boundsMs[b]) b++;
    counts[b]++;
  }
  return { boundsMs: [...boundsMs], counts };
}
