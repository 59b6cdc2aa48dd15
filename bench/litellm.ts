/**
 * Our verdicts behind a real third-party gateway: LiteLLM's proxy (litellm[proxy]==1.108.7, from a venv
 * outside the repo) in front of the simulator, a real dev server, a real worker and real rollouts with the
 * default plan (steps 10…100 %, 50 probe pairs a round, 600 rpm per model, concurrency 10) but a short
 * dwell. Every socket is on 127.0.0.1.
 *
 *   npx tsx bench/litellm.ts [--scenarios 1,2,3,4] [--rollouts 3] [--dwell 2s] [--timeout 12m] [--requests 6] [--seed 7]
 *
 * Scenarios (LiteLLM model_list: gpt-4.1 and gpt-4.1-turbo → openai/<name> at the simulator's /v1):
 *   1. identical arms (both 1 % errors, latency p50 450 / p99 1200 ms), LiteLLM's default config (its own
 *      retries on, no fallbacks), --rollouts rollouts one after another. Expected: promoted.
 *   2. LiteLLM `fallbacks: [{gpt-4.1-turbo: [gpt-4.1]}]`, green failing 100 % at the simulator: LiteLLM
 *      answers green's probes from gpt-4.1. Expected: rolled back, substituted (status.probes.substituted
 *      > 0, status.lastError.green starting "substituted:").
 *   3. what LiteLLM's default retries do to one failing request (green 100 % errors, fixed 450 ms per
 *      upstream answer): wall time and upstream attempts directly, through LiteLLM's defaults, and through
 *      LiteLLM with router_settings.num_retries: 0; plus the headers and `model` a client sees.
 *   4. green 10 % errors vs blue 1 % behind LiteLLM's default retries (one rollout): do the gateway's own
 *      retries hide green's errors from the verdict? Expected (what the product promises): rolled back.
 *
 * Without the venv it says how to install it and exits 2. The venv: $MODELSHIFT_LITELLM_VENV, else
 * ${XDG_CACHE_HOME:-~/.cache}/modelshift/litellm-venv. test/gateway/litellm.test.ts reuses the helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import { abortSignal, type RolloutResult } from '../src/rollout/contract';
import { RolloutClient } from '../src/rollout/client';
import { parseSpec, type RolloutSpec } from '../src/rollout/spec';
import { startSimulator, type Simulator } from '../src/sim/index';
import type { FaultProfile } from '../src/sim/profiles';
import { parseDuration } from '../src/spec/duration';
import { startDevServer } from '../src/temporal/devserver';
import { installQuietRuntime } from '../src/temporal/runtime';
import { createWorker } from '../src/worker';

export const LITELLM_VERSION = '1.108.7';
export const BLUE_MODEL = 'gpt-4.1';
export const GREEN_MODEL = 'gpt-4.1-turbo';

// ---------- the venv ----------

export function litellmVenv(env: NodeJS.ProcessEnv = process.env): string {
  return env.MODELSHIFT_LITELLM_VENV || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'modelshift', 'litellm-venv');
}

/** The proxy's executable in the venv, or undefined when it is not installed. */
export function litellmBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const bin = join(litellmVenv(env), 'bin', 'litellm');
  return existsSync(bin) ? bin : undefined;
}

export function installHint(env: NodeJS.ProcessEnv = process.env): string {
  const venv = litellmVenv(env);
  return `python3 -m venv ${venv} && ${venv}/bin/pip install 'litellm[proxy]==${LITELLM_VERSION}'`;
}

// ---------- the proxy ----------

export interface LiteLLMConfig {
  /** router_settings.fallbacks: gpt-4.1-turbo → gpt-4.1 */
  fallbacks?: boolean;
  /** router_settings.num_retries (absent: LiteLLM's default, 2) */
  numRetries?: number;
}

export interface LiteLLMProxy {
  /** base URL ending in /v1 */
  url: string;
  /** the proxy's master key (clients send it as their bearer key) */
  key: string;
  config: LiteLLMConfig;
  /** one line: what this proxy's config changes from LiteLLM's defaults */
  describe: string;
  /** the last lines the proxy printed (for diagnostics) */
  output(): string;
  close(): Promise<void>;
}

export const LITELLM_MASTER_KEY = 'sk-modelshift-bench';

export function describeConfig(c: LiteLLMConfig): string {
  const parts = [
    c.fallbacks ? `fallbacks ${GREEN_MODEL} → ${BLUE_MODEL}` : 'no fallbacks',
    c.numRetries === undefined ? 'default retries (num_retries 2)' : `num_retries ${c.numRetries}`,
  ];
  return parts.join(', ');
}

