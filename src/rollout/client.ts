/**
 * RolloutClient: every operation on rollouts, over a Temporal client — start, status, watch, pause,
 * resume, abort, promote, list. Used by the CLI, the demo, the router's ratio source and the tests, so
 * they all start and read rollouts the same way. Errors a user can act on are Failure, on one line.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { Failure, firstLine } from '../errors';
import {
  abortSignal,
  abortUpdate,
  approveUpdate,
  BlueModel,
  GreenModel,
  GreenPercent,
  isClosedPhase,
  RolloutAttempt,
  ROLLOUT_SEARCH_ATTRIBUTES,
  pauseSignal,
  pauseUpdate,
  promoteUpdate,
  resumeSignal,
  resumeUpdate,
  ROLLOUT_WORKFLOW_TYPE,
  RolloutPhase,
  rolloutSearchAttributes,
  RolloutTarget,
  rolloutWorkflowId,
  statusQuery,
  targetOfWorkflowId,
  type RetryOf,
  type RolloutInput,
  type RolloutOptions,
  type RolloutResult,
  type RolloutStatus,
} from './contract';
import type { RolloutSpec } from './spec';
import { staticDetails, staticSummary } from './web-ui';
import type { rolloutWorkflow } from './workflow';
import { emptyArmStats, summarize } from '../decision/arm-stats';

export interface RolloutRow {
  target: string;
  phase: string;
  greenPercent: number;
  blue: string;
  green: string;
  /** Temporal's execution status (running, completed, terminated…). */
  status: string;
  startTime: string;
  workflowId: string;
  runId: string;
  /** 1 for a first rollout, 2, 3 … for each retry (RolloutAttempt) */
  attempt: number;
  /** the run this one retries (memo previousRunId) */
  previousRunId?: string;
}

/** The identity the server uses when a reset terminates the run it replaces. */
const RESETTER = 'history-resetter';

/** An error's message and its causes' (the SDK wraps gRPC errors: `Failed to start Workflow`, the reason in its cause). */
function messages(err: unknown, depth = 0): string {
  const e = err as { message?: unknown; cause?: unknown } | undefined;
  const own = typeof e?.message === 'string' ? e.message : '';
  return depth < 5 && e?.cause !== undefined ? `${own} ${messages(e.cause, depth + 1)}` : own;
}

/** A deadline that passed, also when the SDK wraps the gRPC error (`ServiceError: Failed to query Workflow`, its cause DEADLINE_EXCEEDED). */
const isDeadline = (err: unknown, depth = 0): boolean => {
  const e = err as { code?: number; cause?: unknown } | undefined;
  if (e?.code === 4 /* DEADLINE_EXCEEDED */ || /deadline/i.test(firstLine(err))) return true;
  return depth < 5 && e?.cause !== undefined && isDeadline(e.cause, depth + 1);
};

/** How an operator intent landed: acknowledged (with the new status), or queued as a signal (no worker answered). */
export interface IntentResult {
  status?: RolloutStatus;
  queued: boolean;
}

const ACK_TIMEOUT_MS = 10_000;

export class RolloutClient {
  constructor(
    readonly client: Client,
    readonly taskQueue: string,
  ) {}

  handle(target: string): WorkflowHandle<typeof rolloutWorkflow> {
    return this.client.workflow.getHandle<typeof rolloutWorkflow>(rolloutWorkflowId(target));
  }

