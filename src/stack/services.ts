/**
 * The stack's services as the supervisor runs them, the one-shots compose runs between them
 * (temporal-schema, temporal-setup), and each service's health check.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import type { StackBinaries } from './binaries';
import { REPO_ROOT } from './control';
import type { ServiceDef } from './supervisor';
import {
  modelshiftEnv,
  routerArgs,
  routerEnv,
  routerUrl,
  schemaEnv,
  SEARCH_ATTRIBUTES,
  setupEnv,
  simArgs,
  temporalAddress,
  temporalServerEnv,
  uiEnv,
  uiUrl,
  TEMPORAL_SERVER_VERSION,
  type StackSettings,
} from './settings';

export type Log = (line: string) => void;

export const logPath = (s: StackSettings, name: string): string => join(s.stateDir, 'logs', `${name}.log`);

/** What every process gets besides its own environment (compose's containers get no host environment). */
function baseEnv(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'TMPDIR', 'TZ', 'XDG_CACHE_HOME'];
  return Object.fromEntries(keep.filter((k) => process.env[k]).map((k) => [k, process.env[k] as string]));
}

const BIN = join(REPO_ROOT, 'bin', 'modelshift.js');

function node(s: StackSettings, name: string, args: string[], env: Record<string, string>): ServiceDef {
  return { name, command: process.execPath, args: [BIN, ...args], env: { ...baseEnv(), ...env }, cwd: REPO_ROOT, log: logPath(s, name) };
}

/**
 * The image's config_template.yaml made one the server renders itself: the image renders it with
 * dockerize, whose `.Env.NAME` is sprig's `env "NAME"` in the server's own template loader (enabled by
 * the `enable-template` comment), and whose `default VALUE FALLBACK` is sprig's `default FALLBACK VALUE`.
 * Same file, same defaults, same variables.
 */
