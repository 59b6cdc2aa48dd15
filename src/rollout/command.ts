/** Operator commands — start, validate, status, watch, pause, resume, abort, approve, promote, retry, list: flags → RolloutClient → render. */
import { InvalidArgumentError, type Command } from 'commander';
import { userInfo, hostname } from 'node:os';
import { action, EXIT } from '../cli/exit';
import { parseInteger } from '../cli/flags';
import { loadConfig, loadDotEnv, type Config } from '../config';
import type { RolloutClient, IntentResult } from './client';
import type { RolloutStatus } from './contract';
import { listText, statusJson, statusText } from './render';
import { planProblems, pricingProblems, type RolloutSpec } from './spec';
import { loadCatalog } from '../catalog/load';
import { isPriced } from '../catalog/prices';
import { BadInput } from '../errors';
import { specFromFlags, type SpecFlags } from './spec-flags';
import { staticSummary } from './web-ui';

export function webUiLink(config: Config, workflowId: string): string {
  const base = process.env.TEMPORAL_UI_URL ?? (config.temporal.address ? undefined : `http://localhost:${config.temporal.uiPort}`);
  return base ? `${base}/namespaces/${config.temporal.namespace}/workflows/${workflowId}` : `(Web UI) workflow ${workflowId}`;
}

/** Redraws the status in place on a terminal; prints each new status on a pipe. */
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

const say = (text: string): void => void process.stdout.write(`${text}\n`);
const warn = (text: string): void => void process.stderr.write(`modelshift: ${text}\n`);

/**
 * A RolloutClient connected as the environment says. The Temporal SDK is loaded here, when a command
 * connects, not at start-up: bad input (a spec, a flag, a variable) is refused without it, a second sooner.
 */
async function connectRollouts(config: Config): Promise<{ rollouts: RolloutClient; close: () => Promise<void> }> {
  const [{ installQuietRuntime }, { connectClient }, { RolloutClient }] = await Promise.all([
    import('../temporal/runtime'),
    import('../temporal/connect'),
    import('./client'),
  ]);
  installQuietRuntime();
  const client = await connectClient(config);
  return { rollouts: new RolloutClient(client, config.temporal.taskQueue), close: () => client.connection.close() };
}

/** Run `fn` with a RolloutClient from the environment's configuration; the connection is closed after. */
function withRollouts<A extends unknown[]>(fn: (rollouts: RolloutClient, config: Config, ...args: A) => Promise<void | number>) {
  return action(async (...args: A) => {
    loadDotEnv();
    const config = loadConfig();
    const { rollouts, close } = await connectRollouts(config);
    try {
      return await fn(rollouts, config, ...args);
    } finally {
      await close();
    }
  });
}

const TARGET = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Who approves when --by is not given: the OS user at this host. */
function defaultApprover(): string {
  let user = process.env.USER || process.env.USERNAME || '';
  try {
    user ||= userInfo().username;
  } catch {
    user ||= 'unknown';
  }
  return `${user}@${hostname()}`;
}

const exitFor = (s: RolloutStatus) => (s.phase === 'promoted' ? EXIT.ok : EXIT.failure);

function specOptions(c: Command): Command {
  return c
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
    .option('--dwell <duration>', 'minimum time at each step, from its start, e.g. 60s, 10m')
    .option('--probes <n>', 'probe pairs per round (each prompt to both arms at once)')
    .option('--samples <n>', 'the earlier name of --probes')
    .option('--concurrency <n>', 'probe pairs in flight at once')
    .option('--rpm <n>', 'requests per minute per model')
    .option('--on-failure <policy>', 'rollback (default) or pause')
    .option('--max-error-rate <x>', "ceiling on what green adds to blue's error rate, e.g. 0.05")
    .option('--max-error-rate-increase <x>', 'tolerated green − blue error rate, e.g. 0.02')
    .option('--min-samples <n>', 'judged probe pairs before a verdict')
    .option('--spend-cap <usd>', 'stop (onFailure) once green probes have cost this many dollars')
    .option('--max-hold-pairs <n>', 'probe pairs a step may collect without a verdict before onFailure applies')
    .option('--prompts <file>', 'sample prompts file (YAML/JSON list of message lists)')
    .option('--shadow <percent>', 'a shadow phase first: routers mirror this share of requests to green (users get blue)')
    .option('--shadow-min-pairs <n>', 'mirrored pairs the shadow phase needs before it may pass')
    .option('--shadow-max-spend <usd>', "cap on green's spend on mirrors")
    .option('--shadow-max-duration <duration>', 'the shadow phase ends (onFailure) after this long without a verdict, e.g. 2h')
    .option('--judge <model>', 'an LLM judge through the gateway grades green against blue (probes and shadow pairs)')
    .option('--judge-sample <percent>', 'share of pairs the judge grades (default 20)')
    .option('--judge-max-loss-rate <x>', "tolerated net loss rate of green in the judge's grades (default 0.1)")
    .option('--judge-rubric <text>', 'what the judge is told to value')
    .option('--judge-base-url <url>', "the judge's gateway base URL (default: GATEWAY_BASE_URL on the worker)")
    .option('--judge-key-env <NAME>', "name of the worker's env var holding the judge's key");
}

