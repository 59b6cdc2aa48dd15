#!/usr/bin/env node
// `npm start` / `npm test` on a fresh clone: install what is missing (npm packages, the Temporal CLI),
// with progress shown, then run. Plain Node with no dependencies, because it runs before `npm install`.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [command, ...rest] = process.argv.slice(2);
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
};

function ensureNodeModules() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000);
  if (!stale) return;
  console.error('modelshift: installing npm packages (npm ci)…');
  const code = run('npm', [existsSync(lock) ? 'ci' : 'install', '--no-fund', '--no-audit']);
  if (code !== 0) process.exit(code);
}

function ensureTemporalCli() {
  // Prints progress while it builds the CLI the first time (minutes); instant afterwards.
  const code = run(process.execPath, ['--import', 'tsx', 'src/temporal/ensure-cli.ts'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (code !== 0) process.exit(code);
}

ensureNodeModules();
if (command === 'start') {
  ensureTemporalCli();
  process.exit(run(process.execPath, ['bin/modelshift.js', 'demo', ...rest]));
} else if (command === 'test') {
  ensureTemporalCli();
  console.error('modelshift: type-checking (tsc --noEmit)…');
  const tsc = run(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit']);
  if (tsc !== 0) process.exit(tsc);
  process.exit(run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...rest]));
} else {
  console.error('usage: node scripts/bootstrap.js start|test [args…]');
  process.exit(2);
}
