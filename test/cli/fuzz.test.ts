/**
 * Fuzz (issue 11's must-show): malformed spec files, flags and environment values, each fed to `modelshift`
 * as a real process (bin/modelshift.js, as a user runs it). For EVERY input:
 * - exit code 2 (bad input), on its own — a router, simulator, worker, dev server or demo that would have
 *   kept running is killed by the guard timeout and the case fails;
 * - stderr is exactly one non-empty line, with no stack trace (stdout neither), and stdout is empty;
 * - nothing was started: no workflow for the case's targets on the test server, no poller on the case's own
 *   task queue, nothing listening on the port(s) it was given, no process of its group left over.
 * At the end, no workflow on any of the file's task queues exists on the server.
 *
 * The cases come from a table (named: a failure says which input) plus a seeded mutation part: a valid,
 * fully featured spec with ONE field corrupted at a time (wrong type, negative number, misspelled or unknown
 * field, missing required field, control characters, a 3 KB value), written as YAML or JSON and fed to
 * `validate` or `start` — deterministic (mulberry32, fixed seed). A control case checks that the spec being
 * mutated is valid, so every mutation is a single fault.
 *
 * Processes run cores + 1 at a time (4 at most), each with a guard timeout; one that says it is up (a
 * router listening, a worker polling) is killed at once and its case fails. Node + tsx start-up is ~1–1.5 s
 * of CPU per process (the CLI loads only the named command's feature).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { WorkflowNotFoundError } from '@temporalio/client';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { connectTestTemporal, type TestTemporal } from '../helpers/temporal';
import { mulberry32 } from '../../src/stats/rng';

const BIN = resolve('bin/modelshift.js');
const RUN = randomUUID().slice(0, 6);
const QUEUE_PREFIX = `fuzz-${RUN}-`;
const GUARD_MS = 45_000; // a process still running after this is killed (with its group) and the case fails
// One process per core and one more (each waits a little on Temporal or a file), 4 at most: CPU-bound.
const limit = pLimit(Math.min(4, availableParallelism() + 1));
const DIR = mkdtempSync(join(tmpdir(), 'modelshift-fuzz-'));
const CWD = join(DIR, 'cwd'); // no .env here: the case's environment is the whole environment
mkdirSync(CWD);

type Kind = 'spec' | 'flag' | 'env' | 'mutation';

interface Case {
  kind: Kind;
  name: string;
  /** `{port}` / `{port2}` are replaced by free ports, which must still be free afterwards */
  args: string[];
  /** added to the base environment; undefined removes a variable */
  env?: Record<string, string | undefined>;
  /** rollout targets / workflow ids that must not exist afterwards */
  targets?: string[];
  workflowIds?: string[];
  /** the one line must match (the input was refused for the intended reason) */
  says?: RegExp;
}

// ————————————————————————————————————————————————— inputs on disk

let fileNo = 0;
/** Write `content` to a fresh file named `*.<ext>` and return its path. */
function file(ext: string, content: string | Buffer): string {
  const path = join(DIR, `f${fileNo++}.${ext}`);
  writeFileSync(path, content);
  return path;
}

function junk(seed: number, bytes = 600): Buffer {
  const rnd = mulberry32(seed);
  return Buffer.from(Array.from({ length: bytes }, () => Math.floor(rnd() * 256)));
}

const DIRECTORY = join(DIR, 'a-directory.yaml');
mkdirSync(DIRECTORY);
const MISSING = join(DIR, 'does-not-exist.yaml');
const K3 = 'x'.repeat(3000);

let targetNo = 0;
const target = (): string => `fz-${RUN}-${targetNo++}`;

/** The smallest valid spec, with `over` merged in at the top level. */
const minimal = (t: string, over: Record<string, unknown> = {}) => ({
  target: t,
  blue: { model: 'gpt-4.1' },
  green: { model: 'gpt-4.1-turbo' },
  ...over,
});
const prompt = (expect: Record<string, unknown>) => ({ prompts: [{ messages: [{ role: 'user', content: 'hi' }], expect }] });

// ————————————————————————————————————————————————— the table: spec files

const cases: Case[] = [];
let specNo = 0;

/** A spec file case: run through `validate -f` and `start -f` alternately. */
function specCase(name: string, make: (t: string) => { path: string }, says?: RegExp): void {
  const t = target();
  const { path } = make(t);
  const cmd = specNo++ % 2 === 0 ? 'validate' : 'start';
  cases.push({ kind: 'spec', name: `${name} (${cmd})`, args: [cmd, '-f', path], targets: [t], says });
}
const yamlSpec = (o: unknown) => ({ path: file('yaml', toYaml(o)) });
const jsonSpec = (o: unknown) => ({ path: file('json', JSON.stringify(o, null, 2)) });
const rawSpec = (ext: string, text: string | Buffer) => ({ path: file(ext, text) });

