/** The operator CLI as a user runs it: real processes against the real dev server, worker and simulator. */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useHarness } from '../helpers/harness';
import { result, uniqueTarget, waitForStatus } from '../helpers/rollout';
import { modelshift } from '../helpers/processes';
import { msToTs } from '@temporalio/common/lib/time';

const dir = mkdtempSync(join(tmpdir(), 'modelshift-cli-'));

const cli = (args: string[]) => cliWith({}, args);

const cliWith = (env: Record<string, string>, args: string[]) =>
  modelshift(args, { TEMPORAL_ADDRESS: h.t.address, TASK_QUEUE: h.taskQueue, ...env });

const h = useHarness({
  sim: { latencyScale: 0.02, models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } } },
  queue: 'cli',
});

describe('modelshift CLI', () => {
  it('validate: a good spec passes; a typo is refused with exit 2 and one line naming the field', async () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(
      good,
      `target: chat-default
blue:  { model: gpt-4.1 }
green: { model: gpt-4.1-turbo }
plan:
  steps: [10, 25, 50, 100]
  dwell: 60s
  samplesPerStep: 20
  concurrency: 10
prompts:
  - - { role: system, content: You are a helpful assistant. }
    - { role: user, content: What is 2+2? }
guards: { maxErrorRate: 0.05, maxErrorRateIncrease: 0.02, minSamples: 20 }
onFailure: rollback
rateLimit: { requestsPerMinute: 600 }
`,
    );
    const ok = await cli(['validate', '-f', good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok: chat-default: gpt-4\.1 → gpt-4\.1-turbo, steps 10→25→50→100%, dwell 1m/);
    expect(ok.stderr).toBe('');

    // A hold budget smaller than what an identical green needs to pass: refused, unless --force (then a warning).
    const tight = await cli(['validate', '-f', good, '--max-hold-pairs', '60']);
    expect(tight.code).toBe(2);
    expect(tight.stderr).toMatch(
      /^modelshift: guards\.maxHoldPairs: a step needs at least \d+ judged pairs to pass .*or --force to start anyway\)\n$/,
    );
    const forced = await cli(['validate', '-f', good, '--max-hold-pairs', '60', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/^warning: guards\.maxHoldPairs: a step needs at least/);

    // A shadow phase and a judge from flags: validate says so on its one line.
    const shadowed = await cli(['validate', '-f', good, '--shadow', '5', '--judge', 'deepseek-v3.2', '--judge-sample', '30']);
    expect(shadowed.code, shadowed.stderr).toBe(0);
    expect(shadowed.stdout).toMatch(
      /^ok: chat-default: gpt-4\.1 → gpt-4\.1-turbo, shadow 5% first, steps .*, judge deepseek-v3\.2 on 30%\n$/,
    );

    // Flags override the file: --initial/--increment replace its explicit steps.
    const over = await cli(['validate', '-f', good, '--initial', '20', '--increment', '20']);
    expect(over.code, over.stderr).toBe(0);
    expect(over.stdout).toMatch(/steps 20→40→60→80→100%/);

    const typo = join(dir, 'typo.yaml');
    writeFileSync(typo, 'target: x\nblue: { model: a }\ngreen: { model: b }\nplan: { steps: [10, 100], dwel: 60s }\n');
    const bad = await cli(['validate', '-f', typo]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/typo\.yaml: plan: unknown field "dwel"/);

    const steps = await cli(['validate', '--target', 'x', '--blue', 'a', '--green', 'b', '--steps', '10,5,100']);
    expect(steps.code).toBe(2);
    expect(steps.stderr).toMatch(/plan\.steps\[1\]: steps must rise strictly \(10 then 5\)/);

    const key = await cli(['validate', '--target', 'x', '--blue', 'a', '--green', 'b', '--green-key-env', 'sk-live-abc123']);
    expect(key.code).toBe(2);
    expect(key.stderr).toMatch(/green\.apiKeyEnv: expected the NAME of an environment variable/);
  });

  it('start → status --json → duplicate start refused → abort → promote refused', async () => {
    const target = uniqueTarget('cli');
    const start = await cli([
      'start',
      '--target',
      target,
      '--blue',
      'gpt-4.1',
      '--green',
      'gpt-4.1-turbo',
      '--steps',
      '50,100',
      '--dwell',
      '1h',
      '--samples',
      '100',
      '--concurrency',
      '25',
    ]);
    expect(start.code, start.stderr).toBe(0);
    expect(start.stdout).toContain(`started rollout-${target}`);

    await waitForStatus(h.t.client, target, (s) => s.verdicts.length > 0);
    const status = await cli(['status', target, '--json']);
    expect(status.code, status.stderr).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s).toMatchObject({ target, phase: 'ramping', step: 1, greenPercent: 50, reason: null });
    for (const arm of ['blue', 'green']) {
      expect(s[arm]).toEqual(
        expect.objectContaining({ requests: expect.any(Number), errors: 0, errorRate: 0, p99LatencyMs: expect.any(Number) }),
      );
      expect(s[arm].requests).toBeGreaterThan(0);
    }

    const dup = await cli(['start', '--target', target, '--blue', 'gpt-4.1', '--green', 'gpt-4.1-turbo']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(new RegExp(`target ${target} already has a running rollout`));

    const abort = await cli(['abort', target, '--reason', 'latency dashboards look off']);
    expect(abort.code, abort.stderr).toBe(0);
    const r = await result(h.t.client, target);
    expect(r.phase).toBe('rolled_back');
    expect(r.reason).toBe('aborted by operator: latency dashboards look off');

    const after = JSON.parse((await cli(['status', target, '--json'])).stdout);
    expect(after).toMatchObject({ phase: 'rolled_back', greenPercent: 0, reason: 'aborted by operator: latency dashboards look off' });

    const promote = await cli(['promote', target]);
    expect(promote.code).toBe(1);
    expect(promote.stderr.trim()).toBe(`modelshift: promote refused: rollout-${target} is already rolled_back; nothing to promote`);

    const list = await cli(['list', '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).map((x: { target: string }) => x.target)).toContain(target);
  });

  it('status of an unknown target is a clear failure', async () => {
    const r = await cli(['status', 'never-started-xyz']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'modelshift: no rollout for target never-started-xyz (workflow rollout-never-started-xyz not found); see modelshift list',
    );
  });

  it('a malformed environment value is one line naming the variable', async () => {
    const child = spawn(process.execPath, ['bin/modelshift.js', 'list'], {
      env: { ...process.env, TEMPORAL_ADDRESS: 'http://nope:7233/' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(2);
    expect(stderr.trim()).toMatch(/^modelshift: TEMPORAL_ADDRESS: expected host:port/);
  });

  it('start on a namespace without the rollout search attributes says which and how to register them, in one line', async () => {
    const namespace = `bare-${Date.now().toString(36)}`;
    await h.t.client.connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
    const target = uniqueTarget('bare');
    let r = { code: -1, stdout: '', stderr: '' };
    // a new namespace takes a moment to reach the frontend's cache
    for (let i = 0; i < 30; i++) {
      r = await cliWith({ TEMPORAL_NAMESPACE: namespace }, ['start', '--target', target, '--blue', 'gpt-4.1', '--green', 'gpt-4.1-turbo']);
      if (!/not found|NotFound/i.test(r.stderr)) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^modelshift: the namespace ${namespace} has no search attribute \\w+: start \`npx modelshift worker\` against this server once .*RolloutTarget \\(Keyword\\).*GreenPercent \\(Int\\)`,
      ),
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
