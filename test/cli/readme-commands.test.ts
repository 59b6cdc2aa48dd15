/**
 * Every command README.md shows, run as a real process (issue 11).
 *
 * The README is parsed for the commands it shows: each line of a ```sh block (`\` continuations joined,
 * `# comments` stripped), each inline code span starting with `npx modelshift `, `npm start`, `npm test`,
 * `npm run ` or `temporal `, and each command in the first column of the CLI table (prefixed with the
 * `npx modelshift ` that table's heading gives them). HOW below says, for each, how it is exercised.
 * The file fails when the README shows a command HOW does not cover (a new README command cannot go
 * untested), when HOW lists one the README no longer shows, and when a `run` entry was not run.
 *
 * The commands run against the test run's dev server (`inject('temporalAddress')`), a simulator as the
 * gateway, and `npx modelshift worker` (a real process) on a task queue of its own. Placeholders are
 * replaced where the README uses them, each replacement spelled out next to its command (a replacement
 * that no longer matches the README fails the test): `https://api.openai.com/v1` and `sk-…` → the
 * simulator's URL and key, fixed ports (4000, 7233, 8233, 8787) → free ones, `<target>`, `T`, `M`,
 * `[flags]` → concrete values. `npx modelshift …` is run as `node bin/modelshift.js …` — what npx resolves
 * in the clone, checked once by running `npx modelshift --help` itself.
 *
 * Every process is bounded (killed with its process group at its deadline) and gone after the file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/index';
import { cacheDir, findTemporalCli } from '../../src/temporal/cli';
import { HANDLER_DESCRIPTIONS } from '../../src/rollout/contract';
import { uniqueTaskQueue } from '../helpers/temporal';
import { result, status, uniqueTarget, waitForStatus } from '../helpers/rollout';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin', 'modelshift.js');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

// ---------------------------------------------------------------------------------------------------
// The commands README.md shows.

interface Shown {
  command: string;
  line: number;
  where: 'sh block' | 'inline' | 'CLI table';
}

const INLINE = /^(npx modelshift |npm start|npm test|npm run |temporal )/;
const SHELL_FENCES = new Set(['sh', 'bash', 'shell', 'console']);

/** Drop a ` # comment` outside quotes. */
function stripComment(line: string): string {
  let q: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) {
      if (c === q) q = null;
    } else if (c === "'" || c === '"') q = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i);
  }
  return line;
}

const tidy = (s: string) => s.replace(/\\\|/g, '|').replace(/\s+/g, ' ').trim();

/** Code spans of a paragraph (they may wrap lines; a run of n backticks closes on the next run of n). */
function spans(text: string): string[] {
  const out: string[] = [];
  const re = /(`+)([\s\S]+?)(?<!`)\1(?!`)/g;
  for (let m; (m = re.exec(text));) out.push(tidy(m[2]));
  return out;
}

/** Cells of a table row, split on unescaped `|`. */
const cells = (row: string) =>
  row
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/);

export function readmeCommands(md: string): Shown[] {
  const lines = md.split('\n');
  const shown: Shown[] = [];
  const add = (command: string, line: number, where: Shown['where']) => {
    if (!shown.some((s) => s.command === command)) shown.push({ command, line, where });
  };
  let fence: string | null = null;
  let pending = '';
  let pendingLine = 0;
  let paragraph: { text: string; line: number }[] = [];
  let cliTable = false;
  const flush = () => {
    const text = paragraph.map((p) => p.text).join('\n');
    for (const s of spans(text)) if (INLINE.test(s)) add(s, paragraph.find((p) => p.text.includes(s.split(' ')[0]))?.line ?? 0, 'inline');
    paragraph = [];
  };
  lines.forEach((raw, i) => {
    const n = i + 1;
    const f = /^\s*```\s*(\S*)/.exec(raw);
    if (f) {
      if (fence === null) {
        flush();
        fence = f[1];
      } else fence = null;
      return;
    }
    if (fence !== null) {
      if (!SHELL_FENCES.has(fence)) return;
      const l = stripComment(raw).trimEnd();
      if (!pending) pendingLine = n;
      if (l.endsWith('\\')) {
        pending += `${l.slice(0, -1)} `;
        return;
      }
      const command = tidy(pending + l);
      pending = '';
      if (command) add(command, pendingLine, 'sh block');
      return;
    }
    if (!raw.trim()) {
      flush();
      cliTable = false;
      return;
    }
    paragraph.push({ text: raw, line: n });
    // The CLI table: its first column names `npx modelshift <command>` forms.
    if (/^\|\s*command\s*\|\s*what it does\s*\|/.test(raw)) cliTable = true;
    else if (cliTable && raw.startsWith('|') && !/^\|[\s|:-]+\|$/.test(raw)) {
      for (const s of spans(cells(raw)[0])) add(`npx modelshift ${s}`, n, 'CLI table');
    }
  });
  flush();
  return shown;
}

const SHOWN = readmeCommands(README);
const SHOWN_SET = new Set(SHOWN.map((s) => s.command));

// ---------------------------------------------------------------------------------------------------
// HOW each is exercised. `run`: by a process in this file (what is checked). `elsewhere`: it cannot run
// here by design; `covered` checks that what is named instead exists.

type How = { run: string } | { elsewhere: string; covered: () => void };

