/**
 * The experiment's plan, pure: defaults, input checks, activity limits and inputs, and the rounds —
 * when the next one starts, when the experiment stops, how it ended. The workflow holds a
 * RoundsState and changes it only through the functions here; the CLI uses the defaults and checks.
 */
import type { ExperimentBatchInput, ExperimentInput, ExperimentModel, ExperimentSettings, ExperimentStatus, TestCase } from './contract';

/** The seed's A/B settings: rounds every 5 s for 30 minutes, temperature 0.7, max_tokens 1000, timeout 30 s. */
export const DEFAULT_SETTINGS: ExperimentSettings = {
  durationMs: 30 * 60_000,
  intervalMs: 5000,
  concurrency: 4,
  rpm: null,
  temperature: 0.7,
  maxTokens: 1000,
  timeoutMs: 30_000,
  attempts: 1,
};

/**
 * One workflow history holds every batch (3 activity events, up to 3 workflow-task events) and every
 * round (a timer, workflow tasks), and every batch's input carries the prompts. These bounds keep an
 * experiment well under Temporal's 50k-event / 50 MB limits (the default 30 min × 4 models is 360
 * rounds, 1,440 batches). There is no continue-as-new: longer experiments raise the interval or run several.
 */
export const MAX_BATCHES = 4000;
export const MAX_ROUNDS = 2000;
export const MAX_HISTORY_PROMPT_BYTES = 20 * 1024 * 1024;

/** Rounds a run can start: the fixed number, or as many intervals as fit in the duration (at least one). */
export function plannedRounds(s: ExperimentSettings): number {
  if (s.rounds !== undefined) return s.rounds;
  return Math.max(1, Math.ceil((s.durationMs ?? 0) / Math.max(1, s.intervalMs)));
}

const posInt = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x > 0;
const nonNeg = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/** First problem as `field: message` (field paths of ExperimentInput), or undefined when valid. */
export function checkExperimentInput(input: ExperimentInput): string | undefined {
  if (!Array.isArray(input.models) || input.models.length === 0) return 'models: expected at least one model';
  const seen = new Set<string>();
  for (const [i, m] of input.models.entries()) {
    if (!m || typeof m.model !== 'string' || !m.model.trim()) return `models.${i}.model: expected a model name`;
    if (seen.has(m.model)) return `models.${i}.model: ${m.model} is listed twice`;
    seen.add(m.model);
    if (m.concurrency !== undefined && !posInt(m.concurrency)) return `models.${i}.concurrency: expected a whole number >= 1`;
    if (m.rpm !== undefined && m.rpm !== null && !posInt(m.rpm)) return `models.${i}.rpm: expected a whole number >= 1`;
  }
  if (!Array.isArray(input.prompts) || input.prompts.length === 0) return 'prompts: expected at least one prompt';
  for (const [i, p] of input.prompts.entries()) {
    if (!p || !Array.isArray(p.messages) || p.messages.length === 0) return `prompts.${i}.messages: expected at least one message`;
  }
  const s = input.settings;
  if (!s) return 'settings: required';
  if ((s.rounds === undefined) === (s.durationMs === undefined)) return 'settings.rounds: give exactly one of rounds or durationMs';
  if (s.rounds !== undefined && !posInt(s.rounds)) return 'settings.rounds: expected a whole number >= 1';
  if (s.durationMs !== undefined && !(nonNeg(s.durationMs) && s.durationMs > 0)) return 'settings.durationMs: expected a duration > 0';
  if (!nonNeg(s.intervalMs)) return 'settings.intervalMs: expected a duration >= 0';
  if (s.durationMs !== undefined && s.intervalMs <= 0) return 'settings.intervalMs: must be > 0 when the experiment runs for a duration';
  if (!posInt(s.concurrency)) return 'settings.concurrency: expected a whole number >= 1';
  if (s.rpm !== null && !posInt(s.rpm)) return 'settings.rpm: expected a whole number >= 1, or null for unlimited';
  if (!(nonNeg(s.temperature) && s.temperature <= 2)) return 'settings.temperature: expected a number between 0 and 2';
  if (!posInt(s.maxTokens)) return 'settings.maxTokens: expected a whole number >= 1';
  if (!(nonNeg(s.timeoutMs) && s.timeoutMs > 0)) return 'settings.timeoutMs: expected a duration > 0';
  if (!posInt(s.attempts) || s.attempts > 10) return 'settings.attempts: expected a whole number from 1 to 10';
  const batches = plannedRounds(s) * input.models.length;
  if (batches > MAX_BATCHES) {
    return `settings.${s.rounds !== undefined ? 'rounds' : 'durationMs'}: ${batches} batches (rounds × models) exceed ${MAX_BATCHES} for one workflow history; use fewer rounds, a longer interval or a shorter duration`;
  }
  if (plannedRounds(s) > MAX_ROUNDS) {
    return `settings.${s.rounds !== undefined ? 'rounds' : 'durationMs'}: ${plannedRounds(s)} rounds exceed ${MAX_ROUNDS} for one workflow history; use fewer rounds, a longer interval or a shorter duration`;
  }
  const promptBytes = JSON.stringify(input.prompts).length;
  if (promptBytes * batches > MAX_HISTORY_PROMPT_BYTES) {
    return `prompts: ${promptBytes} bytes of prompts × ${batches} batches would exceed ${MAX_HISTORY_PROMPT_BYTES / 1024 / 1024} MB of workflow history; use fewer or shorter prompts, or fewer rounds`;
  }
  return undefined;
}

