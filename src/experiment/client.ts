/**
 * ExperimentClient: every operation on A/B experiments, over a Temporal client — start, progress,
 * stop, cancel, result. Used by `modelshift ab` and the tests, so they all start and read experiments
 * the same way. Errors a user can act on are Failure, on one line.
 */
import { randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { Failure } from '../errors';
import {
  EXPERIMENT_WORKFLOW_TYPE,
  experimentWorkflowId,
  progressQuery,
  stopSignal,
  type ExperimentInput,
  type ExperimentProgress,
  type ExperimentReport,
} from './contract';
import type { experimentWorkflow } from './workflow';

export interface ExperimentStartOptions {
  /** Default: a new id, experiment-<time>-<random> (newExperimentId). */
  workflowId?: string;
  /** A bound on the whole run (default: none, the experiment's own rounds or duration end it). */
  workflowExecutionTimeout?: Duration;
}

/** experiment-2026-01-01T10-00-00-000Z-1a2b3c: sorts by start time, unique. */
export function newExperimentId(now = new Date()): string {
  return experimentWorkflowId(`${now.toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 6)}`);
}

/** The innermost cause of a failed workflow (the activity's or the workflow's own ApplicationFailure). */
function rootCause(err: WorkflowFailedError): string {
  let c: unknown = err.cause;
  while (c instanceof Error && c.cause) c = c.cause;
  return c instanceof Error ? c.message : String(c ?? err.message);
}

export class ExperimentClient {
  constructor(
    readonly client: Client,
    readonly taskQueue: string,
  ) {}

  handle(workflowId: string): WorkflowHandle<typeof experimentWorkflow> {
    return this.client.workflow.getHandle<typeof experimentWorkflow>(workflowId);
  }

  /** Start an experiment; refuses an id that names a running workflow. */
  async start(
    input: ExperimentInput,
    opts: ExperimentStartOptions = {},
  ): Promise<WorkflowHandleWithFirstExecutionRunId<typeof experimentWorkflow>> {
    const workflowId = opts.workflowId ?? newExperimentId();
    try {
      return await this.client.workflow.start<typeof experimentWorkflow>(EXPERIMENT_WORKFLOW_TYPE, {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        ...(opts.workflowExecutionTimeout !== undefined ? { workflowExecutionTimeout: opts.workflowExecutionTimeout } : {}),
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError)
        throw new Failure(`experiment ${workflowId} is already running; choose another --id`);
      throw err;
    }
  }

  private async call<T>(workflowId: string, fn: (h: WorkflowHandle<typeof experimentWorkflow>) => Promise<T>): Promise<T> {
    try {
      return await fn(this.handle(workflowId));
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new Failure(`no experiment ${workflowId} (workflow not found)`);
      throw err;
    }
  }

  /** Round counters and the report so far (also of a finished experiment). */
  progress(workflowId: string): Promise<ExperimentProgress> {
    return this.call(workflowId, (h) => h.query(progressQuery));
  }

  /** Start no new round; batches in flight finish and count; the workflow then returns its report ("stopped"). */
  stop(workflowId: string, reason?: string): Promise<void> {
    return this.call(workflowId, (h) => h.signal(stopSignal, { reason }));
  }

  /** Drop the batches in flight; the workflow still returns the report of every finished batch ("cancelled"). */
  async cancel(workflowId: string): Promise<void> {
    await this.call(workflowId, (h) => h.cancel());
  }

  /** Wait for the report. A failed experiment is a Failure naming the innermost cause. */
  result(workflowId: string): Promise<ExperimentReport> {
    return this.call(workflowId, async (h) => {
      try {
        return await h.result();
      } catch (err) {
        if (err instanceof WorkflowFailedError) throw new Failure(`experiment failed: ${rootCause(err)}`);
        throw err;
      }
    });
  }
}