const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
const CI = () => read('.ci/run');
const pkgScript = (name: string) => (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts[name];
const STACK_TESTS = () => {
  const t = read('test/stack/stack.stack.ts');
  expect(t).toContain("['stack', 'up', '--workers', '3', '--routers', '2'");
  expect(t).toContain("modelshift(['stack', 'status'");
  expect(t).toContain("modelshift(['stack', 'down'");
  expect(t).toContain("stack.restart('temporal')");
  expect(pkgScript('test:stack')).toBe('vitest run --config vitest.stack.config.ts');
  expect(CI()).toContain('run --config vitest.stack.config.ts');
};
const COMPOSE_TESTS = () => {
  expect(read('test/router/compose.test.ts')).toContain('compose-spec/compose-go');
  expect(existsSync(join(ROOT, 'test/stack/compose-in-step.test.ts'))).toBe(true);
};
// Why these few are not run here: no Docker engine on this machine (the docker CLI has no daemon);
// `modelshift stack` brings up PostgreSQL, a Temporal server, 3 workers and 2 routers and restarts them
// (minutes, the whole machine's ports) — its own suite does exactly that; `npm test` is the suite this
// file belongs to (running it here recurses); `npm run lint` / `npm run format` judge or rewrite the whole
// working tree, other engineers' uncommitted files included.
const DOCKER =
  'not run: needs a Docker engine (none here). test/router/compose.test.ts validates docker-compose.yml with compose-go; test/stack/compose-in-step.test.ts keeps it in step with `modelshift stack`';
const STACK =
  'not run: brings up the whole native stack. test/stack/stack.stack.ts (`npm run test:stack`, run by .ci/run) runs `stack up --workers 3 --routers 2`, `stack status`, `stack down` as processes; `restart temporal` through the same Stack API the CLI calls';

const HOW: Record<string, How> = {
  // Quickstart and `npm start`.
  'npm start': {
    run: '= `modelshift demo`: both rollouts end right (`npm start -- --exit` below), and the stack stays up serving until Ctrl-C (`npm start -- --no-regression` below)',
  },
  'npm start -- --exit': {
    run: 'real npm, own dev server on free ports (TEMPORAL_PORT/TEMPORAL_UI_PORT), state in a temp MODELSHIFT_STATE_DIR: exit 0, Web UI answered 200 while it ran, rollout 1 promoted, rollout 2 rolled back on the verdict, SQLite in the state dir',
  },
  'npm start -- --no-regression': {
    run: 'real npm reusing the `npx modelshift dev` server (TEMPORAL_PORT = its port): "using the Temporal server already running", only rollout 1 (promoted), prints the README\'s `start --target demo …` hint, its router answers a chat completion; Ctrl-C (SIGINT to the process group) stops every process of it; the dev server it reused is still up',
  },
  'npx modelshift demo [--exit] [--no-regression]': {
    run: 'what `npm start -- --exit` and `npm start -- --no-regression` run (scripts/bootstrap.js → bin/modelshift.js demo …)',
  },
  'npm test': {
    elsewhere: 'not run: this file is one of its tests (recursion). .ci/run runs it',
    covered: () => expect(CI()).toMatch(/^npm test /m),
  },
  'npm test -- test/rollout/workflow.test.ts': {
    elsewhere: 'not run: `npm test` with vitest arguments after `--`; .ci/run passes its reporter flags the same way. The file exists',
    covered: () => {
      expect(CI()).toMatch(/^npm test -- --reporter/m);
      expect(existsSync(join(ROOT, 'test/rollout/workflow.test.ts'))).toBe(true);
    },
  },
  'npm run test:stack': {
    elsewhere: 'not run: the stack suite (see `modelshift stack` below); .ci/run runs the same vitest command',
    covered: STACK_TESTS,
  },
  'npm run lint': {
    elsewhere:
      "not run: its verdict is the whole working tree's. Checked here: the script is ESLint + Prettier's check, as the README says, and .ci/run runs it.",
    covered: () => {
      expect(pkgScript('lint')).toBe('eslint . && prettier --check .');
      expect(CI()).toMatch(/^if npm run lint/m);
    },
  },
  'npm run format': {
    elsewhere: 'never run by a test: it rewrites files in the working tree',
    covered: () => expect(pkgScript('format')).toMatch(/^prettier --write \. && eslint --fix \.$/),
  },

  // The CLI.
  'npx modelshift <command>': { run: 'real `npx modelshift --help` in the clone: exit 0, lists every command of the CLI table' },
  'npx modelshift dev': {
    run: 'background, stdin closed, TEMPORAL_PORT/TEMPORAL_UI_PORT free, temp MODELSHIFT_STATE_DIR: still SERVING (`temporal operator cluster health`, a workflow list) and its Web UI 200 after ≥ 30 s; SIGTERM → exit 0, "stopped", no process left, temporal.sqlite in the state dir',
  },
  'npx modelshift dev [--port 7233] [--ui-port 8233] [--ephemeral]': {
    run: 'as `dev --port <free> --ui-port <free> --ephemeral`, stdin closed: after ≥ 30 s SERVING, a client connects and lists workflows, Web UI 200; SIGINT → exit 0, no process left, nothing in its state dir',
  },
  'npx modelshift start --target demo --blue gpt-4.1 --green gpt-4.1-turbo --steps 10,25,50,100 --dwell 20s': {
    run: 'as written: exit 0, "started rollout-demo", the `follow: npx modelshift watch demo` hint; then watch/status/pause/resume/list/promote on it',
  },
  'npx modelshift start -f spec.yaml': {
    run: "the README's spec (the ```yaml block, verbatim, target chat-default) in spec.yaml: exit 0, started rollout-chat-default; then the `temporal workflow …` lines and the router on it",
  },
  'npx modelshift start --target T --blue M --green M [flags]': {
    run: 'T → a unique target, M → gpt-4.1 / gpt-4.1-turbo, [flags] → `--dwell 1h` (then `abort`) and `--dwell 1h --json` (prints {workflowId, runId}; then the `temporal workflow signal … abort` line)',
  },
  'npx modelshift validate -f spec.yaml': {
    run: "the README's spec: exit 0, `ok: chat-default: gpt-4.1 → gpt-4.1-turbo, steps 10→25→50→100%, dwell 1m`",
  },
  'npx modelshift status <target> [--json]': {
    run: '<target> → demo: text (`demo: RAMPING  step k/4`), and --json with every key the README lists',
  },
  'npx modelshift watch <target>': { run: '<target> → demo, from its start: exit 0 once promoted, its last view PROMOTED' },
  'npx modelshift pause <target> [--reason]': {
    run: "<target> → demo, [--reason] → --reason 'dashboards checked': exit 0, `pause: rollout-demo is now paused`; the status says paused",
  },
  'npx modelshift resume <target>': { run: '<target> → demo: exit 0, `resume: rollout-demo is now ramping`' },
  'npx modelshift abort <target> [--reason]': {
    run: "<target> → a rollout started by `start --target T …`, [--reason] → --reason 'latency looks off': exit 0, rolled_back, reason `aborted by operator: latency looks off`",
  },
  'npx modelshift promote <target> [--reason]': {
    run: "<target> → demo, [--reason] → --reason 'looks good': exit 0, PROMOTED (and `watch` ends 0)",
  },
  'npx modelshift list [--json] [--limit n] [--target T]': {
    run: "as `list` (a row for demo) and `list --json --limit 1 --target demo` (one row, demo's)",
  },
  'npx modelshift approve <target> [--reason] [--by]': {
    run: "<target> → chat-default at its second gate (the gated spec below), [--reason] → --reason 'second look', [--by] → --by dave: exit 0, `approve: rollout-chat-default step 2 (25%) approved by dave`, recorded in `approvals`",
  },
  'npx modelshift retry <target> [--wait]': {
    run: '<target> → chat-default after its attempt 2 was aborted, [--wait] → --wait: attempt 3 starts, its three gates are approved while it waits, exit 0 once promoted',
  },
  'npx modelshift ab [--models a,b,c] [--prompts file] [--rounds N | --duration 10m] [--json] [--html report.html] [--catalog file]': {
    run: 'as `ab --models gpt-4.1,deepseek-v3.2 --prompts prompts.yaml --duration 6s --json --html report.html --catalog src/catalog/catalog.example.yaml` in a temp dir (6s for 10m): JSON report, both models measured, cheapest first, report.html written',
  },
  'npx modelshift router [--port 4000] …': { run: 'the router line of the "Live traffic" block below (same process)' },
  'npx modelshift worker': {
    run: "this file's worker: a real process on its own TASK_QUEUE with the simulator as GATEWAY_*, polling before the rollouts; SIGINT at the end → exit 0, `modelshift worker: stopped`",
  },
  'npx modelshift sim [--port 8787] [--profile profile.yaml] [--seed n] [--latency-scale x]': {
    run: "as `sim --port <free> --profile profile.yaml --seed 7 --latency-scale 0` (a profile adding a model): prints its URL and models, /v1/models lists the profile's model, a chat completion answers; SIGTERM → exit 0",
  },
  'npx modelshift stack up | status | down | restart <service>': { elsewhere: STACK, covered: STACK_TESTS },

  // The rollout from the Temporal CLI (the resolved `temporal` binary, TEMPORAL_ADDRESS = the test server),
  // on rollout-chat-default started from the README's spec.
  'temporal workflow metadata': { run: 'the `temporal workflow metadata --workflow-id rollout-chat-default` line below' },
  'temporal workflow metadata --workflow-id rollout-chat-default': { run: 'exit 0, every handler with its description' },
  'temporal workflow update execute --workflow-id rollout-chat-default --name pause --input \'{"reason":"checking"}\'': {
    run: 'exit 0, the result is the status, paused',
  },
  'temporal workflow signal --workflow-id rollout-chat-default --name resume': { run: 'exit 0; the rollout is ramping again' },
  'temporal workflow list --query \'RolloutPhase="ramping"\'': { run: 'exit 0, lists rollout-chat-default while it ramps' },
  'temporal workflow update execute --workflow-id rollout-chat-default --name promote --input \'{"reason":"looks good"}\'': {
    run: 'exit 0, promoted; the router then sends chat-default to green',
  },
  'temporal workflow query --workflow-id rollout-chat-default --type status': { run: 'exit 0, phase promoted at 100 %' },
  'temporal workflow terminate --workflow-id rollout-<target>': {
    run: '<target> → a rollout started by `start --target T … --dwell 1h`, ramping: exit 0, TERMINATED; `status` then says how it ended (failed at 0 %, "terminated (last seen ramping at …); routers serve 0% green")',
  },
  'npx modelshift approve chat-default --reason "dashboards fine"': {
    run: 'on rollout-chat-default started from a gated spec (three approval gates, dwell 1s), at its first gate: exit 0, `approve: rollout-chat-default step 1 (10%) approved by <user@host>`; the status keeps who and why',
  },
  'temporal workflow update execute --workflow-id rollout-chat-default --name approve --input \'{"by":"carol","reason":"dashboards fine"}\'':
    {
      run: 'on the retried run (attempt 2) at its first gate: exit 0, the result is the status; `approvals` has carol, "dashboards fine"',
    },
  'npx modelshift retry chat-default': {
    run: 'after the gated run was aborted at its third gate: exit 0, `retry: started rollout-chat-default attempt 2 (the last run … was rolled_back)`',
  },
  'npx modelshift list --target chat-default': {
    run: 'with attempt 2 running: exit 0, its rows only — attempt 2 (retry of run <the aborted run>) first, then the aborted run rolled_back, then the promoted README-spec run',
  },
  'temporal workflow signal --workflow-id rollout-<target> --name abort --input \'{"reason":"…"}\'': {
    run: '<target> → a rollout started by `start --target T … --json`: exit 0; it ends rolled_back, `aborted by operator: …`',
  },

  // A/B experiments and the router.
  'npx modelshift ab --models deepseek-v3.2,gemini-2.5-flash,gpt-4.1,claude-sonnet-4.5 --rounds 20 --html report.html': {
    run: 'as written, in a temp dir: exit 0, 20 rounds × 2 prompts = 40 requests per model, sorted cheapest first (deepseek-v3.2 … claude-sonnet-4.5), report.html self-contained with every model',
  },
  'GATEWAY_BASE_URL=https://api.openai.com/v1 GATEWAY_API_KEY=sk-… ROUTER_API_KEYS=team-key npx modelshift router --port 4000 --target chat-default=gpt-4.1':
    {
      run: 'https://api.openai.com/v1 → the simulator, sk-… → its key, 4000 → a free port: /healthz ok, 401 without the key, chat-default answered by gpt-4.1, and by gpt-4.1-turbo once rollout-chat-default is promoted; SIGTERM → exit 0',
    },

  // Docker and the native stack.
  'docker compose --profile sim up -d': { elsewhere: DOCKER, covered: COMPOSE_TESTS },
  'GATEWAY_BASE_URL=https://api.openai.com/v1 GATEWAY_API_KEY=sk-… ROUTER_API_KEYS=team-key ROUTER_TARGETS=chat-default=gpt-4.1 docker compose up -d --scale worker=3':
    { elsewhere: DOCKER, covered: COMPOSE_TESTS },
  'docker compose exec worker npx modelshift start --target chat-default --blue gpt-4.1 --green gpt-4.1-turbo': {
    elsewhere: DOCKER,
    covered: COMPOSE_TESTS,
  },
  'npx modelshift stack up --workers 3 --routers 2': { elsewhere: STACK, covered: STACK_TESTS },
  'npx modelshift stack status': { elsewhere: STACK, covered: STACK_TESTS },
  'npx modelshift stack restart temporal': { elsewhere: STACK, covered: STACK_TESTS },
  'npx modelshift stack down': { elsewhere: STACK, covered: STACK_TESTS },
};

/** Commands run by this file's tests, by their README form. */
const exercised = new Set<string>();

/**
 * The README command `cmd` (exactly as shown), recorded as run, with its replacements applied in order.
 * A replacement that matches nothing means the README changed: fail rather than run something else.
 */
function readme(cmd: string, ...replace: [string | RegExp, string][]): string {
  const how = HOW[cmd];
  if (!how || !('run' in how)) throw new Error(`not a \`run\` entry of HOW: ${cmd}`);
  if (!SHOWN_SET.has(cmd)) throw new Error(`README.md no longer shows: ${cmd}`);
  exercised.add(cmd);
  let line = cmd;
  for (const [from, to] of replace) {
    const next = line.replace(from, to);
    if (next === line) throw new Error(`README command changed: \`${cmd}\` has no ${String(from)} to replace`);
    line = next;
  }
  return line;
}

// ---------------------------------------------------------------------------------------------------
// Processes.

/** Shell words of a simple command line: quotes and backslashes as sh reads them; no pipes or lists. */
function words(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let word = false;
  let q: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q === "'") {
      if (c === "'") q = null;
      else cur += c;
    } else if (q === '"') {
      if (c === '"') q = null;
      else if (c === '\\' && '"\\$`'.includes(line[i + 1] ?? '')) cur += line[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      q = c;
      word = true;
    } else if (c === '\\') {
      cur += line[++i] ?? '';
      word = true;
    } else if (/\s/.test(c)) {
      if (word) out.push(cur);
      cur = '';
      word = false;
    } else if ('|&;<>()$`'.includes(c)) {
      throw new Error(`not a simple command (${c}): ${line}`);
    } else {
      cur += c;
      word = true;
    }
  }
  if (q) throw new Error(`unclosed quote: ${line}`);
  if (word) out.push(cur);
  return out;
}

