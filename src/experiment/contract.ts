/**
 * The experiment's contract: its data shapes (plain JSON, shared by the workflow, the activity, the
 * CLI and the report renderers), its messages and its workflow id. Safe to import from workflow code.
 * `temporal workflow query --name progress` and `temporal workflow signal --name stop` work by name.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Catalog } from '../catalog/prices';
import type { ArmRef } from '../gateway/arm';

export type { ArmRef };

export interface ExperimentMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** One test case: the same messages go to every model in every round. */
export interface TestCase {
  name: string;
  messages: ExperimentMessage[];
}

/** A model under test: where to reach it (ArmRef: model, baseURL?, apiKeyEnv?) and its own limits. */
export interface ExperimentModel extends ArmRef {
  /** Per-model overrides of the experiment-wide limits. */
  concurrency?: number;
  rpm?: number | null;
}

export interface ExperimentSettings {
  /** Run exactly this many rounds… */
  rounds?: number;
  /** …or start rounds until this much time has passed (a round in flight at the deadline completes). */
  durationMs?: number;
  /** Time between round starts (seed: 5 s). A round slower than this is followed immediately by the next. */
  intervalMs: number;
  /** Requests in flight at once per model within a batch. */
  concurrency: number;
  /** Requests per minute per model (token bucket shared by the worker process); null = unlimited. */
  rpm: number | null;
  temperature: number;
  maxTokens: number;
  /** Per-request timeout (seed: 30 s). */
  timeoutMs: number;
  /** Tries per request, first included. Default 1: an A/B test measures the raw gateway, not our retries. */
  attempts: number;
}

export interface ExperimentInput {
  models: ExperimentModel[];
  prompts: TestCase[];
  settings: ExperimentSettings;
  /** Prices (only the chosen models' entries are needed): cost is computed in the workflow from token totals. */
  catalog: Catalog;
}

/** The input of one `runExperimentBatch` activity: every prompt of one round to one model. */
export type ExperimentBatchInput = Pick<
  ExperimentSettings,
  'concurrency' | 'rpm' | 'temperature' | 'maxTokens' | 'timeoutMs' | 'attempts'
> & {
  round: number;
  target: ArmRef;
  prompts: TestCase[];
};

/** What one (round, model) batch measured. Metrics only: never model output. */
export interface BatchResult {
  model: string;
  round: number;
  requests: number;
  /** Per successful request, ms (0.1 ms resolution), in completion order. */
  latenciesMs: number[];
  /** Failed requests by error class (timeout, server, rate_limited, …). */
  errors: Record<string, number>;
  inputTokens: number;
  outputTokens: number;
  /** Retries used beyond the first try (0 when settings.attempts = 1). */
  retries: number;
  /** One key-free line from the last failure, for diagnosis. */
  lastError?: string;
  durationMs: number;
}

export type ExperimentStatus = 'running' | 'stopping' | 'completed' | 'stopped' | 'cancelled';

export interface LatencyHistogram {
  /** Upper bounds (ms) of the buckets, shared by all models in a report; the last bucket is "above". */
  boundsMs: number[];
  counts: number[];
}

export interface ModelReport {
  model: string;
  requests: number;
  successes: number;
  failures: number;
  /** successes / requests; null without requests. */
  successRate: number | null;
  errors: Record<string, number>;
  /** Latency of successful requests, ms; null without successes. p50/p99 are exact nearest-rank. */
  avgLatencyMs: number | null;
  p50LatencyMs: number | null;
  p99LatencyMs: number | null;
  minLatencyMs: number | null;
  maxLatencyMs: number | null;
  /** From the catalog, for comparison. */
  expectedP99LatencyMs: number | null;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  /** input × input price + output × output price (cached input is not reported by the gateway layer: billed as input). */
  costUsd: number;
  costPerRequestUsd: number | null;
  costPerSuccessUsd: number | null;
  /** false → model missing from the catalog: costs are 0 because unknown, not free. */
  priced: boolean;
  /** Batches that failed as a whole (after activity retries) and are not in the numbers above. */
  failedBatches: number;
  lastError?: string;
  histogram: LatencyHistogram;
}

export interface ExperimentReport {
  status: ExperimentStatus;
  /** Rounds whose batches all finished (or failed as a whole). */
  rounds: number;
  prompts: string[];
  settings: ExperimentSettings;
  startedAt: string;
  /** Sorted by cost per request, cheapest first; unpriced and request-less models last. */
  models: ModelReport[];
}

export interface ExperimentProgress {
  status: ExperimentStatus;
  round: number;
  roundsPlanned: number | null;
  batchesInFlight: number;
  report: ExperimentReport;
}

/** Progress so far: the report as it stands (same shape as the result), round counters, status. */
export const progressQuery = defineQuery<ExperimentProgress>('progress');
/** Start no new rounds; batches in flight finish and are counted; the workflow returns its report. */
export const stopSignal = defineSignal<[{ reason?: string }?]>('stop');

/** The workflow type (the name src/workflows.ts exports) and the batch activity's name (src/activities.ts). */
export const EXPERIMENT_WORKFLOW_TYPE = 'experimentWorkflow';
export const EXPERIMENT_BATCH_ACTIVITY = 'runExperimentBatch';

export const experimentWorkflowId = (name: string): string => `experiment-${name}`;