specCase('empty YAML file', () => rawSpec('yaml', ''), /target/);
specCase('empty JSON file', () => rawSpec('json', ''), /not valid JSON/);
specCase('binary junk as YAML', () => rawSpec('yaml', junk(1)));
specCase('binary junk as JSON', () => rawSpec('json', junk(2)), /not valid JSON/);
specCase('a directory instead of a file', () => ({ path: DIRECTORY }), /EISDIR/);
specCase('a missing file', () => ({ path: MISSING }), /ENOENT/);
specCase('top level is a list', (t) => yamlSpec([minimal(t)]), /top level/);
specCase('broken YAML syntax', (t) => rawSpec('yaml', `target: ${t}\nblue: { model: gpt-4.1\ngreen: [`), /not valid YAML/);
specCase(
  'duplicate JSON key at the top level',
  (t) => rawSpec('json', `{"target":"${t}","target":"${t}-b","blue":{"model":"gpt-4.1"},"green":{"model":"gpt-4.1-turbo"}}`),
  /unique|duplicate/i,
);
specCase(
  'duplicate JSON key inside plan',
  (t) =>
    rawSpec('json', `{"target":"${t}","blue":{"model":"gpt-4.1"},"green":{"model":"gpt-4.1-turbo"},"plan":{"dwell":"1s","dwell":"1h"}}`),
  /unique|duplicate/i,
);
specCase('target is a number', () => yamlSpec(minimal('x', { target: 12345 })), /target/);
specCase('target with a BEL control character', (t) => jsonSpec(minimal(`${t}\u0007`)), /target/);
specCase('3 KB blue model name', (t) => yamlSpec({ ...minimal(t), blue: { model: K3 } }), /blue\.model/);
specCase(
  'green model with an ANSI escape sequence',
  (t) => yamlSpec({ ...minimal(t), green: { model: 'gpt-4.1\u001b[2J\u001b[31m' } }),
  /green\.model/,
);
specCase('green model with a NUL byte', (t) => jsonSpec({ ...minimal(t), green: { model: 'gpt-4.1\u0000turbo' } }), /green\.model/);
specCase('misspelled field plan.dwel', (t) => yamlSpec(minimal(t, { plan: { dwel: '60s' } })), /plan.*dwel/);
specCase('retired field fallback', (t) => yamlSpec(minimal(t, { fallback: true })), /fallback/);
specCase('unknown field whose name holds a newline', (t) => rawSpec('yaml', `${toYaml(minimal(t))}"bad\\nkey": 1\n`), /unknown field/);
specCase('steps as a string', (t) => yamlSpec(minimal(t, { plan: { steps: '10,25,100' } })), /plan\.steps/);
specCase('steps that do not rise', (t) => yamlSpec(minimal(t, { plan: { steps: [50, 25, 100] } })), /plan\.steps/);
specCase('steps that never reach 100', (t) => jsonSpec(minimal(t, { plan: { steps: [10, 50] } })), /plan\.steps/);
specCase(
  '101 steps',
  (t) => yamlSpec(minimal(t, { plan: { steps: [0.5, ...Array.from({ length: 100 }, (_, i) => i + 1)] } })),
  /plan\.steps/,
);
specCase('dwell "10x"', (t) => yamlSpec(minimal(t, { plan: { dwell: '10x' } })), /plan\.dwell/);
specCase('dwell 745h (over 30 days)', (t) => yamlSpec(minimal(t, { plan: { dwell: '745h' } })), /plan\.dwell/);
specCase('concurrency 257', (t) => jsonSpec(minimal(t, { plan: { concurrency: 257 } })), /plan\.concurrency/);
specCase('probesPerRound 1e308', (t) => rawSpec('yaml', `${toYaml(minimal(t))}plan:\n  probesPerRound: 1e308\n`), /plan\.probesPerRound/);
specCase('requestsPerMinute .inf', (t) => rawSpec('yaml', `${toYaml(minimal(t))}rateLimit:\n  requestsPerMinute: .inf\n`), /rateLimit/);
specCase('temperature .nan', (t) => rawSpec('yaml', `${toYaml(minimal(t))}request:\n  temperature: .nan\n`), /request\.temperature/);
specCase('request.timeout 600h (beyond Node timers)', (t) => yamlSpec(minimal(t, { request: { timeout: '600h' } })), /request\.timeout/);
specCase('retry.minBackoff above maxBackoff', (t) => yamlSpec(minimal(t, { retry: { minBackoff: '5m', maxBackoff: '1s' } })), /minBackoff/);
specCase('onFailure "explode"', (t) => jsonSpec(minimal(t, { onFailure: 'explode' })), /onFailure/);
specCase('guards.minSamples 1e12', (t) => yamlSpec(minimal(t, { guards: { minSamples: 1e12 } })), /minSamples/);
specCase(
  'guards.maxErrorRateIncrease 0 (no verdict possible)',
  (t) => yamlSpec(minimal(t, { guards: { maxErrorRateIncrease: 0 } })),
  /maxErrorRateIncrease/,
);
specCase(
  'spend cap on an unpriced green',
  (t) => yamlSpec({ ...minimal(t), green: { model: 'no-such-model-in-catalog' }, guards: { cost: { spendCapUsd: 5 } } }),
  /spendCapUsd/,
);
specCase(
  'baseURL with credentials',
  (t) => yamlSpec({ ...minimal(t), green: { model: 'gpt-4.1-turbo', baseURL: 'https://user:sk-KEY@gw.example/v1' } }),
  /credentials/,
);
specCase(
  'baseURL with ?api-key=',
  (t) => jsonSpec({ ...minimal(t), blue: { model: 'gpt-4.1', baseURL: 'https://gw.example/v1?api-key=sk-1' } }),
  /query/,
);
specCase(
  'baseURL ftp://',
  (t) => yamlSpec({ ...minimal(t), green: { model: 'gpt-4.1-turbo', baseURL: 'ftp://gw.example/v1' } }),
  /baseURL/,
);
specCase(
  'apiKeyEnv holds a key, not a variable name',
  (t) => yamlSpec({ ...minimal(t), green: { model: 'gpt-4.1-turbo', apiKeyEnv: 'sk-live-51Habc' } }),
  /apiKeyEnv/,
);
specCase(
  "apiKeyEnv TEMPORAL_API_KEY (Temporal's own secret)",
  (t) => yamlSpec({ ...minimal(t), green: { model: 'gpt-4.1-turbo', apiKeyEnv: 'TEMPORAL_API_KEY' } }),
  /apiKeyEnv/,
);
specCase(
  'same model on the same gateway but a trailing slash',
  (t) =>
    yamlSpec({
      ...minimal(t),
      blue: { model: 'gpt-4.1', baseURL: 'https://gw.example/v1' },
      green: { model: 'gpt-4.1', baseURL: 'https://gw.example/v1/' },
    }),
  /same model/,
);
specCase('prompt role "robot"', (t) => yamlSpec(minimal(t, { prompts: [[{ role: 'robot', content: 'hi' }]] })), /role/);
specCase('expect.regex "("', (t) => yamlSpec(minimal(t, prompt({ regex: '(' }))), /regex/);
specCase('expect.regex with a backreference', (t) => jsonSpec(minimal(t, prompt({ regex: '(a)\\1' }))), /regex/);
specCase('expect.json schema type "integr"', (t) => yamlSpec(minimal(t, prompt({ json: { type: 'integr' } }))), /json/);
specCase('70 KB of prompts', (t) => jsonSpec(minimal(t, { prompts: [[{ role: 'user', content: 'y'.repeat(70_000) }]] })), /prompts/);