const temporalBin = (): string => findTemporalCli()?.path ?? join(cacheDir(), 'temporal');

/** A command line → program, arguments and the environment assignments in front of it. */
function resolveLine(line: string): { file: string; args: string[]; assign: Record<string, string> } {
  const w = words(line);
  const assign: Record<string, string> = {};
  while (w.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(w[0])) {
    const [k, ...v] = w.shift()!.split('=');
    assign[k] = v.join('=');
  }
  if (w[0] === 'npx' && w[1] === 'modelshift') return { file: process.execPath, args: [BIN, ...w.slice(2)], assign };
  if (w[0] === 'npx' || w[0] === 'npm') return { file: w[0], args: w.slice(1), assign };
  if (w[0] === 'temporal') return { file: temporalBin(), args: w.slice(1), assign };
  throw new Error(`no way to run: ${line}`);
}

/** The environment with nothing of the caller's gateway / Temporal / router settings: each test sets its own. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^(GATEWAY_|HOLYSHEEP_|ROUTER_|WORKER_|TASK_QUEUE$|MODELSHIFT_(STATE_DIR|CATALOG)$|TEMPORAL_(?!CLI_PATH$))/.test(k)) delete env[k];
  }
  return { ...env, ...extra };
}

interface Proc {
  line: string;
  child: ChildProcess;
  out(): string;
  stdout(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first match of `re` in stdout + stderr; rejects if the process exits or `ms` pass first. */
  waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray>;
  /** Send `signal` to the process (the group for `group`), wait for its exit; SIGKILL the group after `ms`. */
  stop(signal: NodeJS.Signals, ms: number, group?: boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<Proc>();
const killGroup = (p: Proc, signal: NodeJS.Signals = 'SIGKILL') => {
  try {
    process.kill(-p.child.pid!, signal);
  } catch {
    /* gone */
  }
};
process.once('exit', () => live.forEach((p) => killGroup(p)));

/** True once no process of `p`'s process group is left (its children included). */
async function groupGone(p: Proc, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      process.kill(-p.child.pid!, 0);
    } catch {
      return true;
    }
    await sleep(200);
  }
  return false;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Start a README command line as a process of its own group, stdin closed. Killed (with its group) after
 * `timeoutMs` whatever happens.
 */
