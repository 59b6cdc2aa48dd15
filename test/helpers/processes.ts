/** Commands as a user runs them: `modelshift …` (bin/modelshift.js) and the resolved `temporal` CLI, as real processes. */
import { spawn } from 'node:child_process';
import { findTemporalCli } from '../../src/temporal/cli';

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `modelshift <args>` to completion (bounded by `timeoutMs`). */
export function modelshift(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<Ran> {
  return run(process.execPath, ['bin/modelshift.js', ...args], { ...process.env, MODELSHIFT_LOG_LEVEL: 'ERROR', ...env }, timeoutMs);
}

/**
 * Run the official `temporal` CLI (the one the project resolves) against `address`. Asynchronous: a test
 * worker in this process must keep running while the CLI waits for it (an update, a query).
 */
export function temporal(address: string, args: string[], timeoutMs = 60_000): Promise<Ran> {
  const path = findTemporalCli()?.path;
  if (!path) throw new Error('no temporal CLI binary resolved');
  return run(path, [...args, '--address', address, '--namespace', 'default'], process.env, timeoutMs);
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