// ————————————————————————————————————————————————— the table: flags

function flag(name: string, args: string[], extra: Partial<Case> = {}): void {
  cases.push({ kind: 'flag', name, args, ...extra });
}
/** `start`/`validate` with a complete flag spec for a fresh target, plus `more`. */
function specFlags(cmd: 'start' | 'validate', name: string, more: string[], says?: RegExp): void {
  const t = target();
  flag(`${cmd} ${name}`, [cmd, '--target', t, '--blue', 'gpt-4.1', '--green', 'gpt-4.1-turbo', ...more], { targets: [t], says });
}

specFlags('start', 'unknown option --sampels (with a suggestion)', ['--sampels', '10'], /unknown option/);
specFlags('validate', 'an extra argument', ['extra'], /too many arguments/);
specFlags('start', '--samples NaN', ['--samples', 'NaN'], /--samples/);
specFlags('start', '--samples -5', ['--samples', '-5'], /probesPerRound|--samples/);
specFlags('start', '--concurrency 0', ['--concurrency', '0'], /concurrency/);
specFlags('validate', '--rpm Infinity', ['--rpm', 'Infinity'], /--rpm/);
specFlags('start', '--steps 10,abc,100', ['--steps', '10,abc,100'], /--steps/);
specFlags('start', '--steps that do not rise', ['--steps', '50,25,100'], /steps/);
specFlags('validate', '--dwell 10x', ['--dwell', '10x'], /dwell/);
specFlags('start', '--on-failure explode', ['--on-failure', 'explode'], /onFailure/);
specFlags('start', '--max-error-rate 2', ['--max-error-rate', '2'], /maxErrorRate/);
specFlags('start', '--min-samples 1e400', ['--min-samples', '1e400'], /--min-samples/);
specFlags('start', '--prompts a missing file', ['--prompts', MISSING], /ENOENT/);
specFlags('start', '--blue-base-url with credentials', ['--blue-base-url', 'https://me:hunter2@gw.example/v1'], /credentials/);
specFlags('start', '--green-key-env ROUTER_API_KEYS', ['--green-key-env', 'ROUTER_API_KEYS'], /apiKeyEnv/);
specFlags('validate', '--spend-cap abc', ['--spend-cap', 'abc'], /--spend-cap/);
specFlags('start', '--samples without its value', ['--samples'], /argument missing/);
specFlags('start', '--shadow 0', ['--shadow', '0'], /plan\.shadow\.percent/);
specFlags('validate', '--shadow-max-duration soon', ['--shadow', '5', '--shadow-max-duration', 'soon'], /maxDuration/);
specFlags('start', '--judge-sample without --judge', ['--judge-sample', '5'], /: --judge: required/);
specFlags(
  'start',
  '--judge-key-env TEMPORAL_API_KEY',
  ['--judge', 'deepseek-v3.2', '--judge-key-env', 'TEMPORAL_API_KEY'],
  /guards\.judge\.apiKeyEnv/,
);
specFlags('validate', '--judge-max-loss-rate abc', ['--judge', 'deepseek-v3.2', '--judge-max-loss-rate', 'abc'], /--judge-max-loss-rate/);
specFlags('start', '--judge-base-url with credentials', ['--judge', 'j', '--judge-base-url', 'https://me:pw@gw.example/v1'], /credentials/);
{
  const t = target();
  flag('start -f without its value', ['start', '--target', t, '-f'], { targets: [t], says: /argument missing/ });
  flag('start --target with a space', ['start', '--target', 'bad target', '--blue', 'gpt-4.1', '--green', 'gpt-4.1-turbo'], {
    says: /target/,
  });
  const t2 = target();
  flag('start without --green', ['start', '--target', t2, '--blue', 'gpt-4.1'], { targets: [t2], says: /--green/ });
}
flag('status without a target', ['status'], { says: /missing required argument/ });
flag('status --jsn (unknown option)', ['status', 'chat-default', '--jsn'], { says: /unknown option/ });
flag('watch --interval abc', ['watch', `fz-${RUN}-watch`, '--interval', 'abc'], { says: /--interval/ });
flag('pause --reason without its value', ['pause', `fz-${RUN}-pause`, '--reason'], { says: /argument missing/ });
flag('abort with an unknown option', ['abort', `fz-${RUN}-abort`, '--force'], { says: /unknown option/ });
flag('resume with two targets', ['resume', 'a', 'b'], { says: /too many arguments/ });
flag('list --limit 0', ['list', '--limit', '0'], { says: /--limit/ });
const abId = () => `fz-${RUN}-ab-${targetNo++}`;
for (const [name, more, says] of [
  ['--rounds 0', ['--rounds', '0'], /--rounds/],
  ['--rounds with --duration', ['--rounds', '1', '--duration', '1m'], /--rounds/],
  ['--duration 5x', ['--duration', '5x'], /--duration/],
  ['--models listed twice', ['--models', 'gpt-4.1,gpt-4.1'], /--models/],
  ['--attempts 11', ['--attempts', '11'], /--attempts/],
  ['--catalog a missing file', ['--catalog', MISSING], /ENOENT/],
  ['--temperature NaN', ['--temperature', 'NaN'], /--temperature/],
] as Array<[string, string[], RegExp]>) {
  const id = abId();
  flag(`ab ${name}`, ['ab', '--id', id, ...more], { workflowIds: [id], says });
}
// router: --workers 1 unless the case is about workers; {port} is where it would have listened
const routerFile = (o: unknown) => file('yaml', toYaml(o));
for (const [name, more, says] of [
  ['--port 65536', ['--port', '65536'], /--port/],
  ['--port abc', ['--port', 'abc'], /--port/],
  ['--workers 0', ['--port', '{port}', '--workers', '0'], /--workers/],
  ['--max-body-bytes 2e9 (over 1 GiB)', ['--port', '{port}', '--workers', '1', '--max-body-bytes', '2e9'], /--max-body-bytes/],
  ['--poll-interval 10', ['--port', '{port}', '--workers', '1', '--poll-interval', '10'], /--poll-interval/],
  ['--ratio-from ftp://', ['--port', '{port}', '--workers', '1', '--ratio-from', 'ftp://router-0:4000'], /ratio-from/],
  ['--target "a="', ['--port', '{port}', '--workers', '1', '--target', 'a='], /--target/],
  ['--config a directory', ['--port', '{port}', '--workers', '1', '--config', DIRECTORY], /EISDIR/],
  [
    '--config with a misspelled field',
    ['--port', '{port}', '--workers', '1', '--config', routerFile({ tragets: {} })],
    /tragets|unrecognized|Unrecognized/,
  ],
  [
    '--config whose target names TEMPORAL_API_KEY',
    [
      '--port',
      '{port}',
      '--workers',
      '1',
      '--config',
      routerFile({ targets: { x: { blue: { model: 'gpt-4.1', apiKeyEnv: 'TEMPORAL_API_KEY' } } } }),
    ],
    /TEMPORAL_API_KEY/,
  ],
  [
    '--config whose target baseURL carries credentials',
    [
      '--port',
      '{port}',
      '--workers',
      '1',
      '--config',
      routerFile({ targets: { x: { blue: { model: 'gpt-4.1', baseURL: 'https://u:sk-KEY@gw.example/v1' } } } }),
    ],
    /credentials/,
  ],
  ['--bogus', ['--port', '{port}', '--bogus'], /unknown option/],
] as Array<[string, string[], RegExp]>)
  flag(`router ${name}`, ['router', ...more], { says });
