/**
 * `modelshift ab`: run an A/B experiment across models as a Temporal workflow, wait, print the report.
 *
 *   modelshift ab --models deepseek-v3.2,gpt-4.1 --rounds 20 --html report.html
 *   modelshift ab --prompts prompts.yaml --duration 10m --rpm 120 --json > report.json
 *
 * Exit codes: 0 ok, 1 failure (Temporal unreachable, workflow failed, every batch of a model failed),
 * 2 bad input (one line naming the flag or the file field). Ctrl-C once: stop after the round in flight
 * and print the report; twice: cancel (batches in flight are dropped) and print what was measured.
 *
 * Flags → workflow input (buildExperimentInput) → ExperimentClient → render (./render, ./html).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { loadCatalog } from '../catalog/load';
import { isPriced, pickModels } from '../catalog/prices';
import { parseDurationFlag, parseInteger, parseList, parseNumber } from '../cli/flags';
import { loadConfig, loadDotEnv, type Config } from '../config';
import { BadInput, EXIT, exitCodeFor, firstLine } from '../errors';
import { connectClient } from '../temporal/connect';
import { ExperimentClient } from './client';
import type { ExperimentInput, ExperimentReport, ExperimentSettings } from './contract';
import { renderHtml } from './html';
import { checkExperimentInput, DEFAULT_SETTINGS } from './plan';
import { DEFAULT_TEST_CASES, loadPrompts } from './prompts';
import { deadModelsLine, progressLine, renderNotes, renderTable, startLine } from './render';

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

/** Flags → workflow input. Throws BadInput (CatalogError among them) with one line naming the flag or entry. */
export function buildExperimentInput(flags: AbFlags): { input: ExperimentInput; warnings: string[] } {
  const warnings: string[] = [];
  const models = parseList(flags.models ?? SEED_MODELS.join(','));
  if (models.length === 0) bad('--models: expected a comma-separated list of model names');
  const dup = models.find((m, i) => models.indexOf(m) !== i);
  if (dup) bad(`--models: ${dup} is listed twice`);
  if (flags.rounds !== undefined && flags.duration !== undefined) bad('--rounds: give either --rounds or --duration, not both');
  const rounds = parseInteger('--rounds', flags.rounds, 1);
  const durationMs = parseDurationFlag('--duration', flags.duration, { minMs: 1 });
  const rpm = parseInteger('--rpm', flags.rpm, 1);
  const temperature = parseNumber('--temperature', flags.temperature, { min: 0, max: 2 }) ?? DEFAULT_SETTINGS.temperature;
  const settings: ExperimentSettings = {
    ...(rounds !== undefined ? { rounds } : { durationMs: durationMs ?? DEFAULT_SETTINGS.durationMs }),
    intervalMs: parseDurationFlag('--interval', flags.interval, { minMs: 0 }) ?? DEFAULT_SETTINGS.intervalMs,
    concurrency: parseInteger('--concurrency', flags.concurrency, 1) ?? DEFAULT_SETTINGS.concurrency,
    rpm: rpm ?? DEFAULT_SETTINGS.rpm,
    temperature,
    maxTokens: parseInteger('--max-tokens', flags.maxTokens, 1) ?? DEFAULT_SETTINGS.maxTokens,
    timeoutMs: parseDurationFlag('--timeout', flags.timeout, { minMs: 1 }) ?? DEFAULT_SETTINGS.timeoutMs,
    attempts: parseInteger('--attempts', flags.attempts, 1) ?? DEFAULT_SETTINGS.attempts,
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
  for (const m of models)
    if (!isPriced(catalog, m)) warnings.push(`${m} is not in the price catalog: its cost will show as unpriced (add it with --catalog)`);
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

/** Run the `ab` command; returns the exit code. */
export async function runAb(flags: AbFlags, io: AbIO): Promise<number> {
  let owned: Client | undefined;
  try {
    const { input, warnings } = buildExperimentInput(flags); // bad input → exit 2 before connecting to anything
    const config = io.config ? io.config() : (loadDotEnv(), loadConfig());
    for (const w of warnings) io.stderr(`modelshift ab: warning: ${w}\n`);
    const client = io.client ?? (owned = await connectClient(config));
    return await runExperiment(new ExperimentClient(client, config.temporal.taskQueue), input, flags, io);
  } catch (err) {
    io.stderr(`modelshift ab: ${firstLine(err)}\n`);
    return exitCodeFor(err);
  } finally {
    await owned?.connection.close().catch(() => undefined);
  }
}

/** Start, follow until the report is in, write it out. Exit 1 when every batch of a model failed. */
async function runExperiment(experiments: ExperimentClient, input: ExperimentInput, flags: AbFlags, io: AbIO): Promise<number> {
  const { workflowId } = await experiments.start(input, { workflowId: flags.id });
  io.stderr(`modelshift ab: ${startLine(workflowId, input)}\n`);
  const stopFollowing = [
    io.handleSigint !== false ? onInterrupt(experiments, workflowId, io) : undefined,
    flags.progress === false ? undefined : progressLines(experiments, workflowId, io),
  ];
  let report: ExperimentReport;
  try {
    report = await experiments.result(workflowId);
  } finally {
    for (const stop of stopFollowing) await stop?.();
  }
  if (flags.html) writeHtml(flags.html, report, workflowId, io);
  if (flags.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  else
    io.stdout(
      `${renderTable(report)}\n\n${renderNotes(report)
        .map((l) => `  ${l}`)
        .join('\n')}\n`,
    );
  const dead = deadModelsLine(report);
  if (dead) {
    io.stderr(`modelshift ab: ${dead}\n`);
    return EXIT.failure;
  }
  return EXIT.ok;
}

/** Ctrl-C once: stop after the round in flight; twice: cancel now. Returns the uninstaller. */
function onInterrupt(experiments: ExperimentClient, workflowId: string, io: AbIO): () => void {
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      io.stderr('modelshift ab: stopping after the round in flight (Ctrl-C again to cancel now)\n');
      experiments.stop(workflowId, 'Ctrl-C').catch(() => undefined);
    } else {
      io.stderr('modelshift ab: cancelling; the report covers finished batches\n');
      experiments.cancel(workflowId).catch(() => undefined);
    }
  };
  process.on('SIGINT', onSigint);
  return () => void process.off('SIGINT', onSigint);
}

/**
 * A line on stderr each time the finished-round count changes (polled every 2 s, one query at a time).
 * The stopper resolves once the query in flight has settled: closing the connection under a query that
 * is between its gRPC retries makes the SDK's retry timer throw "Channel has been shut down", uncaught.
 */
function progressLines(experiments: ExperimentClient, workflowId: string, io: AbIO): () => Promise<void> {
  let lastRound = -1;
  let inFlight: Promise<void> | undefined;
  const ticker = setInterval(() => {
    if (inFlight) return;
    inFlight = experiments
      .progress(workflowId)
      .then((p) => {
        if (p.report.rounds === lastRound) return;
        lastRound = p.report.rounds;
        io.stderr(`modelshift ab: ${progressLine(p)}\n`);
      })
      .catch(() => undefined)
      .finally(() => (inFlight = undefined));
  }, 2000);
  return async () => {
    clearInterval(ticker);
    await inFlight;
  };
}

function writeHtml(file: string, report: ExperimentReport, workflowId: string, io: AbIO): void {
  const path = resolve(file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, renderHtml(report, { title: `modelshift A/B experiment ${workflowId}`, generatedAt: new Date().toISOString() }));
  io.stderr(`modelshift ab: HTML report written to ${path}\n`);
}

export function registerAbCommand(program: Command, io?: Partial<AbIO>): void {
  program
    .command('ab')
    .description(
      'A/B experiment: send the same prompts to several models for N rounds or a duration; report latency, success and cost per model',
    )
    .option('--models <list>', `comma-separated model names (default ${SEED_MODELS.join(',')})`)
    .option('--prompts <file>', "JSON/YAML prompt set (default: the seed's two test cases)")
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