function start(line: string, opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number }): Proc {
  const { file, args, assign } = resolveLine(line);
  const child = spawn(file, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...(opts.env ?? cleanEnv()), ...assign },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (d) => ((out += d), (stdout += d)));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('close', (code, signal) => r({ code, signal })),
  );
  const p: Proc = {
    line,
    child,
    out: () => out,
    stdout: () => stdout,
    exited,
    async waitFor(re, ms) {
      const deadline = Date.now() + ms;
      let done = false;
      void exited.then(() => (done = true));
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (done || Date.now() > deadline)
          throw new Error(`${line}: no ${re} ${done ? 'before it exited' : `within ${ms} ms`}; output:\n${out.slice(-3000)}`);
        await sleep(100);
      }
    },
    async stop(signal, ms, group = false) {
      if (group) killGroup(p, signal);
      else child.kill(signal);
      const t = setTimeout(() => killGroup(p), ms);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
  live.add(p);
  const deadline = setTimeout(() => killGroup(p), opts.timeoutMs);
  void exited.then(async () => {
    clearTimeout(deadline);
    if (await groupGone(p, 30_000)) live.delete(p);
  });
  return p;
}

/** Run a README command line to its end (bounded). */
async function run(line: string, opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}) {
  const p = start(line, { timeoutMs: 90_000, ...opts });
  const { code, signal } = await p.exited;
  return { code, signal, out: p.out(), stdout: p.stdout() };
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

const temps: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), `modelshift-readme-${prefix}-`));
  temps.push(d);
  return d;
};

async function untilOk<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(300);
  }
  throw new Error(`timed out: ${what}${last ? ` (${String(last)})` : ''}`);
}

const httpStatus = (url: string) =>
  fetch(url).then(
    (r) => r.status,
    () => 0,
  );

async function chat(base: string, key: string, model: string, user = 'alice') {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, user, messages: [{ role: 'user', content: 'What is the capital of Japan?' }] }),
  });
  return { status: r.status, body: (await r.json()) as { model?: string; choices?: { message: { content: string } }[] } };
}

/** A rollout status field in the Temporal CLI's output: its text form prints Go maps (`phase:paused`), `-o json` JSON. */
const PHASE = (phase: string) => new RegExp(`"phase":\\s*"${phase}"|\\bphase:${phase}\\b`);

/** `temporal operator cluster health` against a server of this file's own (not a README command). */
const clusterHealth = (address: string) =>
  new Promise<string>((res) => {
    const c = spawn(temporalBin(), ['operator', 'cluster', 'health', '--address', address], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 20_000,
    });
    let o = '';
    c.stdout.on('data', (d) => (o += d));
    c.stderr.on('data', (d) => (o += d));
    c.on('close', () => res(o));
  });

// ---------------------------------------------------------------------------------------------------

describe('README.md commands', () => {
  it('HOW covers exactly the commands README.md shows', () => {
    expect(SHOWN.length).toBeGreaterThan(30); // the parser found the README's commands at all
    const missing = SHOWN.filter((s) => !(s.command in HOW)).map((s) => `README.md:${s.line} (${s.where}): ${s.command}`);
    const stale = Object.keys(HOW).filter((c) => !SHOWN_SET.has(c));
    expect(missing, 'commands README.md shows that HOW does not cover — add how each is exercised').toEqual([]);
    expect(stale, 'HOW lists commands README.md no longer shows').toEqual([]);
  });

  it('the exceptions name coverage that exists', () => {
    for (const [cmd, how] of Object.entries(HOW)) if ('elsewhere' in how) expect(() => how.covered(), cmd).not.toThrow();
  });
});

// The file's set-up: the simulator as the gateway, `npx modelshift worker` on a task queue of its own, a
// client for waiting on rollouts. File-level hooks: the worker outlives the concurrent tests, to be stopped last.
const address = inject('temporalAddress');
const taskQueue = uniqueTaskQueue('readme');
let sim: Simulator;
let client: Client;
let worker: Proc;
let workerReady: Promise<unknown>;
/** The environment of the CLI commands: the test dev server, this file's task queue. */
let cliEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  sim = await startSimulator({
    latencyScale: 0.05,
    models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } },
  });
  cliEnv = cleanEnv({ TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: 'default', TASK_QUEUE: taskQueue });
  worker = start(readme('npx modelshift worker'), {
    env: { ...cliEnv, GATEWAY_BASE_URL: sim.url, GATEWAY_API_KEY: sim.apiKey },
    timeoutMs: 600_000,
  });
  workerReady = worker.waitFor(/polling task queue/, 120_000);
  workerReady.catch(() => undefined);
  client = new Client({ connection: await Connection.connect({ address }), namespace: 'default' });
});

afterAll(async () => {
  for (const id of ['rollout-demo', 'rollout-chat-default'])
    await client?.workflow
      .getHandle(id)
      .terminate('test over')
      .catch(() => undefined);
  await Promise.all([...live].map((p) => p.stop('SIGKILL', 5_000, true)));
  await client?.connection.close();
  await sim?.close();
  for (const d of temps) rmSync(d, { recursive: true, force: true });
}, 60_000);

