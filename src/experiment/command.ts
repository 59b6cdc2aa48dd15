/**
 * `modelshift ab`: run an A/B experiment across models as a Temporal workflow, wait, print the report.
 *
 *   modelshift ab --models deepseek-v3.2,gpt-4.1 --rounds 20 --html report.html
 *   modelshift ab --prompts prompts.yaml --duration 10m --rpm 120 --json > report.json
 *
 * Exit codes: 0 ok, 1 failure (Temporal unreachable, workflow failed, every batch of a model failed),
 * 2 bad input (one line naming the flag or the file field). Ctrl-C once: stop after the round in flight
 * and print the report; twice: cancel (batches in flight are dropped) and print what was measured.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { loadCatalog } from '../catalog/load';
import { isPriced, pickModels } from '../catalog/prices';
import { parseDurationFlag, parseInteger, parseList, parseNumber } from '../cli/flags';
import { loadConfig, loadDotEnv, type Config } from '../config';
import { BadInput, exitCodeFor } from '../errors';
import { connectClient } from '../temporal/connect';
import type { experimentWorkflow } from './workflow';
import { renderHtml } from './html';
import { checkExperimentInput, DEFAULT_SETTINGS, plannedRounds } from './plan';
import { DEFAULT_TEST_CASES, loadPrompts } from './prompts';
import { renderNotes, renderTable } from './render';
import { progressQuery, stopSignal, type ExperimentInput, type ExperimentReport, type ExperimentSettings } from './contract';

export const SEED_MODELS = ['deepseek-v3.2', 'gemini-2.5-flash', 'gpt-4.1', 'claude-sonnet-4.5'];

export interface AbFlags {
  models?: string;
  prompts?: string;
  rounds?: string;
  duration?: string;
  interval?: string;
  concurrency?: string;
  rpm?: string;
  temperature?: string;
  maxTokens?: string;
  timeout?: string;
  attempts?: string;
  json?: boolean;
  html?: string;
  catalog?: string;
  id?: string;
  progress?: boolean;
}

export interface AbIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Defaults to loadDotEnv() + loadConfig(). */
  config?: () => Config;
  /** Defaults to connectClient(config). The caller then owns the client (not closed here). */
  client?: Client;
  /** Install SIGINT handling (stop, then cancel). Default true. */
  handleSigint?: boolean;
}

const bad = (msg: string): never => {
  throw new BadInput(msg);
};

const int = (flag: string, v: string | undefined, min: number) => parseInteger(flag, v, min);
const dur = (flag: string, v: string | undefined, allowZero = false) => parseDurationFlag(flag, v, { minMs: allowZero ? 0 : 1 });

