/**
 * Finds a `temporal` CLI binary, in this order:
 *   TEMPORAL_CLI_PATH → `temporal` on PATH → the user cache (outside the clone) →
 *   build the official CLI from the Go module proxy into that cache → the SDK's own download.
 * The SDK's download needs temporal.download, which is unreachable on some networks; the Go build
 * needs only the Go module proxy. Nothing here is ever written inside the repository.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export type CliSource = 'env' | 'path' | 'cache' | 'go-build' | 'sdk-download';
export interface ResolvedCli {
  source: CliSource;
  executable: EphemeralServerExecutable;
  /** Path when known (every source but sdk-download). */
  path?: string;
}

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(base, 'modelshift', `temporal-cli-${TEMPORAL_CLI_VERSION}`);
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/** Resolve without building or downloading. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): ResolvedCli | undefined {
  const fromEnv = env.TEMPORAL_CLI_PATH?.trim();
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new Error(`TEMPORAL_CLI_PATH: ${fromEnv} is not an executable file; point it at a temporal CLI binary or unset it`);
    }
    return { source: 'env', path: fromEnv, executable: { type: 'existing-path', path: fromEnv } };
  }
  const fromPath = onPath('temporal', env);
  if (fromPath) return { source: 'path', path: fromPath, executable: { type: 'existing-path', path: fromPath } };
  const cached = join(cacheDir(env), 'temporal');
  if (isExecutable(cached)) return { source: 'cache', path: cached, executable: { type: 'existing-path', path: cached } };
  return undefined;
}

type Log = (line: string) => void;

/** Build the official CLI with `go install` into the cache, printing progress while it runs. */
export async function buildTemporalCli(log: Log, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const go = onPath('go', env);
  if (!go) {
    log('modelshift: Go is not installed, so the Temporal CLI cannot be built from source here.');
    return undefined;
  }
  const dir = cacheDir(env);
  mkdirSync(dir, { recursive: true });
  log(`modelshift: building the Temporal CLI ${TEMPORAL_CLI_VERSION} from the Go module proxy into ${dir}`);
  log('modelshift: the first build takes a few minutes (about 160 s on 2 cores); later runs reuse it.');
  const started = Date.now();
  const code = await new Promise<number>((resolveCode) => {
    const child = spawn(go, ['install', '-v', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], {
      env: { ...env, GOBIN: dir, GOFLAGS: env.GOFLAGS ?? '-mod=mod' },
      cwd: dir, // outside any Go module, so `go install pkg@version` is used as intended
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let packages = 0;
    let lastLine = '';
    const onData = (buf: Buffer) => {
      for (const line of buf.toString().split('\n')) {
        if (!line.trim()) continue;
        lastLine = line.trim();
        if (!line.startsWith('go: downloading')) packages++;
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setInterval(() => {
      const s = Math.round((Date.now() - started) / 1000);
      log(`modelshift:   … ${s}s, ${packages} packages compiled (${lastLine.slice(0, 80)})`);
    }, 10_000);
    child.on('close', (c) => {
      clearInterval(timer);
      resolveCode(c ?? 1);
    });
    child.on('error', () => {
      clearInterval(timer);
      resolveCode(1);
    });
  });
  const bin = join(dir, 'temporal');
  if (code === 0 && existsSync(bin)) {
    log(`modelshift: Temporal CLI ready in ${Math.round((Date.now() - started) / 1000)}s: ${bin}`);
    return bin;
  }
  log(`modelshift: go install failed (exit ${code}); falling back to the SDK's download.`);
  return undefined;
}

/**
 * Resolve a Temporal CLI, building it when needed. Falls back to the SDK's cached download
 * (works where temporal.download is reachable).
 */
export async function ensureTemporalCli(log: Log = (l) => console.error(l), env: NodeJS.ProcessEnv = process.env): Promise<ResolvedCli> {
  const found = findTemporalCli(env);
  if (found) return found;
  const built = await buildTemporalCli(log, env);
  if (built) return { source: 'go-build', path: built, executable: { type: 'existing-path', path: built } };
  return { source: 'sdk-download', executable: { type: 'cached-download', downloadDir: cacheDir(env) } };
}