export interface BatchLimits {
  concurrency: number;
  rpm: number | null;
  startToCloseMs: number;
}

/** Effective limits and a start-to-close timeout that a healthy batch can never hit. */
export function batchLimits(m: ExperimentModel, s: ExperimentSettings, prompts: number): BatchLimits {
  const concurrency = m.concurrency ?? s.concurrency;
  const rpm = m.rpm === undefined ? s.rpm : m.rpm;
  const waves = Math.ceil(prompts / concurrency);
  const perRequest = s.timeoutMs * s.attempts + (s.attempts - 1) * 10_000; // seed backoff caps at 10 s
  const rpmWait = rpm ? (prompts / rpm) * 60_000 : 0;
  return { concurrency, rpm, startToCloseMs: Math.ceil(waves * perRequest + rpmWait + 30_000) };
}

/** The activity input of model `m`'s batch in round `round`: every prompt, within the model's limits. */
export function batchInput(
  m: ExperimentModel,
  limits: BatchLimits,
  s: ExperimentSettings,
  prompts: TestCase[],
  round: number,
): ExperimentBatchInput {
  return {
    round,
    target: { model: m.model, baseURL: m.baseURL, apiKeyEnv: m.apiKeyEnv },
    prompts,
    concurrency: limits.concurrency,
    rpm: limits.rpm,
    temperature: s.temperature,
    maxTokens: s.maxTokens,
    timeoutMs: s.timeoutMs,
    attempts: s.attempts,
  };
}

/** Where an experiment's rounds stand (the workflow's state besides the measurements). */
export interface RoundsState {
  status: ExperimentStatus;
  /** Rounds started. */
  round: number;
  /** Rounds whose batches all finished (or failed as a whole). */
  roundsDone: number;
  batchesInFlight: number;
  /** The current round's interval has passed (its timer fired, or there is no interval). */
  intervalPassed: boolean;
  stopRequested: boolean;
  deadlinePassed: boolean;
}

export const initialRounds = (): RoundsState => ({
  status: 'running',
  round: 0,
  roundsDone: 0,
  batchesInFlight: 0,
  intervalPassed: false,
  stopRequested: false,
  deadlinePassed: false,
});

/** The fixed number of rounds; null when the experiment runs for a duration. */
export const roundsPlanned = (s: ExperimentSettings): number | null => s.rounds ?? null;

/** The stop signal: no new round; a running experiment reads "stopping" until its batches in flight finish. */
export const requestStop = (r: RoundsState): RoundsState => ({
  ...r,
  stopRequested: true,
  status: r.status === 'running' ? 'stopping' : r.status,
});

export const passDeadline = (r: RoundsState): RoundsState => ({ ...r, deadlinePassed: true });

/** Another round starts unless a stop came, the deadline passed or the planned rounds (or the cap) are done. */
export function mayStartRound(s: ExperimentSettings, r: RoundsState): boolean {
  const planned = roundsPlanned(s);
  return !(r.stopRequested || r.deadlinePassed || (planned !== null && r.round >= planned) || r.round >= plannedRounds(s));
}

/** A round starts; its interval runs from now (none when intervalMs is 0: the next round may follow at once). */
export const startRound = (s: ExperimentSettings, r: RoundsState): RoundsState => ({
  ...r,
  round: r.round + 1,
  intervalPassed: s.intervalMs <= 0,
});

/** The current round's interval timer fired. (A round starts only after the previous one's fired: no stale timer.) */
export const passInterval = (r: RoundsState): RoundsState => ({ ...r, intervalPassed: true });

export const finishRound = (r: RoundsState): RoundsState => ({ ...r, roundsDone: r.roundsDone + 1 });

export const batchStarted = (r: RoundsState): RoundsState => ({ ...r, batchesInFlight: r.batchesInFlight + 1 });

export const batchEnded = (r: RoundsState): RoundsState => ({ ...r, batchesInFlight: r.batchesInFlight - 1 });

/** After the last of a fixed number of rounds the experiment ends at once, without waiting for the interval. */
export function lastPlannedRoundDone(s: ExperimentSettings, r: RoundsState): boolean {
  const planned = roundsPlanned(s);
  return planned !== null && r.round >= planned;
}

/** Between rounds: the wait ends when the interval has passed, a stop came or the deadline passed. */
export const waitOver = (r: RoundsState): boolean => r.intervalPassed || r.stopRequested || r.deadlinePassed;

/** How it ended: cancelled (the workflow was cancelled), stopped (the stop signal) or completed (rounds or deadline). */
export function ended(r: RoundsState, cancelled: boolean): RoundsState {
  return { ...r, status: cancelled ? 'cancelled' : r.stopRequested ? 'stopped' : 'completed' };
}