const simProfile = (o: unknown) => file('yaml', toYaml(o));
for (const [name, more, says] of [
  ['--port 70000', ['--port', '70000'], /--port/],
  ['--seed 1.5', ['--port', '{port}', '--seed', '1.5'], /--seed/],
  ['--latency-scale NaN', ['--port', '{port}', '--latency-scale', 'NaN'], /--latency-scale/],
  ['--profile with errorRate 2', ['--port', '{port}', '--profile', simProfile({ models: { 'gpt-4.1': { errorRate: 2 } } })], /errorRate/],
  ['--profile binary junk', ['--port', '{port}', '--profile', file('yaml', junk(3))], /profile|expected/],
] as Array<[string, string[], RegExp]>)
  flag(`sim ${name}`, ['sim', ...more], { says });
flag('dev --port 0', ['dev', '--port', '0', '--ui-port', '{port}', '--ephemeral'], { says: /--port/ });
flag('dev --ui-port abc', ['dev', '--port', '{port}', '--ui-port', 'abc', '--ephemeral'], { says: /--ui-port/ });
flag('worker --bogus', ['worker', '--bogus'], { says: /unknown option/ });
flag('demo --bogus', ['demo', '--bogus'], { says: /unknown option/ });
flag('stack up --workers 0', ['stack', 'up', '--workers', '0', '--state-dir', join(DIR, 'stack')], { says: /--workers/ });
flag('stack up --no-sim without GATEWAY_BASE_URL', ['stack', 'up', '--no-sim', '--state-dir', join(DIR, 'stack')], {
  env: { GATEWAY_BASE_URL: undefined },
  says: /GATEWAY_BASE_URL/,
});
flag('an unknown command', ['rollback', 'chat-default'], { says: /unknown command/ });

// ————————————————————————————————————————————————— the table: environment values

