/** Operator commands: start, validate, status, watch, pause, resume, abort, promote, list. */
import type { Command } from 'commander';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { loadConfig, loadDotEnv, type Config } from '../config';
import { formatDuration } from '../spec/duration';
import { planWarnings, type RolloutSpec } from './spec';
import { connectClient } from '../temporal/connect';
import { BlueModel, GreenModel, GreenPercent, RolloutPhase, RolloutTarget } from '../temporal/search-attributes';
import { abortSignal, CLOSED_PHASES, pauseSignal, promoteUpdate, resumeSignal, rolloutWorkflowId, statusQuery, type RolloutStatus } from './contract';
import type { RolloutResult, rolloutWorkflow } from './workflow';
import { action, CliFailure, EXIT, UsageError } from '../cli/exit';
import { statusJson, statusText } from './render';
import { specFromFlags, type SpecFlags } from './spec-flags';

export function webUiLink(config: Config, workflowId: string): string {
  const base = process.env.TEMPORAL_UI_URL ?? (config.temporal.address ? undefined : `http://localhost:${config.temporal.uiPort}`);
  return base ? `${base}/namespaces/${config.temporal.namespace}/workflows/${workflowId}` : `(Web UI) workflow ${workflowId}`;
}

export function staticSummary(spec: RolloutSpec): string {
  return `${spec.target}: ${spec.blue.model} → ${spec.green.model}, steps ${spec.steps.join('→')}%, dwell ${formatDuration(spec.dwellMs)}`;
}

export function staticDetails(spec: RolloutSpec): string {
  const g = spec.guards as Record<string, unknown>;
  return [
    `**Rollout** \`${spec.target}\`: blue \`${spec.blue.model}\`${spec.blue.baseURL ? ` @ ${spec.blue.baseURL}` : ''} → green \`${spec.green.model}\`${spec.green.baseURL ? ` @ ${spec.green.baseURL}` : ''}`,
    '',
    `| plan | |`,
    `|---|---|`,
    `| steps | ${spec.steps.join(' → ')} % |`,
    `| dwell | ${formatDuration(spec.dwellMs)} |`,
    `| samples per round | ${spec.samplesPerStep} (concurrency ${spec.concurrency}, ${spec.rateLimit.requestsPerMinute} rpm per model) |`,
    `| on failure | ${spec.onFailure} |`,
    `| guards | ${Object.entries(g).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ')} |`,
    `| prompts | ${spec.prompts.length} (${spec.prompts.filter((p) => p.expect).length} with output checks) |`,
  ].join('\n');
}