export function serverConfigFromTemplate(template: string): string {
  const body = template
    .replace(/default \.Env\.([A-Z0-9_]+) ("[^"]*"|\$[A-Za-z_]+)/g, 'default $2 (env "$1")') // dockerize: default VALUE FALLBACK
    .replace(/\.Env\.([A-Z0-9_]+)/g, '(env "$1")');
  return `# enable-template: temporalio/server ${TEMPORAL_SERVER_VERSION}'s docker/config_template.yaml, .Env.X as (env "X")\n${body}`;
}

/** The server's config: the official image's template, which the server renders from its environment. */
export function writeServerConfig(s: StackSettings, b: StackBinaries): string {
  const root = join(s.stateDir, 'temporal');
  mkdirSync(join(root, 'config'), { recursive: true });
  mkdirSync(join(root, 'dynamicconfig'), { recursive: true });
  writeFileSync(join(root, 'config', 'docker.yaml'), serverConfigFromTemplate(readFileSync(b.serverConfigTemplate, 'utf8')));
  writeFileSync(join(root, 'dynamicconfig', 'docker.yaml'), readFileSync(b.serverDynamicConfig, 'utf8'));
  return root;
}

export function temporalService(s: StackSettings, b: StackBinaries): ServiceDef {
  const root = writeServerConfig(s, b);
  return {
    name: 'temporal',
    command: b.server,
    args: ['--root', root, '--config', 'config', '--env', 'docker', 'start'],
    env: { ...baseEnv(), ...temporalServerEnv(s) },
    cwd: root,
    log: logPath(s, 'temporal'),
    stopTimeoutMs: 30_000,
  };
}

export function uiService(s: StackSettings, b: StackBinaries): ServiceDef {
  const root = join(s.stateDir, 'ui');
  mkdirSync(join(root, 'config'), { recursive: true });
  // The image's config as it is; natively it binds to loopback (compose publishes 127.0.0.1:8080).
  writeFileSync(join(root, 'config', 'docker.yaml'), `${readFileSync(b.uiConfigTemplate, 'utf8')}\nhost: 127.0.0.1\n`);
  return {
    name: 'temporal-ui',
    command: b.uiServer,
    args: ['--root', root, '--config', 'config', '--env', 'docker', 'start'],
    env: { ...baseEnv(), ...uiEnv(s) },
    cwd: root,
    log: logPath(s, 'temporal-ui'),
  };
}

export const simService = (s: StackSettings): ServiceDef => node(s, 'sim', simArgs(s), {});
export const workerService = (s: StackSettings, k: number): ServiceDef => ({
  ...node(s, `worker-${k}`, ['worker'], modelshiftEnv(s)),
  stopTimeoutMs: 20_000, // the worker's own shutdown grace is 10 s
});
export const routerService = (s: StackSettings, k: number): ServiceDef => node(s, `router-${k}`, routerArgs(s, k), routerEnv(s));

interface Ran {
  code: number;
  out: string;
}

function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<Ran> {
  return new Promise((resolveRun) => {
    const child = spawn(cmd, args, { env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolveRun({ code: -1, out: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? -1, out });
    });
  });
}

/** compose's `temporal-schema`: both databases, created if missing, brought to this server's schema. */
export async function setupSchema(s: StackSettings, b: StackBinaries, log: Log): Promise<void> {
  const env = schemaEnv(s);
  for (const db of ['temporal', 'temporal_visibility']) {
    const dir = db === 'temporal_visibility' ? 'visibility' : 'temporal';
    const created = await run(b.sqlTool, ['--db', db, 'create-database'], env);
    if (created.code !== 0) log(`modelshift stack: database ${db} exists`);
    const setup = await run(b.sqlTool, ['--db', db, 'setup-schema', '-v', '0.0'], env);
    if (setup.code !== 0) log(`modelshift stack: schema of ${db} already set up`);
    const update = await run(b.sqlTool, ['--db', db, 'update-schema', '-d', join(b.schemaDir, dir, 'versioned')], env);
    if (update.code !== 0)
      throw new Error(`temporal-sql-tool update-schema of ${db} failed:\n${update.out.trim().split('\n').slice(-5).join('\n')}`);
  }
  log('modelshift stack: schemas of temporal and temporal_visibility are up to date');
}

/** compose's `temporal-setup`: the namespace and the rollout search attributes, with the Temporal CLI. */
export async function setupNamespace(s: StackSettings, cli: string, log: Log): Promise<void> {
  const { TEMPORAL_ADDRESS: address, NAMESPACE: ns, RETENTION: retention } = setupEnv(s);
  const t = (args: string[]) => run(cli, [...args, '--address', address], {}, 60_000);
  const deadline = Date.now() + 120_000;
  // The server answers health before its namespace registry is ready: retry like compose's restart: on-failure.
  for (let attempt = 1; ; attempt++) {
    try {
      if ((await t(['operator', 'namespace', 'describe', '--namespace', ns])).code !== 0) {
        const c = await t(['operator', 'namespace', 'create', '--namespace', ns, '--retention', retention]);
        if (c.code !== 0 && !/already/i.test(c.out)) throw new Error(`namespace create: ${c.out.trim()}`);
        log(`modelshift stack: namespace ${ns} created (retention ${retention})`);
      }
      const list = await t(['operator', 'search-attribute', 'list', '--namespace', ns]);
      if (list.code !== 0) throw new Error(`search-attribute list: ${list.out.trim()}`);
      for (const sa of SEARCH_ATTRIBUTES) {
        if (new RegExp(`\\b${sa.name}\\b`).test(list.out)) continue;
        const c = await t(['operator', 'search-attribute', 'create', '--namespace', ns, '--name', sa.name, '--type', sa.type]);
        if (c.code !== 0 && !/already/i.test(c.out)) throw new Error(`search-attribute create ${sa.name}: ${c.out.trim()}`);
        log(`modelshift stack: search attribute ${sa.name} (${sa.type}) registered`);
      }
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      if (attempt % 5 === 0) log(`modelshift stack: namespace set-up retrying (${(err as Error).message.split('\n')[0]})`);
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false;
  }
}

/** compose's health check for the server: the frontend answers SERVING. */
export async function temporalHealthy(s: StackSettings): Promise<boolean> {
  let c: Connection | undefined;
  try {
    c = await Connection.connect({ address: temporalAddress(s), connectTimeout: 2_000 });
    const r = await c.healthService.check({ service: 'temporal.api.workflowservice.v1.WorkflowService' });
    return r.status === 1; // SERVING
  } catch {
    return false;
  } finally {
    await c?.close().catch(() => undefined);
  }
}

/** A worker is healthy when the server sees it (pid@host) polling both the workflow and the activity queue. */
export async function workerPollers(s: StackSettings): Promise<Set<string>> {
  let c: Connection | undefined;
  try {
    c = await Connection.connect({ address: temporalAddress(s), connectTimeout: 2_000 });
    const byType = await Promise.all(
      [1, 2].map((taskQueueType) =>
        c!.workflowService.describeTaskQueue({ namespace: s.namespace, taskQueue: { name: s.taskQueue, kind: 1 }, taskQueueType }),
      ),
    );
    const [wf, act] = byType.map((r) => new Set((r.pollers ?? []).map((p) => p.identity ?? '')));
    return new Set([...wf].filter((id) => act.has(id)));
  } catch {
    return new Set();
  } finally {
    await c?.close().catch(() => undefined);
  }
}

export const workerIdentity = (pid: number): string => `${pid}@${hostname()}`;
export const uiHealthy = (s: StackSettings): Promise<boolean> => httpOk(`${uiUrl(s)}/healthz`);
export const simHealthy = (s: StackSettings): Promise<boolean> => httpOk(`http://127.0.0.1:${s.ports.sim}/healthz`);
export const routerHealthy = (s: StackSettings, k: number): Promise<boolean> => httpOk(`${routerUrl(s, k)}/readyz`);
