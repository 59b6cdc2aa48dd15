/**
 * Rollout messages, defined once and shared by the workflow, the CLI, the router and tests.
 * Signals are usable by name from `temporal workflow signal --name pause|resume|abort|liveMetrics`.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ArmStats, ArmSummary as DecisionArmSummary } from '../decision/arm-stats';
import type { Evaluation } from '../decision/verdict';

export type Phase = 'preflight' | 'ramping' | 'paused' | 'promoted' | 'rolled_back' | 'failed';
export const CLOSED_PHASES: readonly Phase[] = ['promoted', 'rolled_back', 'failed'];

export interface ArmRef {
  model: string;
  /** Gateway base URL for this arm (absent → the worker's GATEWAY_BASE_URL). */
  baseURL?: string;
  /** NAME of the environment variable holding this arm's key (never the key itself). */
  apiKeyEnv?: string;
}

/** One arm's numbers as the status shows them: the model plus the decision module's point summary. */
export type ArmSummary = { model: string } & DecisionArmSummary;

export interface VerdictRecord {
  step: number;
  greenPercent: number;
  round: number;
  at: string;
  evaluation: Evaluation;
}

export interface RolloutStatus {
  target: string;
  phase: Phase;
  /** 1-based index of the current step; 0 before the first step. */
  step: number;
  totalSteps: number;
  greenPercent: number;
  blue: ArmRef;
  green: ArmRef;
  /** Why the rollout ended (or paused), in one line, with the numbers. */
  reason?: string;
  /** Synthetic samples plus live traffic, cumulative, per arm. */
  arms: { blue: ArmSummary; green: ArmSummary };
  /** Live-traffic part alone (reported by routers). */
  live: { blue: ArmSummary; green: ArmSummary; batches: number };
  verdicts: VerdictRecord[];
  updatedAt: string;
}

export interface AbortArgs { reason?: string }
export interface LiveMetricsBatch {
  /** Unique per router and batch, so a redelivered signal is not counted twice. */
  batchId: string;
  blue: ArmStats;
  green: ArmStats;
}

export const pauseSignal = defineSignal<[{ reason?: string }?]>('pause');
export const resumeSignal = defineSignal<[]>('resume');
export const abortSignal = defineSignal<[AbortArgs?]>('abort');
export const liveMetricsSignal = defineSignal<[LiveMetricsBatch]>('liveMetrics');
export const promoteUpdate = defineUpdate<RolloutStatus, [{ reason?: string }]>('promote');
export const statusQuery = defineQuery<RolloutStatus>('status');

export const rolloutWorkflowId = (target: string): string => `rollout-${target}`;