  /** Start a rollout; refuses a second one for a target that has a running rollout. */
  async start(
    spec: RolloutSpec,
    options?: RolloutOptions,
    retryOf?: RetryOf,
  ): Promise<WorkflowHandleWithFirstExecutionRunId<typeof rolloutWorkflow>> {
    const workflowId = rolloutWorkflowId(spec.target);
    try {
      return await this.client.workflow.start<typeof rolloutWorkflow>(ROLLOUT_WORKFLOW_TYPE, {
        workflowId,
        taskQueue: this.taskQueue,
        args: [{ spec, options, ...(retryOf ? { retryOf } : {}) }],
        ...(retryOf ? { memo: { previousRunId: retryOf.runId, attempt: retryOf.attempt } } : {}),
        workflowIdConflictPolicy: 'FAIL',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        // Above the worker's 30 s sandbox limit: a task under a signal flood is slow, not stuck (src/worker.ts).
        workflowTaskTimeout: '60s',
        typedSearchAttributes: [...rolloutSearchAttributes(spec, 'preflight', 0), { key: RolloutAttempt, value: retryOf?.attempt ?? 1 }],
        staticSummary: staticSummary(spec),
        staticDetails: staticDetails(spec),
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        throw new Failure(
          `target ${spec.target} already has a running rollout (${workflowId}); abort or promote it first (modelshift status ${spec.target})`,
        );
      }
      const missing = /no mapping defined for search attribute (\w+)/i.exec(messages(err));
      if (missing) {
        throw new Failure(
          `the namespace ${this.client.options.namespace} has no search attribute ${missing[1]}: start \`npx modelshift worker\` against this server once (it registers them), ` +
            `or register ${ROLLOUT_SEARCH_ATTRIBUTES.map((a) => `${a.name} (${a.type === 'INT' ? 'Int' : 'Keyword'})`).join(', ')} with \`temporal operator search-attribute create\``,
        );
      }
      throw err;
    }
  }

  /**
   * A fresh run of the target's last rollout, with the same spec, after it rolled back, was aborted or
   * failed: linked to that run (memo previousRunId, search attribute RolloutAttempt). Refused while a
   * rollout of the target runs, and after a promotion (start a new rollout instead).
   */
  async retry(target: string): Promise<{
    handle: WorkflowHandleWithFirstExecutionRunId<typeof rolloutWorkflow>;
    spec: RolloutSpec;
    retryOf: RetryOf;
    previous: string;
  }> {
    const handle = this.handle(target);
    const desc = await handle.describe().catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError)
        throw new Failure(
          `no rollout for target ${target} to retry (workflow ${rolloutWorkflowId(target)} not found); see modelshift list`,
        );
      throw err;
    });
    const phase = desc.typedSearchAttributes.get(RolloutPhase);
    if (desc.status.name === 'RUNNING') {
      throw new Failure(
        `target ${target} has a running rollout (${phase ?? 'running'}); retry starts a new run only after it ends: abort it first (modelshift abort ${target})`,
      );
    }
    const previous = desc.status.name === 'COMPLETED' ? (phase ?? 'completed') : desc.status.name.toLowerCase();
    if (previous === 'promoted')
      throw new Failure(`the last rollout of ${target} was promoted; nothing to retry (start a new rollout with modelshift start)`);
    const input = await this.inputOf(desc.workflowId, desc.runId);
    const attempt = (input.retryOf?.attempt ?? desc.typedSearchAttributes.get(RolloutAttempt) ?? 1) + 1;
    const retryOf = { runId: desc.runId, attempt };
    return { handle: await this.start(input.spec, input.options, retryOf), spec: input.spec, retryOf, previous };
  }

  /** A run's workflow input (its first history event): the spec it was started with. */
  private async inputOf(workflowId: string, runId: string): Promise<RolloutInput> {
    const res = await this.client.workflowService.getWorkflowExecutionHistory({
      namespace: this.client.options.namespace,
      execution: { workflowId, runId },
      maximumPageSize: 1,
    });
    const payload = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    if (!payload) throw new Failure(`cannot read the spec of ${workflowId} (run ${runId}): its history has no input`);
    return this.client.options.loadedDataConverter.payloadConverter.fromPayload<RolloutInput>(payload);
  }

  /** The status of a rollout, running or finished. */
  async status(target: string, opts: { queryTimeoutMs?: number } = {}): Promise<RolloutStatus> {
    const handle = this.handle(target);
    let desc;
    try {
      desc = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        throw new Failure(`no rollout for target ${target} (workflow ${rolloutWorkflowId(target)} not found); see modelshift list`);
      }
      throw err;
    }
    if (desc.status.name === 'COMPLETED') return ((await handle.result()) as RolloutResult).status;
    if (desc.status.name !== 'RUNNING') return this.endedUncleanly(target, desc);
    const timeoutMs = opts.queryTimeoutMs ?? 10_000;
    try {
      return await this.client.withDeadline(Date.now() + timeoutMs, () => handle.query(statusQuery));
    } catch (err) {
      if (isDeadline(err)) {
        throw new Failure(
          `no worker answered for ${target} within ${Math.round(timeoutMs / 1000)}s; is \`modelshift worker\` running on task queue ${desc.taskQueue}?`,
        );
      }
      throw new Failure(`cannot read the status of ${target}: ${firstLine(err)}`);
    }
  }

  /**
   * A rollout that ended without completing (terminated, timed out, failed, cancelled): routers serve it
   * 0 % green. Its last numbers come from a query (a worker replays its history), or, with no worker, its
   * search attributes; the phase reads `failed` at 0 % with the reason and what it last showed.
   */
  private async endedUncleanly(target: string, desc: WorkflowExecutionDescription): Promise<RolloutStatus> {
    const how = desc.status.name.toLowerCase();
    const lastPhase = desc.typedSearchAttributes.get(RolloutPhase);
    const lastPercent = desc.typedSearchAttributes.get(GreenPercent);
    const why = await this.closeReason(desc).catch(() => undefined);
    const reason = `${how}${why ? `: ${why}` : ''} (last seen ${lastPhase ?? '?'} at ${lastPercent ?? '?'}%); routers serve 0% green`;
    const last = await this.client.withDeadline(Date.now() + 5_000, () => this.handle(target).query(statusQuery)).catch(() => undefined);
    const empty = summarize(emptyArmStats());
    const blue = { model: desc.typedSearchAttributes.get(BlueModel) ?? '' };
    const green = { model: desc.typedSearchAttributes.get(GreenModel) ?? '' };
    const base: RolloutStatus = last ?? {
      target,
      phase: 'failed',
      step: 0,
      totalSteps: 0,
      greenPercent: 0,
      blue,
      green,
      arms: { blue: { ...blue, ...empty }, green: { ...green, ...empty } },
      live: { blue: { ...blue, ...empty }, green: { ...green, ...empty }, batches: 0, dropped: 0 },
      probes: {
        rounds: 0,
        pairs: 0,
        sent: 0,
        stepPairs: 0,
        table: { bothOk: 0, greenFailed: 0, blueFailed: 0, bothFailed: 0 },
        substituted: 0,
        spendUsd: { blue: 0, green: 0 },
      },
      verdicts: [],
      updatedAt: (desc.closeTime ?? desc.startTime).toISOString(),
    };
    return { ...base, phase: 'failed', greenPercent: 0, reason, execution: how };
  }

  /** The reason an operator gave when terminating (the last history event), if any. */
  private async closeReason(desc: WorkflowExecutionDescription): Promise<string | undefined> {
    const res = await this.client.workflowService.getWorkflowExecutionHistoryReverse({
      namespace: this.client.options.namespace,
      execution: { workflowId: desc.workflowId, runId: desc.runId },
      maximumPageSize: 1,
    });
    const e = res.history?.events?.[0];
    return (
      e?.workflowExecutionTerminatedEventAttributes?.reason || e?.workflowExecutionFailedEventAttributes?.failure?.message || undefined
    );
  }

  private async isRunning(target: string): Promise<boolean> {
    return this.handle(target)
      .describe()
      .then((d) => d.status.name === 'RUNNING')
      .catch(() => false);
  }

  /**
   * Follow a rollout until it ends; returns its final status. A transient failure to read it (a worker
   * restarting, a slow query) is retried while the workflow is still running; only a rollout that is
   * gone or ended without a result stops the watch.
   */
  async watch(
    target: string,
    out: (s: RolloutStatus) => void,
    opts: { intervalMs?: number; onRetry?: (message: string) => void } = {},
  ): Promise<RolloutStatus> {
    let failures = 0;
    for (;;) {
      let s: RolloutStatus | undefined;
      try {
        s = await this.status(target);
        failures = 0;
      } catch (err) {
        if (!(await this.isRunning(target)) || ++failures > 60) throw err;
        opts.onRetry?.(`${firstLine(err)} (retrying)`);
      }
      if (s) {
        out(s);
        if (isClosedPhase(s.phase)) return s;
      }
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
    }
  }

  /**
   * An operator intent: the update of that name (acknowledged by the workflow with its new status); when
   * no worker answers within `ackTimeoutMs` (or the update cannot be admitted), the signal of the same
   * name, which the server queues durably and the workflow applies when a worker picks it up.
   */
  private async intent(
    target: string,
    update: (h: WorkflowHandle<typeof rolloutWorkflow>) => Promise<RolloutStatus>,
    signal: (h: WorkflowHandle<typeof rolloutWorkflow>) => Promise<void>,
    what: string,
    ackTimeoutMs: number,
  ): Promise<IntentResult> {
    const handle = this.handle(target);
    try {
      return { status: await this.client.withDeadline(Date.now() + ackTimeoutMs, () => update(handle)), queued: false };
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new Failure(`${what} refused: ${err.cause?.message ?? err.message}`);
      if (err instanceof WorkflowNotFoundError) throw new Failure(`no running rollout for target ${target}; see modelshift list`);
    }
    try {
      await signal(handle);
      return { queued: true };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new Failure(`no running rollout for target ${target}; see modelshift list`);
      throw new Failure(
        `${what} could not be delivered (${firstLine(err)}); as a last resort \`temporal workflow terminate -w ${handle.workflowId}\` stops it (routers then serve 0% green)`,
      );
    }
  }

  pause(target: string, reason?: string, opts: { ackTimeoutMs?: number } = {}): Promise<IntentResult> {
    const args = { reason };
    return this.intent(
      target,
      (h) => h.executeUpdate(pauseUpdate, { args: [args] }),
      (h) => h.signal(pauseSignal, args),
      'pause',
      opts.ackTimeoutMs ?? ACK_TIMEOUT_MS,
    );
  }

  resume(target: string, opts: { ackTimeoutMs?: number } = {}): Promise<IntentResult> {
    return this.intent(
      target,
      (h) => h.executeUpdate(resumeUpdate),
      (h) => h.signal(resumeSignal),
      'resume',
      opts.ackTimeoutMs ?? ACK_TIMEOUT_MS,
    );
  }

  abort(target: string, reason?: string, opts: { ackTimeoutMs?: number } = {}): Promise<IntentResult> {
    const args = { reason };
    return this.intent(
      target,
      (h) => h.executeUpdate(abortUpdate, { args: [args] }),
      (h) => h.signal(abortSignal, args),
      'abort',
      opts.ackTimeoutMs ?? ACK_TIMEOUT_MS,
    );
  }

  /**
   * Approve the gated step the rollout waits at (who and why are recorded in its status and history).
   * An update only: an approval is acknowledged or refused, never queued for later.
   */
  async approve(target: string, by: string, reason?: string, opts: { ackTimeoutMs?: number } = {}): Promise<RolloutStatus> {
    const timeoutMs = opts.ackTimeoutMs ?? ACK_TIMEOUT_MS;
    try {
      return await this.client.withDeadline(Date.now() + timeoutMs, () =>
        this.handle(target).executeUpdate(approveUpdate, { args: [{ by, reason }] }),
      );
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new Failure(`approve refused: ${err.cause?.message ?? err.message}`);
      if (err instanceof WorkflowNotFoundError) throw new Failure(`no running rollout for target ${target}; see modelshift list`);
      if (isDeadline(err)) {
        throw new Failure(
          `approve: no worker answered for ${target} within ${Math.round(timeoutMs / 1000)}s; is \`modelshift worker\` running? (run modelshift status ${target} before approving again)`,
        );
      }
      throw err;
    }
  }

  /** Green to 100 % now; refused (Failure) when the rollout ended or has not passed preflight. */
  async promote(target: string, reason?: string): Promise<RolloutStatus> {
    try {
      return await this.handle(target).executeUpdate(promoteUpdate, { args: [{ reason }] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new Failure(`promote refused: ${err.cause?.message ?? err.message}`);
      if (err instanceof WorkflowNotFoundError) {
        // Closed (or never started): say which, as the validator would for a running one.
        const s = await this.status(target);
        throw new Failure(`promote refused: ${rolloutWorkflowId(target)} is already ${s.phase}; nothing to promote`);
      }
      throw err;
    }
  }

  /**
   * One row per rollout, newest first — every run of a target, so a target's retries show as its history: a
   * continue-as-new chain or a reset is one rollout (the run that continues); a rollout that ended without
   * completing shows how (terminated…) at 0 %, as routers serve it. `target`: only that target's runs.
   */
  async list(limit = 20, target?: string): Promise<RolloutRow[]> {
    const byRollout = new Map<string, RolloutRow>();
    const only = target ? ` AND WorkflowId = '${rolloutWorkflowId(target)}'` : '';
    const query = `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}' AND ExecutionStatus != 'ContinuedAsNew'${only}`;
    let seen = 0;
    for await (const wf of this.client.workflow.list({ query })) {
      const sa = wf.typedSearchAttributes;
      const status = wf.status.name;
      const clean = status === 'RUNNING' || status === 'COMPLETED';
      const row = {
        target: sa.get(RolloutTarget) ?? targetOfWorkflowId(wf.workflowId),
        phase: clean ? (sa.get(RolloutPhase) ?? '?') : status.toLowerCase(),
        greenPercent: clean ? (sa.get(GreenPercent) ?? 0) : 0,
        blue: sa.get(BlueModel) ?? '',
        green: sa.get(GreenModel) ?? '',
        status,
        startTime: wf.startTime.toISOString(),
        workflowId: wf.workflowId,
        runId: wf.runId,
        attempt: sa.get(RolloutAttempt) ?? 1,
        ...(typeof wf.memo?.previousRunId === 'string' ? { previousRunId: wf.memo.previousRunId } : {}),
      };
      if (++seen > 1000) break;
      // A reset ends the old run (terminated by the history resetter) and continues in a new one: one rollout.
      if (status === 'TERMINATED' && (await this.terminatedBy(wf.workflowId, wf.runId)) === RESETTER) continue;
      byRollout.set(`${wf.workflowId}\u0000${wf.runId}`, row);
    }
    // Sorted here because the server lists running workflows first.
    return [...byRollout.values()].sort((a, b) => b.startTime.localeCompare(a.startTime)).slice(0, limit);
  }

  /** Who terminated a run (the identity on its last event), if it was terminated. */
  private async terminatedBy(workflowId: string, runId: string): Promise<string | undefined> {
    const res = await this.client.workflowService
      .getWorkflowExecutionHistoryReverse({
        namespace: this.client.options.namespace,
        execution: { workflowId, runId },
        maximumPageSize: 1,
      })
      .catch(() => undefined);
    return res?.history?.events?.[0]?.workflowExecutionTerminatedEventAttributes?.identity ?? undefined;
  }
}