function envCase(name: string, args: string[], env: Record<string, string | undefined>, extra: Partial<Case> = {}): void {
  cases.push({ kind: 'env', name: `${args[0]} with ${name}`, args, env, ...extra });
}
const startArgs = (t: string) => ['start', '--target', t, '--blue', 'gpt-4.1', '--green', 'gpt-4.1-turbo'];
const junkCatalog = file('yaml', junk(4));
for (const [name, env, says] of [
  ['TEMPORAL_ADDRESS as a URL', { TEMPORAL_ADDRESS: 'http://127.0.0.1:7233' }, /TEMPORAL_ADDRESS/],
  ['TEMPORAL_ADDRESS port 99999', { TEMPORAL_ADDRESS: '127.0.0.1:99999' }, /TEMPORAL_ADDRESS/],
  ['TASK_QUEUE empty', { TASK_QUEUE: '' }, /TASK_QUEUE/],
  ['TEMPORAL_NAMESPACE blank', { TEMPORAL_NAMESPACE: '   ' }, /TEMPORAL_NAMESPACE/],
  ['GATEWAY_BASE_URL not a URL', { GATEWAY_BASE_URL: 'gateway.example' }, /GATEWAY_BASE_URL/],
  ['GATEWAY_BASE_URL with credentials', { GATEWAY_BASE_URL: 'https://user:sk-KEY@gw.example/v1' }, /GATEWAY_BASE_URL/],
  ['GATEWAY_BASE_URL with ?api-key=', { GATEWAY_BASE_URL: 'https://gw.example/v1?api-key=sk-1' }, /GATEWAY_BASE_URL/],
  ['HOLYSHEEP_BASE_URL ftp://', { HOLYSHEEP_BASE_URL: 'ftp://api.holysheep.ai/v1' }, /HOLYSHEEP_BASE_URL/],
  ['only TEMPORAL_TLS_CERT_PATH of the mTLS pair', { TEMPORAL_TLS_CERT_PATH: junkCatalog }, /TEMPORAL_TLS_KEY_PATH/],
  ['TEMPORAL_TLS_CA_PATH a missing file', { TEMPORAL_TLS_CA_PATH: MISSING }, /TEMPORAL_TLS_CA_PATH/],
  ['MODELSHIFT_CATALOG a missing file', { MODELSHIFT_CATALOG: MISSING }, /ENOENT/],
  ['MODELSHIFT_CATALOG binary junk', { MODELSHIFT_CATALOG: junkCatalog }, /catalog|f\d+\.yaml/],
  ['WORKER_KEY_ENVS naming TEMPORAL_API_KEY', { WORKER_KEY_ENVS: 'OPENAI_API_KEY,TEMPORAL_API_KEY' }, /WORKER_KEY_ENVS/],
  ['WORKER_ALLOWED_ORIGINS not a URL', { WORKER_ALLOWED_ORIGINS: 'api.deepseek.com' }, /WORKER_ALLOWED_ORIGINS/],
  ['MODELSHIFT_STATE_DIR empty', { MODELSHIFT_STATE_DIR: '' }, /MODELSHIFT_STATE_DIR/],
] as Array<[string, Record<string, string>, RegExp]>)
  envCase(name, ['worker'], env, { says });
{
  const [a, b, c] = [target(), target(), target()];
  envCase('TEMPORAL_PORT abc', startArgs(a), { TEMPORAL_PORT: 'abc' }, { targets: [a], says: /TEMPORAL_PORT/ });
  envCase('MODELSHIFT_CATALOG a directory', startArgs(b), { MODELSHIFT_CATALOG: DIRECTORY }, { targets: [b], says: /EISDIR/ });
  envCase(
    'TEMPORAL_API_KEY but no TEMPORAL_ADDRESS',
    startArgs(c),
    { TEMPORAL_ADDRESS: undefined, TEMPORAL_API_KEY: 'tmprl-x' },
    { targets: [c], says: /TEMPORAL_ADDRESS/ },
  );
}
envCase('TEMPORAL_UI_PORT 0', ['status', `fz-${RUN}-st`], { TEMPORAL_UI_PORT: '0' }, { says: /TEMPORAL_UI_PORT/ });
envCase('TEMPORAL_ADDRESS without a host', ['list'], { TEMPORAL_ADDRESS: ':7233' }, { says: /TEMPORAL_ADDRESS/ });
{
  const id = abId();
  envCase('TASK_QUEUE blank', ['ab', '--id', id, '--rounds', '1'], { TASK_QUEUE: '  ' }, { workflowIds: [id], says: /TASK_QUEUE/ });
}
envCase('MODELSHIFT_CATALOG a missing file', ['demo', '--exit'], { MODELSHIFT_CATALOG: MISSING }, { says: /ENOENT/ });
envCase('TEMPORAL_PORT 70000', ['demo', '--exit'], { TEMPORAL_PORT: '70000' }, { says: /TEMPORAL_PORT/ });
envCase('TEMPORAL_UI_PORT abc', ['dev', '--ephemeral'], { TEMPORAL_PORT: '{port}', TEMPORAL_UI_PORT: 'abc' }, { says: /TEMPORAL_UI_PORT/ });
for (const [name, env, says, workers] of [
  ['ROUTER_PORT abc', { ROUTER_PORT: 'abc' }, /ROUTER_PORT/],
  ['ROUTER_MAX_BODY_BYTES -5', { ROUTER_MAX_BODY_BYTES: '-5' }, /ROUTER_MAX_BODY_BYTES/],
  ['ROUTER_MAX_BODY_BYTES 1e12', { ROUTER_MAX_BODY_BYTES: '1e12' }, /ROUTER_MAX_BODY_BYTES/],
  ['ROUTER_WORKERS 1000', { ROUTER_WORKERS: '1000' }, /ROUTER_WORKERS/, true],
  ['ROUTER_UPSTREAM_CONNECTIONS x', { ROUTER_UPSTREAM_CONNECTIONS: 'x' }, /ROUTER_UPSTREAM_CONNECTIONS/],
  ['ROUTER_STALE_AFTER_SECONDS NaN', { ROUTER_STALE_AFTER_SECONDS: 'NaN' }, /ROUTER_STALE_AFTER_SECONDS/],
  ['ROUTER_TARGETS broken JSON', { ROUTER_TARGETS: '{"chat-default":' }, /ROUTER_TARGETS/],
  ['ROUTER_TARGETS without a model', { ROUTER_TARGETS: 'chat-default' }, /ROUTER_TARGETS/],
  ['ROUTER_KEY_ENVS naming TEMPORAL_API_KEY', { ROUTER_KEY_ENVS: 'TEMPORAL_API_KEY' }, /TEMPORAL_API_KEY/],
  ['ROUTER_ALLOWED_ORIGINS not a URL', { ROUTER_ALLOWED_ORIGINS: 'api.deepseek.com' }, /ROUTER_ALLOWED_ORIGINS/],
  ['GATEWAY_BASE_URL with credentials (--no-temporal)', { GATEWAY_BASE_URL: 'https://u:sk-KEY@gw.example/v1' }, /GATEWAY_BASE_URL/],
  ['MODELSHIFT_CATALOG a missing file', { MODELSHIFT_CATALOG: MISSING }, /ENOENT/, true],
  ['TEMPORAL_ADDRESS malformed', { TEMPORAL_ADDRESS: 'temporal:7233/ns' }, /TEMPORAL_ADDRESS/],
] as Array<[string, Record<string, string>, RegExp, boolean?]>) {
  const noTemporal = name.includes('--no-temporal') ? ['--no-temporal'] : [];
  // the port comes from ROUTER_PORT (a --port flag would win over the variable under test)
  envCase(name, ['router', ...(workers ? [] : ['--workers', '1']), ...noTemporal], { ROUTER_PORT: '{port}', ...env }, { says });
}