/**
 * Bad input before anything starts: a plan that cannot reach a verdict (unless --force), a spend cap on
 * an unpriced green. Warnings (an unpriced arm) go to stderr.
 */
function checkSpec(spec: RolloutSpec, force: boolean): void {
  const catalog = loadCatalog(process.env.MODELSHIFT_CATALOG || undefined);
  const pricing = pricingProblems(spec, (model) => isPriced(catalog, model));
  if (pricing.refused.length) throw new BadInput(pricing.refused[0]);
  const plan = planProblems(spec);
  if (plan.length && !force) throw new BadInput(plan[0]);
  for (const w of [...plan, ...pricing.warnings]) process.stderr.write(`warning: ${w}\n`);
}

async function start(flags: SpecFlags & { wait?: boolean; json?: boolean; force?: boolean }): Promise<number | void> {
  const spec = specFromFlags(flags); // bad input → exit 2 before connecting to anything
  checkSpec(spec, Boolean(flags.force));
  loadDotEnv();
  const config = loadConfig();
  const { rollouts, close } = await connectRollouts(config);
  try {
    const handle = await rollouts.start(spec);
    const ids = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
    if (flags.json && !flags.wait) say(JSON.stringify(ids));
    else if (!flags.json) {
      say(`started ${handle.workflowId}: ${staticSummary(spec)}`);
      say(`  Web UI: ${webUiLink(config, handle.workflowId)}`);
      say(`  follow: npx modelshift watch ${spec.target}`);
    }
    if (!flags.wait) return;
    // With --json, stdout carries only the final status (progress would break the JSON).
    const final = await rollouts.watch(spec.target, flags.json ? () => undefined : liveView(), { onRetry: warn });
    if (flags.json) say(JSON.stringify({ ...ids, ...statusJson(final) }, null, 2));
    return exitFor(final);
  } finally {
    await close();
  }
}

