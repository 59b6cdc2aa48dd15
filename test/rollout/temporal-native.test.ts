/**
 * A rollout as a Temporal user operates it: the official `temporal` CLI (metadata, signals, updates,
 * terminate, reset) and what `modelshift status` / `list` then say. Real dev server, worker and simulator.
 */
import { describe, expect, it } from 'vitest';
import { rolloutWorkflowId } from '../../src/rollout/contract';
import { useHarness } from '../helpers/harness';
import { modelshift, temporal } from '../helpers/processes';
import { result, startTestRollout, status, testSpec, uniqueTarget, waitForStatus } from '../helpers/rollout';

const h = useHarness({
  sim: { latencyScale: 0.02, models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } } },
  queue: 'native',
});
const env = () => ({ TEMPORAL_ADDRESS: h.t.address, TASK_QUEUE: h.taskQueue });

/** A rollout dwelling for an hour after its first step passed. */
async function dwelling(prefix: string) {
  const spec = testSpec({ target: uniqueTarget(prefix), plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 100, concurrency: 25 } });
  const handle = await startTestRollout(h.t.client, h.taskQueue, spec);
  await waitForStatus(h.t.client, spec.target, (s) => s.verdicts.some((v) => v.evaluation.verdict === 'Pass'), 60_000);
  return { spec, handle, id: rolloutWorkflowId(spec.target) };
}

describe('the rollout under the temporal CLI', () => {
  it('`temporal workflow metadata` describes every signal, update and query', async () => {
    const { id, spec } = await dwelling('meta');
    const out = await temporal(h.t.address, ['workflow', 'metadata', '-w', id]);
    expect(out.code, out.stderr).toBe(0);
    for (const text of [
      'Roll back now: green to 0% at once',
      'Hold the ratio',
      'Continue a paused rollout',
      'Send green to 100% now',
      'phase, step, green percent',
      "A router's batch of live outcomes",
    ]) {
      expect(out.stdout).toContain(text);
    }
    await h.t.client.workflow.getHandle(id).signal('abort');
    expect((await result(h.t.client, spec.target)).phase).toBe('rolled_back');
  });

  it('a misspelt signal is reported in the status, not taken silently; a plain-string reason is kept', async () => {
    const { id, spec } = await dwelling('typo');
    expect((await temporal(h.t.address, ['workflow', 'signal', '-w', id, '--name', 'abrot', '--input', '{"reason":"x"}'])).code).toBe(0);
    const s = await waitForStatus(h.t.client, spec.target, (st) => st.ignoredSignal !== undefined);
    expect(s.ignoredSignal).toEqual({ name: 'abrot', count: 1 });
    expect(s.phase).toBe('ramping');
    const shown = await modelshift(['status', spec.target], env());
    expect(shown.stdout).toContain('ignored signal "abrot" ×1');
    expect((await temporal(h.t.address, ['workflow', 'signal', '-w', id, '--name', 'abort', '--input', '"manual stop"'])).code).toBe(0);
    expect((await result(h.t.client, spec.target)).reason).toBe('aborted by operator: manual stop');
  });

  it('`temporal workflow update execute --name abort` rolls back and answers with the status; a second one is refused', async () => {
    const { id, spec } = await dwelling('upd');
    const out = await temporal(h.t.address, [
      'workflow',
      'update',
      'execute',
      '-w',
      id,
      '--name',
      'abort',
      '--input',
      '{"reason":"by update"}',
    ]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('rolled_back');
    expect((await result(h.t.client, spec.target)).reason).toBe('aborted by operator: by update');
    const again = await modelshift(['abort', spec.target], env());
    expect(again.code).toBe(1);
  });

  it('pause and resume from our CLI are acknowledged with the new phase', async () => {
    const { spec } = await dwelling('ack');
    const p = await modelshift(['pause', spec.target, '--reason', 'freeze'], env());
    expect(p.stdout.trim()).toBe(`pause: ${rolloutWorkflowId(spec.target)} is now paused at 50% green`);
    expect((await status(h.t.client, spec.target)).reason).toBe('freeze');
    const r = await modelshift(['resume', spec.target], env());
    expect(r.stdout.trim()).toBe(`resume: ${rolloutWorkflowId(spec.target)} is now ramping at 50% green`);
    const again = await modelshift(['resume', spec.target], env());
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/resume refused: .* is not paused; nothing to resume/);
    await modelshift(['abort', spec.target], env());
  });

  it('a terminated rollout: status says so at 0% with the reason and the last numbers; list shows it terminated', async () => {
    const { id, spec } = await dwelling('term');
    expect((await temporal(h.t.address, ['workflow', 'terminate', '-w', id, '--reason', 'pulled the plug'])).code).toBe(0);
    const js = await modelshift(['status', spec.target, '--json'], env());
    expect(js.code, js.stderr).toBe(0);
    const s = JSON.parse(js.stdout);
    expect(s).toMatchObject({ phase: 'failed', greenPercent: 0, execution: 'terminated' });
    expect(s.reason).toBe('terminated: pulled the plug (last seen ramping at 50%); routers serve 0% green');
    expect(s.green.requests).toBeGreaterThan(0); // the last numbers, from a replay
    const list = JSON.parse((await modelshift(['list', '--json', '--limit', '200'], env())).stdout);
    expect(list.filter((r: { workflowId: string }) => r.workflowId === id)).toEqual([
      expect.objectContaining({ phase: 'terminated', greenPercent: 0, status: 'TERMINATED' }),
    ]);
  });

  it('a reset rollout is listed once (the run that continues)', async () => {
    const { id, spec } = await dwelling('reset');
    const out = await temporal(h.t.address, ['workflow', 'reset', '-w', id, '--type', 'FirstWorkflowTask', '--reason', 'retry from start']);
    expect(out.code, out.stderr).toBe(0);
    await waitForStatus(h.t.client, spec.target, (s) => s.verdicts.some((v) => v.evaluation.verdict === 'Pass'), 60_000);
    const list = JSON.parse((await modelshift(['list', '--json', '--limit', '200'], env())).stdout);
    expect(list.filter((r: { workflowId: string }) => r.workflowId === id)).toEqual([
      expect.objectContaining({ status: 'RUNNING', phase: 'ramping' }),
    ]);
    await h.t.client.workflow.getHandle(id).signal('abort');
  });
});