// ————————————————————————————————————————————————— the seeded mutations

/** Valid and fully featured: every block of the README's spec. The control case checks it passes `validate`. */
const validSpec = (t: string): Record<string, any> => ({
  target: t,
  blue: { model: 'gpt-4.1', baseURL: 'https://gw.example/v1', apiKeyEnv: 'GATEWAY_API_KEY' },
  green: { model: 'gpt-4.1-turbo' },
  plan: { steps: [10, 25, 50, 100], dwell: '60s', probesPerRound: 50, concurrency: 10 },
  prompts: [
    [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'What is 2+2?' },
    ],
    { messages: [{ role: 'user', content: 'What is the capital of Japan?' }], expect: { contains: 'Tokyo' } },
  ],
  guards: {
    maxErrorRate: 0.05,
    maxErrorRateIncrease: 0.02,
    minSamples: 20,
    latency: { p99Tolerance: 0.2 },
    cost: { enabled: true, maxIncrease: 0.25, spendCapUsd: 5 },
  },
  onFailure: 'rollback',
  rateLimit: { requestsPerMinute: 600 },
  request: { maxTokens: 256, temperature: 0.7, timeout: '60s' },
  retry: { attempts: 3, minBackoff: '2s', maxBackoff: '10s' },
});

type Path = Array<string | number>;
const key = (p: Path) =>
  p
    .map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`))
    .join('')
    .slice(1);
/** Strings that must be identifiers of some kind (a control character or 3 KB makes them invalid); free text excluded. */
const IDENT =
  /^(target|blue\.model|green\.model|blue\.baseURL|blue\.apiKeyEnv|plan\.dwell|onFailure|request\.timeout|retry\.(min|max)Backoff|prompts\[\d+\](\.messages)?\[\d+\]\.role)$/;
/** A URL parser drops tabs and newlines and percent-encodes the rest in a path: no control-character mutation there. */
const NO_CONTROL = /baseURL$/;
const REQUIRED = [
  'target',
  'blue',
  'green',
  'blue.model',
  'green.model',
  'prompts[0][1].role',
  'prompts[1].messages',
  'prompts[1].messages[0].content',
];

function nodes(v: unknown, p: Path = [], out: Array<{ path: Path; value: unknown }> = []) {
  if (p.length) out.push({ path: p, value: v });
  if (Array.isArray(v)) v.forEach((x, i) => nodes(x, [...p, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) nodes(x, [...p, k], out);
  return out;
}
const parentOf = (root: any, p: Path) => p.slice(0, -1).reduce((o, k) => o[k], root);

function mutations(count: number, seed: number): Case[] {
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const out: Case[] = [];
  for (let i = 0; i < count; i++) {
    const t = `fz-${RUN}-m${i}`;
    const spec = validSpec(t);
    const all = nodes(spec);
    const objects = [
      { path: [] as Path, value: spec },
      ...all.filter((n) => n.value && typeof n.value === 'object' && !Array.isArray(n.value)),
    ];
    const op = pick(['wrong type', 'wrong type', 'negative', 'typo', 'unknown field', 'missing', 'control character', '3 KB'] as const);
    let what: string;
    if (op === 'typo') {
      const n = pick(all.filter((x) => typeof x.path.at(-1) === 'string'));
      const k = n.path.at(-1) as string;
      const typo = pick(
        [`${k}s`, k.slice(0, -1), k[0].toUpperCase() + k.slice(1), `${k}_`, k.replace(/[aeiou]/, '')].filter((x) => x !== k),
      );
      const parent = parentOf(spec, n.path);
      parent[typo] = parent[k];
      delete parent[k];
      what = `${key(n.path)} spelled "${typo}"`;
    } else if (op === 'unknown field') {
      const o = pick(objects);
      const name = pick(['fallbak', 'timeoutMs', 'retries', 'enabled_', 'weight', '__proto__x']);
      (o.value as Record<string, unknown>)[name] = pick([1, 'x', true]);
      what = `unknown field ${key([...o.path, name])}`;
    } else if (op === 'missing') {
      const k = pick(REQUIRED);
      const n = all.find((x) => key(x.path) === k)!;
      const parent = parentOf(spec, n.path);
      if (Array.isArray(parent)) parent.splice(n.path.at(-1) as number, 1);
      else delete parent[n.path.at(-1) as string];
      what = `${k} missing`;
    } else {
      const candidates = all.filter((x) => {
        if (op === 'negative') return typeof x.value === 'number';
        if (op === 'control character') return typeof x.value === 'string' && IDENT.test(key(x.path)) && !NO_CONTROL.test(key(x.path));
        if (op === '3 KB') return typeof x.value === 'string' && IDENT.test(key(x.path));
        return true;
      });
      const n = pick(candidates);
      const v = n.value;
      let bad: unknown;
      if (op === 'negative') bad = -Math.round(rnd() * 1000 + 1);
      else if (op === 'control character') {
        const s = v as string;
        const at = Math.floor(rnd() * (s.length + 1));
        bad = s.slice(0, at) + String.fromCharCode(1 + Math.floor(rnd() * 31)) + s.slice(at);
      } else if (op === '3 KB') bad = (v as string).padEnd(3000, 'z');
      else if (typeof v === 'number') bad = pick(['12abc', true, [], {}, Number.NaN]);
      else if (typeof v === 'boolean') bad = pick(['yes', 1, {}]);
      else if (typeof v === 'string') bad = pick([true, [], {}]);
      else if (Array.isArray(v)) bad = pick(['oops', {}, []]);
      else bad = pick(['oops', 42, []]);
      parentOf(spec, n.path)[n.path.at(-1)!] = bad;
      what = `${key(n.path)} → ${op === '3 KB' ? '3 KB string' : JSON.stringify(bad)?.slice(0, 40)}`;
    }
    const json = rnd() < 0.5;
    const cmd = rnd() < 0.5 ? 'validate' : 'start';
    const path = json ? file('json', JSON.stringify(spec, null, 2)) : file('yaml', toYaml(spec));
    out.push({
      kind: 'mutation',
      name: `#${String(i).padStart(2, '0')} ${op}: ${what} (${json ? 'JSON' : 'YAML'}, ${cmd})`,
      args: [cmd, '-f', path],
      targets: [t],
    });
  }
  return out;
}