export function registerRolloutCommands(program: Command): void {
  specOptions(
    program.command('validate').description('check a rollout spec without starting anything (exit 2 and a one-line reason when invalid)'),
  )
    .option('--force', 'accept a plan that cannot reach a verdict (warn instead)')
    .action(
      action(async (flags: SpecFlags & { force?: boolean }) => {
        const spec = specFromFlags(flags);
        checkSpec(spec, Boolean(flags.force));
        say(`ok: ${staticSummary(spec)}`);
      }),
    );

  specOptions(program.command('start').description('start a rollout (from -f spec.yaml and/or flags)'))
    .option('--wait', 'follow it live until it ends (exit 0 promoted, 1 otherwise)')
    .option('--json', 'print {workflowId, runId} as JSON')
    .option('--force', 'start even when the plan cannot reach a verdict')
    .action(action(start));

  program
    .command('status <target>')
    .description('phase, step, ratio, per-arm numbers and the last verdict')
    .option('--json', 'machine-readable')
    .action(
      withRollouts(async (rollouts, _config, target: string, opts: { json?: boolean }) => {
        const s = await rollouts.status(target);
        say(opts.json ? JSON.stringify(statusJson(s), null, 2) : statusText(s));
      }),
    );

  program
    .command('watch <target>')
    .description('live progress until the rollout ends (exit 0 promoted, 1 rolled back or failed)')
    .option('--interval <ms>', 'refresh interval', '1000')
    .action(
      withRollouts(async (rollouts, _config, target: string, opts: { interval: string }) => {
        const intervalMs = parseInteger('--interval', opts.interval, 1);
        return exitFor(await rollouts.watch(target, liveView(), { intervalMs, onRetry: warn }));
      }),
    );

  const operatorCommand = (
    name: 'pause' | 'resume' | 'abort',
    description: string,
    send: (r: RolloutClient, target: string, reason?: string) => Promise<IntentResult>,
  ) =>
    program
      .command(`${name} <target>`)
      .description(description)
      .option('--reason <text>', 'why (kept in the status and history)')
      .action(
        withRollouts(async (rollouts, _config, target: string, opts: { reason?: string }) => {
          const r = await send(rollouts, target, opts.reason);
          const id = rollouts.handle(target).workflowId;
          if (r.status) say(`${name}: ${id} is now ${r.status.phase} at ${r.status.greenPercent}% green`);
          else say(`${name} queued for ${id}: no worker acknowledged within 10s; it takes effect when a worker picks the rollout up`);
        }),
      );
  operatorCommand('pause', 'hold the ratio; stop probing and advancing until resume', (r, t, why) => r.pause(t, why));
  operatorCommand('resume', 'continue a paused rollout', (r, t) => r.resume(t));
  operatorCommand('abort', 'roll back now: green to 0% at once (also mid-dwell)', (r, t, why) => r.abort(t, why));

  program
    .command('promote <target>')
    .description('send green to 100% now and complete (refused when the rollout already ended)')
    .option('--reason <text>', 'why')
    .action(
      withRollouts(async (rollouts, _config, target: string, opts: { reason?: string }) =>
        say(statusText(await rollouts.promote(target, opts.reason))),
      ),
    );

  registerReleaseCommands(program);

  program
    .command('list')
    .description("rollouts, newest first: every run, so retries show as a target's history")
    .option('--json', 'machine-readable')
    .option('--limit <n>', 'at most n', '20')
    .option('--target <alias>', "only this target's runs", (v: string) => {
      if (!TARGET.test(v)) throw new InvalidArgumentError('expected an alias of letters, digits, . _ - (e.g. chat-default)');
      return v;
    })
    .action(
      withRollouts(async (rollouts, _config, opts: { json?: boolean; limit: string; target?: string }) => {
        const rows = await rollouts.list(parseInteger('--limit', opts.limit, 1), opts.target);
        say(opts.json ? JSON.stringify(rows, null, 2) : listText(rows));
      }),
    );
}

/** approve and retry: the release controls (issue 15). */
function registerReleaseCommands(program: Command): void {
  program
    .command('approve <target>')
    .description('approve the gated step the rollout waits at; it moves on (who and why are recorded)')
    .option('--reason <text>', 'why (kept in the status and history)')
    .option('--by <name>', 'who approves (default: user@host)')
    .action(
      withRollouts(async (rollouts, _config, target: string, opts: { reason?: string; by?: string }) => {
        const by = opts.by?.trim() || defaultApprover();
        const s = await rollouts.approve(target, by, opts.reason);
        const a = s.approvals?.at(-1);
        say(
          `approve: ${rollouts.handle(target).workflowId} step ${a?.step ?? s.step} (${a?.greenPercent ?? s.greenPercent}%) approved by ${by}; now ${s.phase} at ${s.greenPercent}% green`,
        );
      }),
    );

  program
    .command('retry <target>')
    .description("start a fresh run of the target's last rollout spec after a rollback, abort or failure (refused while one runs)")
    .option('--wait', 'follow it live until it ends (exit 0 promoted, 1 otherwise)')
    .action(
      withRollouts(async (rollouts, config, target: string, opts: { wait?: boolean }) => {
        const { handle, spec, retryOf, previous } = await rollouts.retry(target);
        say(
          `retry: started ${handle.workflowId} attempt ${retryOf.attempt} (the last run ${retryOf.runId} was ${previous}): ${staticSummary(spec)}`,
        );
        say(`  Web UI: ${webUiLink(config, handle.workflowId)}`);
        say(`  history: npx modelshift list --target ${spec.target}`);
        if (opts.wait) return exitFor(await rollouts.watch(spec.target, liveView(), { onRetry: warn }));
      }),
    );
}