describe.concurrent('README.md commands as processes', () => {
  it('npm start -- --exit: the demo ends rollout 1 promoted and rollout 2 rolled back, its Web UI answering', async () => {
    const [temporalPort, uiPort] = [await freePort(), await freePort()];
    const state = tempDir('demo');
    exercised.add('npm start');
    exercised.add('npx modelshift demo [--exit] [--no-regression]');
    const demo = start(readme('npm start -- --exit'), {
      env: cleanEnv({ TEMPORAL_PORT: String(temporalPort), TEMPORAL_UI_PORT: String(uiPort), MODELSHIFT_STATE_DIR: state }),
      timeoutMs: 280_000,
    });
    let ui = 0;
    while (ui !== 200 && demo.child.exitCode === null) {
      ui = await httpStatus(`http://localhost:${uiPort}/`);
      await sleep(500);
    }
    const { code } = await demo.exited;
    const out = demo.out();
    expect(code, out.slice(-3000)).toBe(0);
    expect(ui, 'the Web UI answered while the demo ran').toBe(200);
    expect(out).toContain(`starting the local Temporal dev server on 127.0.0.1:${temporalPort} (Web UI http://localhost:${uiPort})`);
    expect(out).toMatch(/simulated OpenAI-compatible gateway on http:\/\/127\.0\.0\.1:\d+\/v1/);
    expect(out).toMatch(/router on http:\/\/127\.0\.0\.1:\d+\/v1/);
    expect(out).toContain('sending 20 requests/s of demo traffic through the router');
    expect(out).toContain(`Web UI: http://localhost:${uiPort}/namespaces/default/workflows/rollout-demo-promote`);
    expect(out).toMatch(/→ promoted: all 4 steps passed/);
    expect(out).toMatch(/injected: gpt-4\.1-turbo now fails 30% of requests/);
    expect(out).toMatch(/→ rolled_back: failed verdict at \d+% green/);
    expect(out).toMatch(/live traffic judged beside the probes: blue \d+ \/ green [1-9]\d* requests from the router/);
    expect(existsSync(join(state, 'temporal.sqlite')), 'SQLite under the state dir').toBe(true);
    expect(await groupGone(demo, 30_000), 'every process of npm start exited').toBe(true);
  }, 300_000);

  it('npx modelshift dev stays up with stdin closed; npm start -- --no-regression reuses it, serves until Ctrl-C', async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    const state = tempDir('dev');
    const env = cleanEnv({ TEMPORAL_PORT: String(port), TEMPORAL_UI_PORT: String(uiPort), MODELSHIFT_STATE_DIR: state });
    const dev = start(readme('npx modelshift dev'), { env, timeoutMs: 280_000 });
    await dev.waitFor(
      new RegExp(`Temporal dev server on 127\\.0\\.0\\.1:${port} \\(namespace default\\)\\nWeb UI: http://localhost:${uiPort}`),
      90_000,
    );
    const upAt = Date.now();

    exercised.add('npm start');
    exercised.add('npx modelshift demo [--exit] [--no-regression]');
    const demo = start(readme('npm start -- --no-regression'), { env, timeoutMs: 240_000 });
    await demo.waitFor(/The stack stays up \(Ctrl-C to stop\)/, 200_000);
    const out = demo.out();
    expect(out).toContain(`using the Temporal server already running at 127.0.0.1:${port}`);
    expect(out).toMatch(/→ promoted: all 4 steps passed/);
    expect(out).not.toContain('rollout 2');
    expect(out, 'the hint the README quotes').toContain(
      'npx modelshift start --target demo --blue gpt-4.1 --green gpt-4.1-turbo --steps 10,25,50,100 --dwell 20s',
    );
    const routerURL = out.match(/router on (http:\/\/127\.0\.0\.1:\d+)\/v1 \(client key (\S+)\)/)!;
    const answer = await chat(routerURL[1], routerURL[2], 'demo');
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.choices?.[0].message.content).toContain('Tokyo');

    // Ctrl-C: SIGINT to the foreground process group, as a terminal sends it.
    await demo.stop('SIGINT', 30_000, true);
    expect(await groupGone(demo, 30_000), 'every process of npm start exited').toBe(true);
    expect(demo.out()).toContain('stopping…');

    // The dev server the demo reused is still up, past 30 s, and kept the demo's rollout.
    await sleep(Math.max(0, 30_000 - (Date.now() - upAt)));
    expect(dev.child.exitCode).toBeNull();
    expect(await clusterHealth(`127.0.0.1:${port}`)).toContain('SERVING');
    const list = await run('temporal workflow list', { env: cleanEnv({ TEMPORAL_ADDRESS: `127.0.0.1:${port}` }), timeoutMs: 30_000 });
    expect(list.out).toMatch(/Completed\s+rollout-demo-promote/);
    expect(await httpStatus(`http://localhost:${uiPort}/`)).toBe(200);

    const stopped = await dev.stop('SIGTERM', 30_000);
    expect(stopped, dev.out().slice(-2000)).toEqual({ code: 0, signal: null });
    expect(dev.stdout()).toMatch(/stopped\n$/);
    expect(await groupGone(dev, 30_000), 'the dev server process exited with it').toBe(true);
    expect(existsSync(join(state, 'temporal.sqlite'))).toBe(true);
  }, 300_000);

  it('npx modelshift dev --port --ui-port --ephemeral: serving after 30 s, stops on SIGINT, nothing on disk', async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    const state = tempDir('ephemeral');
    const dev = start(
      readme(
        'npx modelshift dev [--port 7233] [--ui-port 8233] [--ephemeral]',
        ['[--port 7233]', `--port ${port}`],
        ['[--ui-port 8233]', `--ui-port ${uiPort}`],
        ['[--ephemeral]', '--ephemeral'],
      ),
      { env: cleanEnv({ MODELSHIFT_STATE_DIR: state }), timeoutMs: 200_000 },
    );
    await dev.waitFor(new RegExp(`Temporal dev server on 127\\.0\\.0\\.1:${port}`), 90_000);
    await sleep(30_000);
    expect(dev.child.exitCode, dev.out()).toBeNull();
    expect(await clusterHealth(`127.0.0.1:${port}`)).toContain('SERVING');
    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    try {
      const ids = [];
      for await (const w of new Client({ connection }).workflow.list()) ids.push(w.workflowId);
      expect(ids).toEqual([]);
    } finally {
      await connection.close();
    }
    expect(await httpStatus(`http://localhost:${uiPort}/`)).toBe(200);
    expect(await dev.stop('SIGINT', 30_000)).toEqual({ code: 0, signal: null });
    expect(await groupGone(dev, 30_000)).toBe(true);
    expect(readdirSync(state)).toEqual([]);
  }, 200_000);

  it('npx modelshift ab: as written (--rounds 20 --html) and with every flag of the CLI table', async () => {
    const dirA = tempDir('ab');
    const dirB = tempDir('ab-flags');
    writeFileSync(join(dirB, 'prompts.yaml'), '- { name: capital, prompt: What is the capital of Japan? }\n');
    const [a, b] = await Promise.all([
      run(readme('npx modelshift ab --models deepseek-v3.2,gemini-2.5-flash,gpt-4.1,claude-sonnet-4.5 --rounds 20 --html report.html'), {
        env: cliEnv,
        cwd: dirA,
        timeoutMs: 220_000,
      }),
      run(
        readme(
          'npx modelshift ab [--models a,b,c] [--prompts file] [--rounds N | --duration 10m] [--json] [--html report.html] [--catalog file]',
          ['[--models a,b,c]', '--models gpt-4.1,deepseek-v3.2'],
          ['[--prompts file]', '--prompts prompts.yaml'],
          ['[--rounds N | --duration 10m]', '--duration 6s'],
          ['[--json]', '--json'],
          ['[--html report.html]', '--html report.html'],
          ['[--catalog file]', `--catalog ${join(ROOT, 'src/catalog/catalog.example.yaml')}`],
        ),
        { env: cliEnv, cwd: dirB, timeoutMs: 120_000 },
      ),
    ]);

    expect(a.code, a.out.slice(-3000)).toBe(0);
    expect(a.stdout).toMatch(/^model\s+requests\s+success\s+avg ms\s+p50 ms\s+p99 ms\s+tokens\s+cost\s+\$\/request\s+\$\/success/);
    const rows = a.stdout.split('\n').filter((l) => /^(deepseek|gemini|gpt|claude)/.test(l));
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(['deepseek-v3.2', 'gemini-2.5-flash', 'gpt-4.1', 'claude-sonnet-4.5']);
    for (const r of rows) expect(r.split(/\s+/)[1], r).toBe('40');
    expect(a.stdout).toMatch(/completed: 20 round\(s\) \(20 planned/);
    const html = readFileSync(join(dirA, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/i);
    for (const m of ['deepseek-v3.2', 'gemini-2.5-flash', 'gpt-4.1', 'claude-sonnet-4.5']) expect(html).toContain(m);
    expect(html, 'self-contained').not.toMatch(/<(script|link|img)[^>]+(src|href)=["']?https?:/i);

    expect(b.code, b.out.slice(-3000)).toBe(0);
    const report = JSON.parse(b.stdout) as {
      status: string;
      rounds: number;
      prompts: string[];
      models: { model: string; requests: number; successes: number; priced: boolean }[];
    };
    expect(report).toMatchObject({ status: 'completed', prompts: ['capital'] });
    expect(report.rounds).toBeGreaterThanOrEqual(1);
    expect(report.models.map((m) => m.model)).toEqual(['deepseek-v3.2', 'gpt-4.1']);
    for (const m of report.models) expect(m).toMatchObject({ requests: report.rounds, successes: report.rounds, priced: true });
    expect(readFileSync(join(dirB, 'report.html'), 'utf8')).toContain('deepseek-v3.2');
  }, 240_000);

  it('the rollout commands: start --target demo …, watch, status [--json], pause, resume, list, promote, abort, the temporal signal', async () => {
    const started = await run(
      readme('npx modelshift start --target demo --blue gpt-4.1 --green gpt-4.1-turbo --steps 10,25,50,100 --dwell 20s'),
      { env: cliEnv },
    );
    expect(started.code, started.out).toBe(0);
    expect(started.stdout).toMatch(/^started rollout-demo: /);
    expect(started.stdout).toContain('follow: npx modelshift watch demo');
    const watch = start(readme('npx modelshift watch <target>', ['<target>', 'demo']), { env: cliEnv, timeoutMs: 150_000 });

    // Two more, for abort: the CLI's, and the Temporal CLI's signal.
    const [t1, t2, t3] = [uniqueTarget('readme-abort'), uniqueTarget('readme-signal'), uniqueTarget('readme-terminate')];
    const startT = (t: string, flags: string) =>
      run(
        readme(
          'npx modelshift start --target T --blue M --green M [flags]',
          ['--target T', `--target ${t}`],
          ['--blue M', '--blue gpt-4.1'],
          ['--green M', '--green gpt-4.1-turbo'],
          ['[flags]', flags],
        ),
        { env: cliEnv },
      );
    const [s1, s2, s3] = await Promise.all([startT(t1, '--dwell 1h'), startT(t2, '--dwell 1h --json'), startT(t3, '--dwell 1h')]);
    expect(s3.code, s3.out).toBe(0);
    expect(s1.code, s1.out).toBe(0);
    expect(s1.stdout).toMatch(new RegExp(`^started rollout-${t1}: `));
    expect(s2.code, s2.out).toBe(0);
    expect(JSON.parse(s2.stdout)).toEqual({ workflowId: `rollout-${t2}`, runId: expect.any(String) });

    await workerReady;
    await waitForStatus(client, 'demo', (s) => s.phase === 'ramping', 60_000);
    const [text, json] = await Promise.all([
      run(readme('npx modelshift status <target> [--json]', ['<target>', 'demo'], [' [--json]', '']), { env: cliEnv }),
      run(readme('npx modelshift status <target> [--json]', ['<target>', 'demo'], ['[--json]', '--json']), { env: cliEnv }),
    ]);
    expect(text.code, text.out).toBe(0);
    expect(text.stdout).toMatch(/^demo: RAMPING {2}step [1-4]\/4 {2}green /);
    expect(text.stdout).toMatch(/^ {2}blue {2}gpt-4\.1 /m);
    expect(json.code, json.out).toBe(0);
    const keys = /`--json` has `([^`]+)`/.exec(README)![1].split(/,\s*/);
    expect(keys).toContain('lastVerdict');
    expect(Object.keys(JSON.parse(json.stdout))).toEqual(expect.arrayContaining(keys));
    expect(JSON.parse(json.stdout)).toMatchObject({ target: 'demo', phase: 'ramping', totalSteps: 4 });

    const pause = await run(
      readme('npx modelshift pause <target> [--reason]', ['<target>', 'demo'], ['[--reason]', "--reason 'dashboards checked'"]),
      { env: cliEnv },
    );
    expect(pause.code, pause.out).toBe(0);
    expect(pause.stdout).toMatch(/^pause: rollout-demo is now paused at \d+% green$/m);
    expect((await status(client, 'demo')).phase).toBe('paused');
    const resume = await run(readme('npx modelshift resume <target>', ['<target>', 'demo']), { env: cliEnv });
    expect(resume.code, resume.out).toBe(0);
    expect(resume.stdout).toMatch(/^resume: rollout-demo is now ramping at \d+% green$/m);

    const [list, listJson] = await Promise.all([
      run(readme('npx modelshift list [--json] [--limit n] [--target T]', [' [--json] [--limit n] [--target T]', '']), { env: cliEnv }),
      run(
        readme(
          'npx modelshift list [--json] [--limit n] [--target T]',
          ['[--json]', '--json'],
          ['[--limit n]', '--limit 1'],
          ['[--target T]', '--target demo'],
        ),
        { env: cliEnv },
      ),
    ]);
    expect(list.code, list.out).toBe(0);
    expect(list.stdout).toMatch(/^demo\s+ramping\s+\d+%\s+gpt-4\.1 → gpt-4\.1-turbo\s+running/m);
    expect(listJson.code, listJson.out).toBe(0);
    const rows = JSON.parse(listJson.stdout) as { target: string; phase: string }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toEqual(expect.objectContaining({ target: 'demo', phase: 'ramping' }));

    const promote = await run(
      readme('npx modelshift promote <target> [--reason]', ['<target>', 'demo'], ['[--reason]', "--reason 'looks good'"]),
      { env: cliEnv },
    );
    expect(promote.code, promote.out).toBe(0);
    // promoted from the step it was at (the status keeps that step), green at 100 %
    expect(promote.stdout).toMatch(/^demo: PROMOTED {2}step [1-4]\/4 {2}green \S+ 100%/);
    const watched = await watch.exited;
    expect(watched.code, watch.out().slice(-2000)).toBe(0);
    expect(watch.stdout()).toMatch(/demo: PROMOTED[^\n]*100%/);

    // abort: the CLI's update, and the Temporal CLI's signal "of the same name".
    await waitForStatus(client, t1, (s) => s.phase === 'ramping', 60_000);
    const abort = await run(
      readme('npx modelshift abort <target> [--reason]', ['<target>', t1], ['[--reason]', "--reason 'latency looks off'"]),
      { env: cliEnv },
    );
    expect(abort.code, abort.out).toBe(0);
    expect(abort.stdout).toMatch(new RegExp(`^abort: rollout-${t1} is now rolled_back at 0% green$`, 'm'));
    expect(await result(client, t1)).toMatchObject({ phase: 'rolled_back', reason: 'aborted by operator: latency looks off' });

    const signal = await run(
      readme('temporal workflow signal --workflow-id rollout-<target> --name abort --input \'{"reason":"…"}\'', [
        'rollout-<target>',
        `rollout-${t2}`,
      ]),
      { env: cliEnv, timeoutMs: 30_000 },
    );
    expect(signal.code, signal.out).toBe(0);
    expect(await result(client, t2)).toMatchObject({ phase: 'rolled_back', reason: 'aborted by operator: …' });

    // terminate: the immediate stop the README gives for a loaded stack; status still says how it ended.
    await waitForStatus(client, t3, (s) => s.phase === 'ramping', 60_000);
    const terminate = await run(
      readme('temporal workflow terminate --workflow-id rollout-<target>', ['rollout-<target>', `rollout-${t3}`]),
      { env: cliEnv, timeoutMs: 30_000 },
    );
    expect(terminate.code, terminate.out).toBe(0);
    expect((await client.workflow.getHandle(`rollout-${t3}`).describe()).status.name).toBe('TERMINATED');
    const ended = await run(readme('npx modelshift status <target> [--json]', ['<target>', t3], [' [--json]', '']), { env: cliEnv });
    expect(ended.code, ended.out).toBe(0);
    expect(ended.stdout).toMatch(new RegExp(`^${t3}: FAILED `));
    expect(ended.stdout).toMatch(/terminated[^\n]*\(last seen ramping at \d+%\); routers serve 0% green/);
  }, 240_000);

  it('the rollout spec, the temporal CLI lines and the router on rollout-chat-default', async () => {
    const dir = tempDir('spec');
    const yaml = /```yaml\n(target: chat-default[\s\S]*?)```/.exec(README)![1];
    writeFileSync(join(dir, 'spec.yaml'), yaml);

    const routerPort = await freePort();
    const router = start(
      readme(
        'GATEWAY_BASE_URL=https://api.openai.com/v1 GATEWAY_API_KEY=sk-… ROUTER_API_KEYS=team-key npx modelshift router --port 4000 --target chat-default=gpt-4.1',
        ['https://api.openai.com/v1', sim.url],
        ['sk-…', sim.apiKey],
        ['--port 4000', `--port ${routerPort}`],
      ),
      { env: cliEnv, timeoutMs: 200_000 },
    );
    exercised.add('npx modelshift router [--port 4000] …');
    const base = `http://127.0.0.1:${routerPort}`;

    const validate = await run(readme('npx modelshift validate -f spec.yaml'), { env: cliEnv, cwd: dir });
    expect(validate.code, validate.out).toBe(0);
    expect(validate.stdout).toMatch(/^ok: chat-default: gpt-4\.1 → gpt-4\.1-turbo, steps 10→25→50→100%, dwell 1m/);

    // Before the rollout: the router serves chat-default from blue, and refuses a request without its key.
    const health = await untilOk(
      'router /healthz',
      async () => {
        const r = await fetch(`${base}/healthz`);
        return r.status === 200
          ? ((await r.json()) as { status: string; targets: Record<string, { phase: string; greenPercent: number }> })
          : undefined;
      },
      90_000,
    );
    expect(health.status).toBe('ok');
    expect(health.targets['chat-default']).toMatchObject({ greenPercent: 0 });
    expect((await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: '{}' })).status).toBe(401);
    const before = await chat(base, 'team-key', 'chat-default');
    expect(before.status, JSON.stringify(before.body)).toBe(200);
    expect(before.body.model).toBe('gpt-4.1');

    const started = await run(readme('npx modelshift start -f spec.yaml'), { env: cliEnv, cwd: dir });
    expect(started.code, started.out).toBe(0);
    expect(started.stdout).toMatch(/^started rollout-chat-default: /);
    await workerReady;
    await waitForStatus(client, 'chat-default', (s) => s.phase === 'ramping', 60_000);

    const tenv = { env: cliEnv, timeoutMs: 60_000 };
    exercised.add('temporal workflow metadata');
    const meta = await run(readme('temporal workflow metadata --workflow-id rollout-chat-default'), tenv);
    expect(meta.code, meta.out).toBe(0);
    for (const [name, description] of Object.entries(HANDLER_DESCRIPTIONS)) {
      expect(meta.out).toContain(name);
      expect(meta.out).toContain(description);
    }

    const pause = await run(
      readme('temporal workflow update execute --workflow-id rollout-chat-default --name pause --input \'{"reason":"checking"}\''),
      tenv,
    );
    expect(pause.code, pause.out).toBe(0);
    expect(pause.out).toMatch(PHASE('paused'));
    const resume = await run(readme('temporal workflow signal --workflow-id rollout-chat-default --name resume'), tenv);
    expect(resume.code, resume.out).toBe(0);
    await waitForStatus(client, 'chat-default', (s) => s.phase === 'ramping', 30_000);

    await untilOk(
      'rollout-chat-default listed as ramping',
      async () => {
        const list = await run(readme('temporal workflow list --query \'RolloutPhase="ramping"\''), tenv);
        expect(list.code, list.out).toBe(0);
        return list.out.includes('rollout-chat-default') ? true : undefined;
      },
      30_000,
    );

    const promote = await run(
      readme('temporal workflow update execute --workflow-id rollout-chat-default --name promote --input \'{"reason":"looks good"}\''),
      tenv,
    );
    expect(promote.code, promote.out).toBe(0);
    expect(promote.out).toMatch(PHASE('promoted'));
    const query = await run(readme('temporal workflow query --workflow-id rollout-chat-default --type status'), tenv);
    expect(query.code, query.out).toBe(0);
    expect(query.out).toMatch(PHASE('promoted'));
    expect(query.out).toMatch(/"greenPercent":\s*100\b|\bgreenPercent:100\b/);

    // The router follows the rollout: promoted → chat-default is served by green.
    const after = await untilOk(
      'the router sends chat-default to green',
      async () => {
        const r = await chat(base, 'team-key', 'chat-default', 'bob');
        return r.body.model === 'gpt-4.1-turbo' ? r : undefined;
      },
      30_000,
    );
    expect(after.status).toBe(200);
    const healthAfter = (await (await fetch(`${base}/healthz`)).json()) as {
      targets: Record<string, { phase: string; greenPercent: number }>;
    };
    expect(healthAfter.targets['chat-default']).toMatchObject({ phase: 'promoted', greenPercent: 100 });

    expect(await router.stop('SIGTERM', 30_000)).toEqual({ code: 0, signal: null });
    expect(await groupGone(router, 30_000)).toBe(true);

    // Release controls on rollout-chat-default: a gated spec (not the README's: three gates, fast steps).
    const gated = {
      target: 'chat-default',
      blue: { model: 'gpt-4.1' },
      green: { model: 'gpt-4.1-turbo' },
      plan: {
        steps: [{ percent: 10, approval: true }, { percent: 25, approval: true }, { percent: 50, approval: true }, 100],
        dwell: '1s',
        probesPerRound: 100,
        concurrency: 50,
      },
      rateLimit: { requestsPerMinute: 6000 },
      retry: { attempts: 2, minBackoff: '200ms', maxBackoff: '1s' },
      request: { timeout: '10s' },
    };
    writeFileSync(join(dir, 'gated.json'), JSON.stringify(gated));
    const atGate = (step: number) => waitForStatus(client, 'chat-default', (s) => s.waiting === 'approval' && s.step === step, 120_000);
    const gatedStart = await run('npx modelshift start -f gated.json', { env: cliEnv, cwd: dir });
    expect(gatedStart.code, gatedStart.out).toBe(0);

    await atGate(1);
    const approve1 = await run(readme('npx modelshift approve chat-default --reason "dashboards fine"'), { env: cliEnv });
    expect(approve1.code, approve1.out).toBe(0);
    expect(approve1.stdout).toMatch(/^approve: rollout-chat-default step 1 \(10%\) approved by \S+@\S+; now ramping at \d+% green$/m);
    await atGate(2);
    const approve2 = await run(
      readme(
        'npx modelshift approve <target> [--reason] [--by]',
        ['<target>', 'chat-default'],
        ['[--reason]', "--reason 'second look'"],
        ['[--by]', '--by dave'],
      ),
      { env: cliEnv },
    );
    expect(approve2.code, approve2.out).toBe(0);
    expect(approve2.stdout).toMatch(/^approve: rollout-chat-default step 2 \(25%\) approved by dave; now /m);
    const run1 = await atGate(3);
    expect(run1.approvals).toEqual([
      expect.objectContaining({ step: 1, greenPercent: 10, reason: 'dashboards fine', by: expect.stringMatching(/@/) }),
      expect.objectContaining({ step: 2, greenPercent: 25, reason: 'second look', by: 'dave' }),
    ]);
    const firstRunId = (await client.workflow.getHandle('rollout-chat-default').describe()).runId;
    const abort1 = await run("npx modelshift abort chat-default --reason 'try again'", { env: cliEnv });
    expect(abort1.code, abort1.out).toBe(0);
    expect(await result(client, 'chat-default')).toMatchObject({ phase: 'rolled_back' });

    const retried = await run(readme('npx modelshift retry chat-default'), { env: cliEnv });
    expect(retried.code, retried.out).toBe(0);
    expect(retried.stdout).toMatch(
      new RegExp(`^retry: started rollout-chat-default attempt 2 \\(the last run ${firstRunId} was rolled_back\\)`),
    );
    await atGate(1);
    const approveT = await run(
      readme(
        'temporal workflow update execute --workflow-id rollout-chat-default --name approve --input \'{"by":"carol","reason":"dashboards fine"}\'',
      ),
      tenv,
    );
    expect(approveT.code, approveT.out).toBe(0);
    expect((await status(client, 'chat-default')).approvals).toEqual([
      expect.objectContaining({ step: 1, by: 'carol', reason: 'dashboards fine' }),
    ]);

    const history = await run(readme('npx modelshift list --target chat-default'), { env: cliEnv });
    expect(history.code, history.out).toBe(0);
    const lines = history.stdout.trim().split('\n');
    expect(lines, history.stdout).toHaveLength(3);
    expect(lines[0]).toMatch(
      new RegExp(
        `^chat-default\\s+ramping\\s+\\d+%\\s+gpt-4\\.1 → gpt-4\\.1-turbo\\s+running\\s+\\S+\\s+attempt 2 \\(retry of run ${firstRunId}\\)$`,
      ),
    );
    expect(lines[1]).toMatch(/^chat-default\s+rolled_back\s+0%\s+gpt-4\.1 → gpt-4\.1-turbo\s+completed\s+\S+$/);
    expect(lines[2]).toMatch(/^chat-default\s+promoted\s+100%\s+gpt-4\.1 → gpt-4\.1-turbo\s+completed\s+\S+$/);

    // retry --wait: abort attempt 2, retry it following it live; its three gates are approved as it reaches them.
    const abort2 = await run("npx modelshift abort chat-default --reason 'once more'", { env: cliEnv });
    expect(abort2.code, abort2.out).toBe(0);
    await result(client, 'chat-default');
    const following = start(readme('npx modelshift retry <target> [--wait]', ['<target>', 'chat-default'], ['[--wait]', '--wait']), {
      env: cliEnv,
      timeoutMs: 180_000,
    });
    await following.waitFor(/retry: started rollout-chat-default attempt 3/, 60_000);
    for (const step of [1, 2, 3]) {
      await atGate(step);
      const ok = await run('npx modelshift approve chat-default --by test', { env: cliEnv });
      expect(ok.code, ok.out).toBe(0);
    }
    const followed = await following.exited;
    expect(followed.code, following.out().slice(-2000)).toBe(0);
    expect(following.stdout()).toMatch(/chat-default: PROMOTED[^\n]*100%/);
  }, 420_000);

  it('npx modelshift <command> (real npx in the clone) and npx modelshift sim', async () => {
    const help = await run(
      readme('npx modelshift <command>', ['<command>', '--help']).replace(/^npx modelshift/, 'npx --no-install modelshift'),
      { timeoutMs: 60_000 },
    );
    expect(help.code, help.out).toBe(0);
    const names = [...new Set(SHOWN.filter((s) => s.where === 'CLI table').map((s) => s.command.split(' ')[2]))];
    expect(names).toContain('dev');
    for (const name of names) expect(help.stdout).toMatch(new RegExp(`^ {2}${name}\\b`, 'm'));

    const dir = tempDir('sim');
    writeFileSync(join(dir, 'profile.yaml'), 'models:\n  readme-model: { errorRate: 0, latencyMs: 5 }\n');
    const port = await freePort();
    const simProc = start(
      readme(
        'npx modelshift sim [--port 8787] [--profile profile.yaml] [--seed n] [--latency-scale x]',
        ['[--port 8787]', `--port ${port}`],
        ['[--profile profile.yaml]', '--profile profile.yaml'],
        ['[--seed n]', '--seed 7'],
        ['[--latency-scale x]', '--latency-scale 0'],
      ),
      { cwd: dir, timeoutMs: 60_000 },
    );
    await simProc.waitFor(/Ctrl-C to stop/, 45_000);
    expect(simProc.stdout()).toContain(`modelshift simulator listening on http://127.0.0.1:${port}/v1`);
    expect(simProc.stdout()).toMatch(/^models: .*readme-model/m);
    const models = (await (await fetch(`http://127.0.0.1:${port}/v1/models`, { headers: { authorization: 'Bearer sim-key' } })).json()) as {
      data: { id: string }[];
    };
    expect(models.data.map((m) => m.id)).toContain('readme-model');
    const answer = await chat(`http://127.0.0.1:${port}`, 'sim-key', 'readme-model');
    expect(answer.status).toBe(200);
    expect(answer.body.choices?.[0].message.content).toContain('Tokyo');
    expect(await simProc.stop('SIGTERM', 15_000)).toEqual({ code: 0, signal: null });
  }, 120_000);
});

describe('after the processes', () => {
  it('npx modelshift worker stops cleanly on SIGINT', async () => {
    // The worker ran every rollout and experiment above.
    expect(worker.out()).toContain(`polling task queue`);
    expect(await worker.stop('SIGINT', 30_000)).toEqual({ code: 0, signal: null });
    expect(worker.out()).toContain('modelshift worker: stopped');
  }, 60_000);

  it('every `run` entry of HOW was run', () => {
    const notRun = Object.entries(HOW)
      .filter(([cmd, how]) => 'run' in how && !exercised.has(cmd))
      .map(([cmd]) => cmd);
    expect(notRun).toEqual([]);
  });
});