cases.push(...mutations(30, 20_251_111));

// ————————————————————————————————————————————————— running them

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** killed by the guard: it did not exit on its own */
  timedOut: boolean;
  /** the line by which it said it started serving or polling (it was killed at once) */
  started?: string;
  /** what it left behind: its output pipes stayed open after it exited, or processes of its group still run */
  leftover?: string;
}

/** Lines by which a command says it is up (then it was not refused): killed at once, the case fails. */
const STARTED =
  /router listening|polling task queue|simulator listening|Temporal dev server on|Ctrl-C to stop|starting the local Temporal dev server/;

/**
 * The live (not zombie) processes of process group `pgid`, from /proc. An exited child of the CLI waits
 * as a zombie until init reaps it; tsx's esbuild service (spawned when a source file is not in tsx's cache
 * yet, e.g. on a fresh clone) exits a moment after the CLI that started it.
 */
function groupMembers(pgid: number): string[] {
  const out: string[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    // no /proc: only whether the group has members at all
    try {
      process.kill(-pgid, 0);
      return ['(a process of its group)'];
    } catch {
      return [];
    }
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const [state, , pgrp] = stat.slice(close + 2).split(' ');
      if (Number(pgrp) !== pgid || state === 'Z' || state === 'X') continue;
      out.push(
        `${pid} ${stat.slice(stat.indexOf('(') + 1, close)}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim().slice(0, 200)}`,
      );
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Members of the group still alive after up to `ms` (esbuild and friends get a moment to exit). */
async function lingering(pgid: number, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = groupMembers(pgid);
    if (!left.length || Date.now() > deadline) return left;
    await sleep(100);
  }
}

function runProcess(args: string[], env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((done) => {
    // Its own process group, so the guard can kill whatever it started, and we can see whether anything is left.
    const child = spawn(process.execPath, [BIN, ...args], { cwd: CWD, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pid = child.pid!;
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let started: string | undefined;
    let settled = false;
    const killGroup = () => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const guard = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, GUARD_MS);
    const watch = (text: string) => {
      const line = started ? undefined : text.split('\n').find((l) => STARTED.test(l));
      if (line) {
        started = line;
        killGroup();
      }
    };
    child.stdout.on('data', (d) => watch((stdout += d)));
    child.stderr.on('data', (d) => watch((stderr += d)));
    const finish = async (code: number | null, signal: NodeJS.Signals | null, pipesOpen: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      const left = await lingering(pid, 5000);
      killGroup(); // leave nothing behind, but fail the case
      const leftover = pipesOpen
        ? `its output pipes were still open 5 s after it exited${left.length ? `: ${left.join('; ')}` : ''}`
        : left.length
          ? left.join('; ')
          : undefined;
      done({ code, signal, stdout, stderr, timedOut, started, leftover });
    };
    child.on('close', (code, signal) => void finish(code, signal, false));
    child.on('exit', (code, signal) => {
      // Output pipes still open well after the exit: something it started holds them.
      setTimeout(() => void finish(code, signal, true), 5000).unref();
    });
  });
}

/**
 * Ports for case `i`, below Linux's ephemeral range (32768–60999): a port from listen(0) could be handed
 * to another test file's server right after this case released it, and "something listens on it" would
 * then blame this case. A taken fixed port falls back to an ephemeral one.
 */
async function casePorts(i: number): Promise<[number, number]> {
  const pick = async (p: number) => ((await listening(p)) ? freePort() : p);
  return [await pick(17_000 + 2 * i), await pick(17_001 + 2 * i)];
}

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer()
      .once('error', fail)
      .listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number };
        srv.close(() => ok(port));
      });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.setTimeout(2000);
    s.once('connect', () => (s.destroy(), ok(true)));
    s.once('error', () => ok(false));
    s.once('timeout', () => (s.destroy(), ok(false)));
  });
}

/** Everything a test run's environment may carry that would change what a command reads. */
const SCRUB = /^(GATEWAY_|HOLYSHEEP_|ROUTER_|WORKER_|TEMPORAL_(?!CLI_PATH$)|MODELSHIFT_|SIM_|POSTGRES_|TASK_QUEUE$)/;

const STACK_TRACE = /^\s+at\s|\bat\s.*\(?[^\s()]+:\d+:\d+\)?$|node:internal|\.[cm]?[jt]s:\d+:\d+/m;
const ONE_LINE = /^[^\n]*\S[^\n]*\n$/;

let t: TestTemporal;
let idleTemporalPort: number;
const started = new Date();

