// ExperimentClient against the real dev server, without a worker: ids, start options and the errors a
// user can act on. (Its use with a worker is in workflow.test.ts and command.test.ts.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as activities from '../../src/activities';
import { Failure } from '../../src/errors';
import { ExperimentClient, newExperimentId } from '../../src/experiment/client';
import { EXPERIMENT_BATCH_ACTIVITY, EXPERIMENT_WORKFLOW_TYPE } from '../../src/experiment/contract';
import { experimentWorkflow } from '../../src/workflows';
import { connectTestTemporal, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';
import { input } from './fixtures';

let t: TestTemporal;
let experiments: ExperimentClient;
beforeAll(async () => {
  t = await connectTestTemporal();
  experiments = new ExperimentClient(t.client, uniqueTaskQueue('no-worker'));
});
afterAll(async () => {
  await t?.close();
});

describe('experiment contract', () => {
  it('names the workflow type and the batch activity as the worker registers them', () => {
    expect(experimentWorkflow.name).toBe(EXPERIMENT_WORKFLOW_TYPE);
    expect(typeof (activities as Record<string, unknown>)[EXPERIMENT_BATCH_ACTIVITY]).toBe('function');
  });

  it('makes new ids that sort by start time', () => {
    const id = newExperimentId(new Date('2026-01-02T03:04:05.678Z'));
    expect(id).toMatch(/^experiment-2026-01-02T03-04-05-678Z-[0-9a-f]{6}$/);
    expect(newExperimentId(new Date('2026-01-02T03:04:05.678Z'))).not.toBe(id);
  });
});

describe('ExperimentClient', () => {
  it('says which experiment does not exist, for every operation', async () => {
    const id = `experiment-missing-${Date.now()}`;
    for (const op of [
      () => experiments.progress(id),
      () => experiments.stop(id),
      () => experiments.cancel(id),
      () => experiments.result(id),
    ]) {
      const err = await op().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Failure);
      expect((err as Error).message).toBe(`no experiment ${id} (workflow not found)`);
    }
  });

  it('starts on its task queue with the given id and execution timeout, and refuses the id while it runs', async () => {
    const id = `experiment-client-${Date.now()}`;
    const handle = await experiments.start(input({ rounds: 1 }, ['gpt-4.1']), { workflowId: id, workflowExecutionTimeout: '1m' });
    try {
      expect(handle.workflowId).toBe(id);
      const desc = await handle.describe();
      expect(desc.type).toBe(EXPERIMENT_WORKFLOW_TYPE);
      expect(desc.taskQueue).toBe(experiments.taskQueue);
      expect(String(desc.raw.executionConfig?.workflowExecutionTimeout?.seconds)).toBe('60');
      const again = await experiments.start(input({ rounds: 1 }, ['gpt-4.1']), { workflowId: id }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(Failure);
      expect((again as Error).message).toBe(`experiment ${id} is already running; choose another --id`);
    } finally {
      await handle.terminate('test done');
    }
  });
});
