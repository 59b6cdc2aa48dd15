/** Talking to a stack's supervisor over its Unix socket; starting one when there is none. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { socketPath, type ServiceDef, type ServiceStatus, type SupervisorStatus } from './supervisor';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SUPERVISOR = fileURLToPath(new URL('./supervisor.ts', import.meta.url));

export class SupervisorUnreachable extends Error {
  override name = 'SupervisorUnreachable';
}

export function call<T>(stateDir: string, method: string, path: string, body?: unknown, timeoutMs = 120_000): Promise<T> {
  return new Promise((resolveCall, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { socketPath: socketPath(stateDir), method, path, headers: text ? { 'content-type': 'application/json' } : {}, timeout: timeoutMs },
      (res) => {
        let out = '';
        res.on('data', (d) => (out += d));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(out);
          } catch {
            return reject(new Error(`supervisor: unreadable answer to ${method} ${path}: ${out.slice(0, 200)}`));
          }
          if ((res.statusCode ?? 500) >= 300)
            return reject(new Error(`supervisor: ${(parsed as { error?: string }).error ?? res.statusCode}`));
          resolveCall(parsed as T);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`supervisor: no answer to ${method} ${path} within ${timeoutMs} ms`)));
    req.on('error', (err) =>
      reject(err.message.startsWith('supervisor:') ? err : new SupervisorUnreachable(`supervisor unreachable: ${err.message}`)),
    );
    req.end(text);
  });
}

export const supervisorStatus = (stateDir: string, timeoutMs = 5_000): Promise<SupervisorStatus> =>
  call(stateDir, 'GET', '/status', undefined, timeoutMs);

export async function supervisorRunning(stateDir: string): Promise<boolean> {
  if (!existsSync(socketPath(stateDir))) return false;
  return supervisorStatus(stateDir).then(
    () => true,
    () => false,
  );
}

/** Reuse the stack's supervisor, or start one (detached: it outlives this command). */
export async function ensureSupervisor(stateDir: string): Promise<void> {
  if (await supervisorRunning(stateDir)) return;
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  const fd = openSync(join(stateDir, 'logs', 'supervisor.log'), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', SUPERVISOR, stateDir], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: process.env,
  });
  closeSync(fd);
  child.unref();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await supervisorRunning(stateDir)) return;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the stack's supervisor did not start; see ${join(stateDir, 'logs', 'supervisor.log')}`);
}

export const defineService = (stateDir: string, def: ServiceDef): Promise<ServiceStatus> =>
  call(stateDir, 'PUT', `/services/${def.name}`, def);
export const serviceAction = (stateDir: string, name: string, action: 'stop' | 'start' | 'restart'): Promise<ServiceStatus> =>
  call(stateDir, 'POST', `/services/${name}/${action}`, undefined, 120_000);
export const shutdownSupervisor = (stateDir: string): Promise<SupervisorStatus> => call(stateDir, 'POST', '/shutdown', undefined, 180_000);