beforeAll(async () => {
  t = await connectTestTemporal();
  idleTemporalPort = await freePort(); // where an (unwanted) embedded dev server would have gone
});

afterAll(async () => {
  await t?.close();
});

function baseEnv(queue: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!SCRUB.test(k)) env[k] = v;
  return {
    ...env,
    TEMPORAL_ADDRESS: t.address,
    TASK_QUEUE: queue,
    GATEWAY_BASE_URL: 'http://127.0.0.1:9/v1',
    GATEWAY_API_KEY: 'fuzz-key',
    MODELSHIFT_LOG_LEVEL: 'ERROR',
    MODELSHIFT_STATE_DIR: join(DIR, 'state'),
    TEMPORAL_PORT: String(idleTemporalPort),
    TEMPORAL_UI_PORT: String(idleTemporalPort + 1),
  };
}

async function workflowExists(id: string): Promise<boolean> {
  try {
    await t.client.workflow.getHandle(id).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

async function pollers(queue: string): Promise<number> {
  let n = 0;
  for (const taskQueueType of [1, 2]) {
    const r = await t.client.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: queue, kind: 1 },
      taskQueueType,
    });
    n += r.pollers?.length ?? 0;
  }
  return n;
}

/**
 * Inputs the product still gets wrong, in code this file's author could not change (src/router/ was being
 * rewritten): each runs as `it.fails`, so it turns red the day it is fixed — then delete its entry.
 */
/** Inputs the product still takes wrongly (run as it.fails, so the day one is fixed this file says so): none today. */
const KNOWN_DEFECTS: Record<string, string> = {};

const names = cases.map((c) => `${c.kind}: ${c.name}`);
const counts = Object.fromEntries((['spec', 'flag', 'env', 'mutation'] as const).map((k) => [k, cases.filter((c) => c.kind === k).length]));

describe('fuzz: malformed input is refused with exit 2, one line, and nothing started', () => {
  it('the table and the mutations make well over 100 distinct, named inputs', () => {
    expect(new Set(names).size, 'case names are unique').toBe(names.length);
    for (const name of Object.keys(KNOWN_DEFECTS)) expect(names, 'a known defect names a case').toContain(name);
    expect(cases.length).toBeGreaterThanOrEqual(100);
    for (const k of ['spec', 'flag', 'env', 'mutation']) expect(counts[k], k).toBeGreaterThan(10);
  });

  it('control: the spec the mutations start from is valid (YAML and JSON)', async () => {
    for (const path of [file('yaml', toYaml(validSpec(`fz-${RUN}-ctl`))), file('json', JSON.stringify(validSpec(`fz-${RUN}-ctl`)))]) {
      const r = await limit(() => runProcess(['validate', '-f', path], baseEnv(`${QUEUE_PREFIX}control`)));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^ok: /);
    }
  }, 120_000);

  cases.forEach((c, i) => {
    const name = `${c.kind}: ${c.name}`;
    (KNOWN_DEFECTS[name] ? it.concurrent.fails : it.concurrent)(
      KNOWN_DEFECTS[name] ? `${name} — known defect: ${KNOWN_DEFECTS[name]}` : name,
      async () => {
        const ports = await casePorts(i);
        const sub = (s: string) => s.replaceAll('{port}', String(ports[0])).replaceAll('{port2}', String(ports[1]));
        const queue = `${QUEUE_PREFIX}${i}`;
        const env = { ...baseEnv(queue) };
        for (const [k, v] of Object.entries(c.env ?? {})) {
          if (v === undefined) delete env[k];
          else env[k] = sub(v);
        }
        const usesPorts = [...c.args, ...Object.values(c.env ?? {})].some((s) => s?.includes('{port}'));
        const r = await limit(() => runProcess(c.args.map(sub), env));
        const seen = `\n--- stderr ---\n${r.stderr.slice(0, 3000)}\n--- stdout ---\n${r.stdout.slice(0, 3000)}`;

        expect(r.started, `it started instead of refusing the input${seen}`).toBeUndefined();
        expect(r.timedOut, `it did not exit on its own within ${GUARD_MS / 1000}s${seen}`).toBe(false);
        expect(r.code, `exit code${seen}`).toBe(2);
        expect(r.stderr, 'stderr is exactly one non-empty line').toMatch(ONE_LINE);
        expect(r.stderr, 'no stack trace').not.toMatch(STACK_TRACE);
        expect(r.stdout, 'nothing on stdout').toBe('');
        if (c.says) expect(r.stderr, 'the line names what is wrong').toMatch(c.says);

        // nothing started
        expect(r.leftover, 'no process it started is left running').toBeUndefined();
        for (const target of c.targets ?? []) expect(await workflowExists(`rollout-${target}`), `rollout-${target} exists`).toBe(false);
        for (const id of c.workflowIds ?? []) expect(await workflowExists(id), `${id} exists`).toBe(false);
        expect(await pollers(queue), `pollers on task queue ${queue}`).toBe(0);
        if (usesPorts) for (const p of ports) expect(await listening(p), `something listens on port ${p}`).toBe(false);
      },
      120_000,
    );
  });
});

describe('fuzz: afterwards', () => {
  it('no workflow on any of the fuzz task queues exists on the server', async () => {
    const found: string[] = [];
    for await (const w of t.client.workflow.list({ query: `StartTime >= "${started.toISOString()}"` })) {
      if (w.taskQueue.startsWith(QUEUE_PREFIX) || w.workflowId.includes(RUN)) found.push(`${w.workflowId} (${w.taskQueue})`);
    }
    for (const id of found)
      await t.client.workflow
        .getHandle(id.split(' ')[0])
        .terminate('fuzz test: must not have started')
        .catch(() => undefined);
    expect(found).toEqual([]);
  });
});