export function litellmConfigYaml(sim: { url: string; apiKey: string }, c: LiteLLMConfig): string {
  const entry = (name: string) => ({
    model_name: name,
    litellm_params: { model: `openai/${name}`, api_base: sim.url, api_key: sim.apiKey },
  });
  const router: Record<string, unknown> = {};
  if (c.fallbacks) router.fallbacks = [{ [GREEN_MODEL]: [BLUE_MODEL] }];
  if (c.numRetries !== undefined) router.num_retries = c.numRetries;
  return stringify({
    model_list: [entry(BLUE_MODEL), entry(GREEN_MODEL)],
    ...(Object.keys(router).length ? { router_settings: router } : {}),
    general_settings: { master_key: LITELLM_MASTER_KEY },
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Start LiteLLM's proxy from the venv in front of the simulator; resolves once /health/liveliness answers. */
export async function startLiteLLM(
  sim: { url: string; apiKey: string },
  config: LiteLLMConfig = {},
  opts: { startTimeoutMs?: number } = {},
): Promise<LiteLLMProxy> {
  const bin = litellmBinary();
  if (!bin) throw new Error(`LiteLLM is not installed in ${litellmVenv()}; install it with: ${installHint()}`);
  const dir = mkdtempSync(join(tmpdir(), 'modelshift-litellm-'));
  const cfgPath = join(dir, 'config.yaml');
  writeFileSync(cfgPath, litellmConfigYaml(sim, config));
  const port = await freePort();
  let out = '';
  const child: ChildProcess = spawn(bin, ['--config', cfgPath, '--host', '127.0.0.1', '--port', String(port)], {
    cwd: dir,
    env: {
      ...process.env,
      // no fetch of the remote price map (there is no internet here, and the bench must not depend on it)
      LITELLM_LOCAL_MODEL_COST_MAP: 'True',
      LITELLM_DONT_SHOW_FEEDBACK_BOX: 'True',
      NO_PROXY: '127.0.0.1,localhost',
      no_proxy: '127.0.0.1,localhost',
      PYTHONUNBUFFERED: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );
  const close = async () => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 120_000);
  for (;;) {
    if (exited !== undefined) {
      await close();
      throw new Error(`LiteLLM exited (code ${exited}) before it answered; its last output:\n${out.slice(-3000)}`);
    }
    try {
      const r = await fetch(`${url}/health/liveliness`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await close();
      throw new Error(
        `LiteLLM did not answer on ${url} within ${Math.round((opts.startTimeoutMs ?? 120_000) / 1000)} s; its last output:\n${out.slice(-3000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return { url: `${url}/v1`, key: LITELLM_MASTER_KEY, config, describe: describeConfig(config), output: () => out, close };
}

// ---------- the simulator's arms ----------

export const ARM_PROFILE: Partial<FaultProfile> = {
  errorRate: 0.01,
  timeoutRate: 0,
  malformedRate: 0,
  latencyMs: { p50: 450, p99: 1200 },
  rpm: null,
  substituteModel: null,
  fallbackHeader: false,
};

/** Both arms identical (1 % errors, same latency); then `green` patched over green's profile. */
export function setArms(sim: Simulator, green: Partial<FaultProfile> = {}): void {
  sim.setProfile(BLUE_MODEL, ARM_PROFILE);
  sim.setProfile(GREEN_MODEL, { ...ARM_PROFILE, ...green });
}

/** The default plan (steps 10…100 %, 50 pairs a round, rpm 600, concurrency 10, the seed's retries) with a short dwell. */
export function benchSpec(target: string, dwell = '2s'): RolloutSpec {
  return parseSpec({ target, blue: { model: BLUE_MODEL }, green: { model: GREEN_MODEL }, plan: { dwell } });
}

// ---------- one rollout ----------

export interface RolloutRun {
  target: string;
  result?: RolloutResult;
  minutes: number;
  /** set when the rollout did not end within the bench's time limit (it was then aborted) */
  timedOut?: boolean;
}

/** Start a rollout, wait for its end (at most timeoutMs; then abort it), time it. */
export async function runRollout(client: RolloutClient, spec: RolloutSpec, timeoutMs: number): Promise<RolloutRun> {
  const t0 = Date.now();
  const handle = await client.start(spec);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
  try {
    const r = await Promise.race([handle.result() as Promise<RolloutResult>, late]);
    if (r !== 'late') return { target: spec.target, result: r, minutes: (Date.now() - t0) / 60_000 };
    await handle.signal(abortSignal, { reason: `bench time limit (${Math.round(timeoutMs / 1000)} s)` });
    const ended = (await handle.result()) as RolloutResult;
    return { target: spec.target, result: ended, minutes: (Date.now() - t0) / 60_000, timedOut: true };
  } finally {
    clearTimeout(timer);
  }
}

// ---------- raw requests (scenario 3) ----------

export interface RequestTiming {
  /** wall ms per request */
  ms: number[];
  statuses: number[];
  /** upstream attempts per request (the simulator's count for the model, divided by requests) */
  attemptsPerRequest: number;
  headers: Record<string, string>;
  model?: string;
}

const INTERESTING = /^(x-litellm-attempted-(retries|fallbacks)|x-litellm-model-group|retry-after(-ms)?)$/;

/** n sequential chat requests for `model` to `baseURL`, timed end to end (the body read included). */
export async function timeRequests(sim: Simulator, baseURL: string, key: string, model: string, n: number): Promise<RequestTiming> {
  const before = sim.stats()[model]?.requests ?? 0;
  const out: RequestTiming = { ms: [], statuses: [], attemptsPerRequest: 0, headers: {} };
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: `What is 2+2? (${i})` }], max_tokens: 64 }),
      signal: AbortSignal.timeout(120_000),
    });
    const text = await r.text();
    out.ms.push(performance.now() - t0);
    out.statuses.push(r.status);
    r.headers.forEach((v, k) => {
      if (INTERESTING.test(k)) out.headers[k] = v;
    });
    try {
      const m = (JSON.parse(text) as { model?: unknown }).model;
      if (typeof m === 'string') out.model = m;
    } catch {
      /* an error body */
    }
  }
  out.attemptsPerRequest = ((sim.stats()[model]?.requests ?? 0) - before) / n;
  return out;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

// ---------- the bench ----------

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

interface Row {
  scenario: string;
  config: string;
  expected: string;
  run: RolloutRun;
  /** whether the outcome is the expected one */
  ok: boolean;
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const cell = (s: string | undefined, max = 220) => {
  const t = (s ?? '').replace(/\s+/g, ' ');
  return (t.length > max ? `${t.slice(0, max - 1)}…` : t).replace(/\|/g, '\\|');
};

function rolloutRow(r: Row, i: number): string {
  const res = r.run.result;
  const st = res?.status;
  const arms = st ? `${fmt(st.arms.blue.errorRate * 100, 1)}% / ${fmt(st.arms.green.errorRate * 100, 1)}%` : '';
  const p50 = st ? `${fmt(st.arms.blue.p50LatencyMs)} / ${fmt(st.arms.green.p50LatencyMs)}` : '';
  return (
    `| ${i} | ${r.scenario} | ${r.config} | ${r.expected} | **${res?.phase ?? '–'}**${r.run.timedOut ? ' (time limit)' : ''}${r.ok ? '' : ' ✗'} | ` +
    `${fmt(r.run.minutes, 1)} | ${st ? `${fmt(st.probes.pairs)} / ${fmt(st.probes.sent)}` : ''} | ${st?.probes.substituted ?? ''} | ${arms} | ${p50} | ` +
    `${cell(res?.reason, 200)} | ${cell(st?.lastError?.green, 120)} |`
  );
}

/** The installed LiteLLM's version, from the venv's python. */
function litellmVersion(): Promise<string> {
  return new Promise<string>((resolve) => {
    const p = spawn(join(litellmVenv(), 'bin', 'python'), ['-c', 'import importlib.metadata as m; print(m.version("litellm"))'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let s = '';
    p.stdout.on('data', (d) => (s += d));
    p.on('close', () => resolve(s.trim() || 'unknown'));
  });
}

// eslint-disable-next-line max-lines-per-function -- a bench script: its scenarios run top-down, in order
async function main() {
  const scenarios = arg('scenarios', '1,2,3,4')
    .split(',')
    .map((s) => s.trim());
  const rollouts = Number(arg('rollouts', '3'));
  const dwell = arg('dwell', '2s');
  const timeoutMs = parseDuration(arg('timeout', '12m')) ?? 12 * 60_000;
  const requests = Number(arg('requests', '6'));
  const seed = Number(arg('seed', '7'));
  const command = `npx tsx bench/litellm.ts ${process.argv.slice(2).join(' ')}`.trim();

  if (!litellmBinary()) {
    console.error(`bench/litellm.ts: LiteLLM's proxy is not installed in ${litellmVenv()}.`);
    console.error(`Install it (outside the repo) with:\n  ${installHint()}`);
    console.error('(or point MODELSHIFT_LITELLM_VENV at an existing venv with litellm[proxy] installed)');
    process.exit(2);
  }
  const version = await litellmVersion();

  const t0 = performance.now();
  const log = (l: string) => process.stderr.write(`${l}\n`);
  installQuietRuntime();
  const server = await startDevServer({ log: () => undefined });
  const sim = await startSimulator({ seed, latencyScale: 1 });
  setArms(sim);
  const proxies: LiteLLMProxy[] = [];
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let connection: NativeConnection | undefined;
  const rows: Row[] = [];
  const timings: { label: string; t: RequestTiming }[] = [];
  const substitutionCheck: { label: string; model?: string; headers: Record<string, string> }[] = [];
  try {
    log(`starting LiteLLM ${version} proxies (${litellmVenv()})…`);
    const needDefault = scenarios.some((s) => ['1', '3', '4'].includes(s));
    const [plain, withFallbacks, noRetries] = await Promise.all([
      needDefault ? startLiteLLM(sim, {}) : undefined,
      scenarios.includes('2') ? startLiteLLM(sim, { fallbacks: true }) : undefined,
      scenarios.includes('3') ? startLiteLLM(sim, { numRetries: 0 }) : undefined,
    ]);
    for (const p of [plain, withFallbacks, noRetries]) if (p) proxies.push(p);

    connection = await NativeConnection.connect({ address: server.address });
    const taskQueue = `bench-litellm-${Date.now().toString(36)}`;
    process.env.GATEWAY_API_KEY = LITELLM_MASTER_KEY;
    // The worker's allowed gateway origins come from GATEWAY_BASE_URL (read per call): each scenario sets it.
    process.env.GATEWAY_BASE_URL = (plain ?? withFallbacks)!.url;
    worker = await createWorker({ connection, namespace: 'default', taskQueue });
    running = worker.run();
    const client = new RolloutClient(new Client({ connection: server.env.connection }), taskQueue);
    let n = 0;
    const target = (what: string) => `litellm-${what}-${Date.now().toString(36)}-${n++}`;

    if (scenarios.includes('1') && plain) {
      setArms(sim);
      process.env.GATEWAY_BASE_URL = plain.url;
      for (let i = 0; i < rollouts; i++) {
        log(`scenario 1: identical arms, rollout ${i + 1}/${rollouts}…`);
        const run = await runRollout(client, benchSpec(target('identical'), dwell), timeoutMs);
        rows.push({
          scenario: 'identical arms (1% errors, same latency)',
          config: plain.describe,
          expected: 'promoted',
          run,
          ok: run.result?.phase === 'promoted',
        });
        log(`  → ${run.result?.phase} in ${fmt(run.minutes, 1)} min: ${run.result?.reason ?? ''}`);
      }
    }
    if (scenarios.includes('2') && withFallbacks) {
      setArms(sim, { errorRate: 1 });
      process.env.GATEWAY_BASE_URL = withFallbacks.url;
      log('scenario 2: green failing 100% behind LiteLLM fallbacks…');
      const run = await runRollout(client, benchSpec(target('fallback'), dwell), Math.min(timeoutMs, 6 * 60_000));
      const st = run.result?.status;
      const ok =
        run.result?.phase === 'rolled_back' && (st?.probes.substituted ?? 0) > 0 && /^substituted:/.test(st?.lastError?.green ?? '');
      rows.push({
        scenario: 'green 100% errors, LiteLLM answers from gpt-4.1',
        config: withFallbacks.describe,
        expected: 'rolled_back, substituted',
        run,
        ok,
      });
      log(`  → ${run.result?.phase} in ${fmt(run.minutes, 1)} min: ${run.result?.reason ?? ''}`);
    }
    if (scenarios.includes('4') && plain) {
      setArms(sim, { errorRate: 0.1 });
      process.env.GATEWAY_BASE_URL = plain.url;
      log("scenario 4: green 10% errors vs blue 1% behind LiteLLM's default retries…");
      const run = await runRollout(client, benchSpec(target('hidden'), dwell), timeoutMs);
      rows.push({
        scenario: 'green 10% errors vs blue 1%',
        config: plain.describe,
        expected: 'rolled_back',
        run,
        ok: run.result?.phase === 'rolled_back',
      });
      log(`  → ${run.result?.phase} in ${fmt(run.minutes, 1)} min: ${run.result?.reason ?? ''}`);
    }
    if (scenarios.includes('3') && plain && noRetries) {
      log("scenario 3: a failing request's latency through LiteLLM's retries…");
      setArms(sim, { errorRate: 1, latencyMs: 450 });
      timings.push({ label: 'directly to the simulator', t: await timeRequests(sim, sim.url, sim.apiKey, GREEN_MODEL, requests) });
      timings.push({
        label: `through LiteLLM, ${plain.describe}`,
        t: await timeRequests(sim, plain.url, plain.key, GREEN_MODEL, requests),
      });
      timings.push({
        label: `through LiteLLM, ${noRetries.describe}`,
        t: await timeRequests(sim, noRetries.url, noRetries.key, GREEN_MODEL, requests),
      });
      // What a client sees when the upstream itself answers from another model, saying nothing (no header).
      setArms(sim, { errorRate: 0, latencyMs: 50, substituteModel: BLUE_MODEL });
      for (const [label, url, key] of [
        ['directly to the simulator', sim.url, sim.apiKey],
        [`through LiteLLM, ${plain.describe}`, plain.url, plain.key],
      ] as const) {
        const t = await timeRequests(sim, url, key, GREEN_MODEL, 1);
        substitutionCheck.push({ label, model: t.model, headers: t.headers });
      }
      setArms(sim);
    }
  } finally {
    worker?.shutdown();
    await running?.catch(() => undefined);
    await connection?.close();
    await Promise.all(proxies.map((p) => p.close()));
    await sim.close();
    await server.stop();
  }

  printReport({ version, command, seed, dwell, requests, rows, timings, substitutionCheck, t0 });
}

interface Report {
  version: string;
  command: string;
  seed: number;
  dwell: string;
  requests: number;
  rows: Row[];
  timings: { label: string; t: RequestTiming }[];
  substitutionCheck: { label: string; model?: string; headers: Record<string, string> }[];
  t0: number;
}

function printReport({ version, command, seed, dwell, requests, rows, timings, substitutionCheck, t0 }: Report): void {
  console.log(`### Verdicts behind LiteLLM ${version}\n`);
  console.log(`\`${command}\` — LiteLLM proxy (${litellmVenv()}) in front of the simulator (seed ${seed}), real dev server, real worker.`);
  console.log(
    `Default plan: steps ${benchSpec('x').steps.join('/')} %, ${benchSpec('x').probesPerRound} probe pairs a round, ${benchSpec('x').rateLimit.requestsPerMinute} rpm per model, ` +
      `concurrency ${benchSpec('x').concurrency}, retries ${benchSpec('x').retry.attempts} attempts; dwell ${dwell}. Arms at the simulator: 1% errors, latency p50 450 / p99 1200 ms, unless the scenario says otherwise.\n`,
  );
  if (rows.length) {
    console.log(
      '| # | scenario | LiteLLM config | expected | phase | minutes | pairs judged / sent | green substituted | errors blue / green | p50 ms blue / green | reason | last green error |',
    );
    console.log('| ---: | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |');
    rows.forEach((r, i) => console.log(rolloutRow(r, i + 1)));
    console.log('');
  }
  if (timings.length) {
    const direct = median(timings[0].t.ms);
    console.log(
      `**A failing request** (green answers 500/503 at the simulator after a fixed 450 ms; ${requests} sequential requests each; median):\n`,
    );
    console.log(
      '| path | median ms | min / max ms | added vs direct ms | upstream attempts per request | status to the client | headers |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | --- | --- |');
    for (const { label, t } of timings) {
      const m = median(t.ms);
      const statuses = [...new Set(t.statuses)].join(', ');
      const headers = Object.entries(t.headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ');
      console.log(
        `| ${label} | ${fmt(m)} | ${fmt(Math.min(...t.ms))} / ${fmt(Math.max(...t.ms))} | ${t === timings[0].t ? '' : fmt(m - direct)} | ${fmt(t.attemptsPerRequest, 1)} | ${statuses} | ${cell(headers)} |`,
      );
    }
    console.log('');
  }
  if (substitutionCheck.length) {
    console.log(
      `**The upstream answers ${GREEN_MODEL} from ${BLUE_MODEL} and says nothing** (simulator substituteModel, no header): what the client sees\n`,
    );
    console.log('| path | response `model` | headers |');
    console.log('| --- | --- | --- |');
    for (const s of substitutionCheck)
      console.log(
        `| ${s.label} | ${s.model ?? '–'} | ${cell(
          Object.entries(s.headers)
            .map(([k, v]) => `${k}: ${v}`)
            .join('; '),
        )} |`,
      );
    console.log('');
  }
  const bad = rows.filter((r) => !r.ok);
  if (rows.length)
    console.log(
      bad.length
        ? `✗ ${bad.length} of ${rows.length} rollouts did not end as expected (rows marked ✗).`
        : `All ${rows.length} rollouts ended as expected.`,
    );
  console.log(`\n(${fmt((performance.now() - t0) / 60_000, 1)} min)`);
}

if (process.argv[1] && /litellm\.ts$/.test(process.argv[1])) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