/** Flags → workflow input. Throws BadInput (CatalogError among them) with one line naming the flag or entry. */
export function buildExperimentInput(flags: AbFlags): { input: ExperimentInput; warnings: string[] } {
  const warnings: string[] = [];
  const models = parseList(flags.models ?? SEED_MODELS.join(','));
  if (models.length === 0) bad('--models: expected a comma-separated list of model names');
  const dup = models.find((m, i) => models.indexOf(m) !== i);
  if (dup) bad(`--models: ${dup} is listed twice`);
  if (flags.rounds !== undefined && flags.duration !== undefined) bad('--rounds: give either --rounds or --duration, not both');
  const rounds = int('--rounds', flags.rounds, 1);
  const durationMs = dur('--duration', flags.duration);
  const rpm = int('--rpm', flags.rpm, 1);
  const temperature = parseNumber('--temperature', flags.temperature, { min: 0, max: 2 }) ?? DEFAULT_SETTINGS.temperature;
  const settings: ExperimentSettings = {
    ...(rounds !== undefined ? { rounds } : { durationMs: durationMs ?? DEFAULT_SETTINGS.durationMs }),
    intervalMs: dur('--interval', flags.interval, true) ?? DEFAULT_SETTINGS.intervalMs,
    concurrency: int('--concurrency', flags.concurrency, 1) ?? DEFAULT_SETTINGS.concurrency,
    rpm: rpm ?? DEFAULT_SETTINGS.rpm,
    temperature,
    maxTokens: int('--max-tokens', flags.maxTokens, 1) ?? DEFAULT_SETTINGS.maxTokens,
    timeoutMs: dur('--timeout', flags.timeout) ?? DEFAULT_SETTINGS.timeoutMs,
    attempts: int('--attempts', flags.attempts, 1) ?? DEFAULT_SETTINGS.attempts,
  };
  if (settings.attempts > 10) bad('--attempts: expected at most 10');
  if (settings.durationMs !== undefined && settings.intervalMs === 0) bad('--interval: must be > 0 with --duration');
  const catalog = loadCatalog(flags.catalog); // CatalogError names the file and the entry
  let prompts = DEFAULT_TEST_CASES;
  if (flags.prompts !== undefined) {
    try {
      prompts = loadPrompts(flags.prompts);
    } catch (e) {
      bad(`--prompts: ${(e as Error).message}`);
    }
  }
  for (const m of models) if (!isPriced(catalog, m)) warnings.push(`${m} is not in the price catalog: its cost will show as unpriced (add it with --catalog)`);
  const input: ExperimentInput = { models: models.map((model) => ({ model })), prompts, settings, catalog: pickModels(catalog, models) };
  const problem = checkExperimentInput(input);
  if (problem) bad(toFlag(problem));
  return { input, warnings };
}

const FIELD_FLAGS: Record<string, string> = {
  'settings.rounds': '--rounds',
  'settings.durationMs': '--duration',
  'settings.intervalMs': '--interval',
  'settings.concurrency': '--concurrency',
  'settings.rpm': '--rpm',
  'settings.maxTokens': '--max-tokens',
  'settings.timeoutMs': '--timeout',
  'settings.attempts': '--attempts',
  prompts: '--prompts',
  models: '--models',
};

function toFlag(problem: string): string {
  const [field, ...rest] = problem.split(': ');
  const key = Object.keys(FIELD_FLAGS).find((k) => field === k || field.startsWith(`${k}.`));
  return key ? `${FIELD_FLAGS[key]}: ${rest.join(': ')}` : problem;
}



