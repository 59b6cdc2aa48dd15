/**
 * Experiment messages, shared by the workflow, the CLI and tests.
 * `temporal workflow query --name progress` and `temporal workflow signal --name stop` work by name.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ExperimentProgress } from '../src/experiment/types';

/** Progress so far: the report as it stands (same shape as the result), round counters, status. */
export const progressQuery = defineQuery<ExperimentProgress>('progress');
/** Start no new rounds; batches in flight finish and are counted; the workflow returns its report. */
export const stopSignal = defineSignal<[{ reason?: string }?]>('stop');

export const experimentWorkflowId = (name: string): string => `experiment-${name}`;