/** Start a rollout; refuses a second one for a target that has a running rollout. */
export async function startRollout(client: Client, taskQueue: string, spec: RolloutSpec, options?: { historyEventLimit?: number }): Promise<WorkflowHandleWithFirstExecutionRunId<typeof rolloutWorkflow>> {
  const workflowId = rolloutWorkflowId(spec.target);
  try {
    return await client.workflow.start<typeof rolloutWorkflow>('rolloutWorkflow', {
      workflowId,
      taskQueue,
      args: [{ spec, options }],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      typedSearchAttributes: [
        { key: RolloutTarget, value: spec.target },
        { key: RolloutPhase, value: 'preflight' },
        { key: BlueModel, value: spec.blue.model },
        { key: GreenModel, value: spec.green.model },
        { key: GreenPercent, value: 0 },
      ],
      staticSummary: staticSummary(spec),
      staticDetails: staticDetails(spec),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliFailure(`target ${spec.target} already has a running rollout (${workflowId}); abort or promote it first (modelshift status ${spec.target})`);
    }
    throw err;
  }
}

/** The status of a rollout, running or finished. */
export async function readStatus(client: Client, target: string): Promise<RolloutStatus> {
  const handle = client.workflow.getHandle<typeof rolloutWorkflow>(rolloutWorkflowId(target));
  let desc;
  try {
    desc = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new CliFailure(`no rollout for target ${target} (workflow ${rolloutWorkflowId(target)} not found); see modelshift list`);
    throw err;
  }
  if (desc.status.name === 'COMPLETED') {
    const result = (await handle.result()) as RolloutResult;
    return result.status;
  }
  if (desc.status.name !== 'RUNNING') {
    throw new CliFailure(`rollout ${target} ended ${desc.status.name.toLowerCase()} without a result (see the Web UI for its history)`);
  }
  try {
    return await Promise.race([
      handle.query(statusQuery),
      new Promise<never>((_, reject) => setTimeout(() => reject(new CliFailure(`no worker answered for ${target} within 10s; is \`modelshift worker\` running on task queue ${desc.taskQueue}?`)), 10_000).unref()),
    ]);
  } catch (err) {
    if (err instanceof CliFailure) throw err;
    throw new CliFailure(`cannot read the status of ${target}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Follow a rollout until it ends; returns its final status. */
/**
 * Follow a rollout until it ends; returns its final status. A transient failure to read it (a worker
 * restarting, a slow query) is retried while the workflow is still running; only a rollout that is
 * gone or ended without a result stops the watch.
 */
export async function watchRollout(client: Client, target: string, out: (s: RolloutStatus) => void, intervalMs = 1000): Promise<RolloutStatus> {
  let failures = 0;
  for (;;) {
    let s: RolloutStatus | undefined;
    try {
      s = await readStatus(client, target);
      failures = 0;
    } catch (err) {
      const running = await client.workflow
        .getHandle(rolloutWorkflowId(target))
        .describe()
        .then((d) => d.status.name === 'RUNNING')
        .catch(() => false);
      if (!running || ++failures > 60) throw err;
      process.stderr.write(`modelshift: ${(err as Error).message.split('\n')[0]} (retrying)\n`);
    }
    if (s) {
      out(s);
      if (CLOSED_PHASES.includes(s.phase)) return s;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A positive whole number from a flag, or a one-line bad-input error naming it. */
function positiveInt(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: expected a positive whole number, got ${JSON.stringify(value)}`);
  return n;
}

export function liveView(): (s: RolloutStatus) => void {
  let last = '';
  let lines = 0;
  const tty = process.stdout.isTTY;
  return (s) => {
    const text = statusText(s);
    if (text === last) return;
    if (tty && lines) process.stdout.write(`\x1b[${lines}A\x1b[0J`);
    process.stdout.write(`${text}\n`);
    lines = text.split('\n').length;
    last = text;
  };
}

function withClient<A extends unknown[]>(fn: (client: Client, config: Config, ...args: A) => Promise<void | number>) {
  return action(async (...args: A) => {
    loadDotEnv();
    const config = loadConfig();
    const client = await connectClient(config);
    try {
      return await fn(client, config, ...args);
    } finally {
      await client.connection.close();
    }
  });
}

const exitFor = (s: RolloutStatus) => (s.phase === 'promoted' ? EXIT.ok : EXIT.failure);

export function registerRolloutCommands(program: Command): void {
  const specOptions = (c: Command) =>
    c
      .option('-f, --file <spec>', 'rollout spec file (YAML or JSON); flags below override its fields')
      .option('--target <alias>', 'the alias this rollout governs, e.g. chat-default (workflow id rollout-<target>)')
      .option('--blue <model>', 'current model, e.g. gpt-4.1')
      .option('--green <model>', 'new model, e.g. gpt-4.1-turbo')
      .option('--blue-base-url <url>', "blue's gateway base URL (default: GATEWAY_BASE_URL on the worker)")
      .option('--green-base-url <url>', "green's gateway base URL (a move between providers)")
      .option('--blue-key-env <NAME>', "name of the worker's env var holding blue's key (default GATEWAY_API_KEY)")
      .option('--green-key-env <NAME>', "name of the worker's env var holding green's key")
      .option('--steps <list>', 'green percent per step, e.g. 10,25,50,100')
      .option('--initial <percent>', 'first step (with --increment), e.g. 10')
      .option('--increment <percent>', 'step size (with --initial), e.g. 10')
      .option('--dwell <duration>', 'time at each step after it passes, e.g. 60s, 10m')
      .option('--samples <n>', 'sample requests per evaluation round')
      .option('--concurrency <n>', 'concurrent sample requests')
      .option('--rpm <n>', 'requests per minute per model')
      .option('--on-failure <policy>', 'rollback (default) or pause')
      .option('--max-error-rate <x>', 'absolute ceiling for green errors, e.g. 0.05')
      .option('--max-error-rate-increase <x>', 'tolerated green − blue error rate, e.g. 0.02')
      .option('--min-samples <n>', 'samples per arm before a verdict')
      .option('--prompts <file>', 'sample prompts file (YAML/JSON list of message lists)');

  specOptions(program.command('validate').description('check a rollout spec without starting anything (exit 2 and a one-line reason when invalid)')).action(
    action(async (flags: SpecFlags) => {
      const spec = specFromFlags(flags);
      process.stdout.write(`ok: ${staticSummary(spec)}\n`);
      for (const w of planWarnings(spec)) process.stderr.write(`warning: ${w}\n`);
    }),
  );

  specOptions(program.command('start').description('start a rollout (from -f spec.yaml and/or flags)'))
    .option('--wait', 'follow it live until it ends (exit 0 promoted, 1 otherwise)')
    .option('--json', 'print {workflowId, runId} as JSON')
    .action(
      action(async (flags: SpecFlags & { wait?: boolean; json?: boolean }) => {
        const spec = specFromFlags(flags); // bad input → exit 2 before connecting to anything
        for (const w of planWarnings(spec)) process.stderr.write(`warning: ${w}\n`);
        loadDotEnv();
        const config = loadConfig();
        const client = await connectClient(config);
        try {
          const handle = await startRollout(client, config.temporal.taskQueue, spec);
          if (flags.json && !flags.wait) process.stdout.write(`${JSON.stringify({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId })}\n`);
          else if (!flags.json) {
            process.stdout.write(`started ${handle.workflowId}: ${staticSummary(spec)}\n`);
            process.stdout.write(`  Web UI: ${webUiLink(config, handle.workflowId)}\n`);
            process.stdout.write(`  follow: npx modelshift watch ${spec.target}\n`);
          }
          if (flags.wait) {
            // With --json, stdout carries only the final status (progress would break the JSON).
            const final = await watchRollout(client, spec.target, flags.json ? () => undefined : liveView());
            if (flags.json) process.stdout.write(`${JSON.stringify({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId, ...statusJson(final) }, null, 2)}\n`);
            return exitFor(final);
          }
        } finally {
          await client.connection.close();
        }
      }),
    );

  program
    .command('status <target>')
    .description('phase, step, ratio, per-arm numbers and the last verdict')
    .option('--json', 'machine-readable')
    .action(
      withClient(async (client, _config, target: string, opts: { json?: boolean }) => {
        const s = await readStatus(client, target);
        process.stdout.write(opts.json ? `${JSON.stringify(statusJson(s), null, 2)}\n` : `${statusText(s)}\n`);
      }),
    );

  program
    .command('watch <target>')
    .description('live progress until the rollout ends (exit 0 promoted, 1 rolled back or failed)')
    .option('--interval <ms>', 'refresh interval', '1000')
    .action(withClient(async (client, _config, target: string, opts: { interval: string }) => exitFor(await watchRollout(client, target, liveView(), positiveInt('--interval', opts.interval)))));

  const signalCmd = (name: 'pause' | 'resume' | 'abort', description: string) =>
    program
      .command(`${name} <target>`)
      .description(description)
      .option('--reason <text>', 'why (kept in the status and history)')
      .action(
        withClient(async (client, _config, target: string, opts: { reason?: string }) => {
          const handle = client.workflow.getHandle(rolloutWorkflowId(target));
          try {
            if (name === 'pause') await handle.signal(pauseSignal, { reason: opts.reason });
            else if (name === 'resume') await handle.signal(resumeSignal);
            else await handle.signal(abortSignal, { reason: opts.reason });
          } catch (err) {
            if (err instanceof WorkflowNotFoundError) throw new CliFailure(`no running rollout for target ${target}; see modelshift list`);
            throw err;
          }
          process.stdout.write(`${name} sent to ${rolloutWorkflowId(target)}\n`);
        }),
      );
  signalCmd('pause', 'hold the ratio; stop sampling and advancing until resume');
  signalCmd('resume', 'continue a paused rollout');
  signalCmd('abort', 'roll back now: green to 0% at once (also mid-dwell)');

  program
    .command('promote <target>')
    .description('send green to 100% now and complete (refused when the rollout already ended)')
    .option('--reason <text>', 'why')
    .action(
      withClient(async (client, _config, target: string, opts: { reason?: string }) => {
        const handle = client.workflow.getHandle<typeof rolloutWorkflow>(rolloutWorkflowId(target));
        try {
          const s = await handle.executeUpdate(promoteUpdate, { args: [{ reason: opts.reason }] });
          process.stdout.write(`${statusText(s)}\n`);
        } catch (err) {
          if (err instanceof WorkflowUpdateFailedError) throw new CliFailure(`promote refused: ${err.cause?.message ?? err.message}`);
          if (err instanceof WorkflowNotFoundError) {
            // Closed (or never started): say which, as the validator would for a running one.
            const s = await readStatus(client, target);
            throw new CliFailure(`promote refused: ${rolloutWorkflowId(target)} is already ${s.phase}; nothing to promote`);
          }
          throw err;
        }
      }),
    );

  program
    .command('list')
    .description('rollouts, newest first')
    .option('--json', 'machine-readable')
    .option('--limit <n>', 'at most n', '20')
    .action(
      withClient(async (client, _config, opts: { json?: boolean; limit: string }) => {
        const limit = positiveInt('--limit', opts.limit);
        const rows: Record<string, unknown>[] = [];
        // One row per rollout (not per continue-as-new run); newest first, sorted here because the
        // server lists running workflows first.
        for await (const wf of client.workflow.list({ query: `WorkflowType = 'rolloutWorkflow' AND ExecutionStatus != 'ContinuedAsNew'` })) {
          const sa = wf.typedSearchAttributes;
          rows.push({
            target: sa.get(RolloutTarget) ?? wf.workflowId.replace(/^rollout-/, ''),
            phase: sa.get(RolloutPhase) ?? '?',
            greenPercent: sa.get(GreenPercent) ?? 0,
            blue: sa.get(BlueModel) ?? '',
            green: sa.get(GreenModel) ?? '',
            status: wf.status.name,
            startTime: wf.startTime.toISOString(),
            workflowId: wf.workflowId,
          });
          if (rows.length >= 1000) break;
        }
        rows.sort((a, b) => String(b.startTime).localeCompare(String(a.startTime)));
        rows.splice(limit);
        if (opts.json) return void process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        if (!rows.length) return void process.stdout.write('no rollouts yet; start one with: npx modelshift start --target demo --blue gpt-4.1 --green gpt-4.1-turbo\n');
        for (const r of rows) {
          process.stdout.write(
            `${String(r.target).padEnd(24)} ${String(r.phase).padEnd(12)} ${String(r.greenPercent).padStart(3)}%  ${r.blue} → ${r.green}  ${String(r.status).toLowerCase()}  ${r.startTime}\n`,
          );
        }
      }),
    );
}