function failureMessage(err: unknown): string {
  if (err instanceof WorkflowFailedError) {
    let c: unknown = err.cause;
    while (c instanceof Error && c.cause) c = c.cause;
    return `experiment failed: ${c instanceof Error ? c.message : String(c ?? err.message)}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Run the `ab` command; returns the exit code. */
export async function runAb(flags: AbFlags, io: AbIO): Promise<number> {
  let client: Client | undefined;
  let ownClient = false;
  try {
    const { input, warnings } = buildExperimentInput(flags);
    const config = io.config ? io.config() : (loadDotEnv(), loadConfig());
    for (const w of warnings) io.stderr(`modelshift ab: warning: ${w}\n`);
    if (io.client) client = io.client;
    else {
      client = await connectClient(config);
      ownClient = true;
    }
    const workflowId = flags.id ?? `experiment-${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 6)}`;
    const handle = await client.workflow.start<typeof experimentWorkflow>('experimentWorkflow', {
      taskQueue: config.temporal.taskQueue,
      workflowId,
      args: [input],
    });
    const s = input.settings;
    io.stderr(
      `modelshift ab: ${workflowId}: ${input.models.length} model(s) × ${input.prompts.length} prompt(s), ` +
        `${s.rounds !== undefined ? `${s.rounds} round(s)` : `up to ${plannedRounds(s)} round(s) over ${Math.round((s.durationMs ?? 0) / 1000)}s`}` +
        `; Ctrl-C stops after the current round, twice cancels\n`,
    );

    let interrupts = 0;
    const onSigint = () => {
      interrupts++;
      if (interrupts === 1) {
        io.stderr('modelshift ab: stopping after the round in flight (Ctrl-C again to cancel now)\n');
        handle.signal(stopSignal, { reason: 'Ctrl-C' }).catch(() => undefined);
      } else {
        io.stderr('modelshift ab: cancelling; the report covers finished batches\n');
        handle.cancel().catch(() => undefined);
      }
    };
    if (io.handleSigint !== false) process.on('SIGINT', onSigint);
    let lastRound = -1;
    const ticker =
      flags.progress === false
        ? undefined
        : setInterval(() => {
            handle
              .query(progressQuery)
              .then((p) => {
                if (p.report.rounds === lastRound) return;
                lastRound = p.report.rounds;
                const done = p.report.models.reduce((n, m) => n + m.requests, 0);
                io.stderr(`modelshift ab: round ${p.report.rounds}${p.roundsPlanned ? `/${p.roundsPlanned}` : ''} done, ${done} request(s)\n`);
              })
              .catch(() => undefined);
          }, 2000);
    let report: ExperimentReport;
    try {
      report = await handle.result();
    } finally {
      if (ticker) clearInterval(ticker);
      if (io.handleSigint !== false) process.off('SIGINT', onSigint);
    }

    if (flags.html) {
      const path = resolve(flags.html);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, renderHtml(report, { title: `modelshift A/B experiment ${workflowId}`, generatedAt: new Date().toISOString() }));
      io.stderr(`modelshift ab: HTML report written to ${path}\n`);
    }
    if (flags.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    else io.stdout(`${renderTable(report)}\n\n${renderNotes(report).map((l) => `  ${l}`).join('\n')}\n`);

    const dead = report.models.filter((m) => m.requests === 0 && m.failedBatches > 0);
    if (dead.length) {
      io.stderr(`modelshift ab: every batch failed for ${dead.map((m) => m.model).join(', ')}: ${dead[0].lastError ?? 'see the workflow history'}\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    io.stderr(`modelshift ab: ${failureMessage(err).split('\n')[0]}\n`);
    return exitCodeFor(err);
  } finally {
    if (ownClient) await client?.connection.close().catch(() => undefined);
  }
}

export function registerAbCommand(program: Command, io?: Partial<AbIO>): void {
  program
    .command('ab')
    .description('A/B experiment: send the same prompts to several models for N rounds or a duration; report latency, success and cost per model')
    .option('--models <list>', `comma-separated model names (default ${SEED_MODELS.join(',')})`)
    .option('--prompts <file>', 'JSON/YAML prompt set (default: the seed\'s two test cases)')
    .option('--rounds <n>', 'number of rounds')
    .option('--duration <d>', 'run rounds for this long, e.g. 10m (default 30m when --rounds is not given)')
    .option('--interval <d>', 'time between round starts', '5s')
    .option('--concurrency <n>', 'requests in flight per model', String(DEFAULT_SETTINGS.concurrency))
    .option('--rpm <n>', 'requests per minute per model (default unlimited)')
    .option('--temperature <x>', 'sampling temperature', String(DEFAULT_SETTINGS.temperature))
    .option('--max-tokens <n>', 'max_tokens per request', String(DEFAULT_SETTINGS.maxTokens))
    .option('--timeout <d>', 'per-request timeout', '30s')
    .option('--attempts <n>', 'tries per request, first included (1 = no retries: measures the gateway as is)', '1')
    .option('--catalog <file>', 'price catalog overrides (JSON/YAML)')
    .option('--json', 'print the report as JSON only')
    .option('--html <path>', 'also write a self-contained HTML report')
    .option('--id <workflowId>', 'workflow id (default experiment-<time>-<random>)')
    .option('--no-progress', 'no progress lines on stderr')
    .action(async (flags: AbFlags) => {
      process.exitCode = await runAb(flags, {
        stdout: (s) => process.stdout.write(s),
        stderr: (s) => process.stderr.write(s),
        ...io,
      });
    });
}
