/**
 * The production topology of docker-compose.yml, natively: up, status, down, and a service restarted
 * or stopped on its own (what tests and benchmarks do). `up` runs in compose's order — PostgreSQL →
 * schema → Temporal server → namespace and search attributes → UI, simulator, workers, routers — and
 * waits for each service's health before the next. The settings are kept in <stateDir>/stack.json so
 * `status` and `down` need no flags; `down` stops exactly what the supervisor started.
 */
import { createServer } from 'node:net';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureTemporalCli } from '../temporal/cli';
import { ensureStackBinaries, type StackBinaries } from './binaries';
import { defineService, ensureSupervisor, serviceAction, shutdownSupervisor, supervisorRunning, supervisorStatus } from './control';
import { initPostgres, postgresReady, postgresService, pgLayout } from './postgres';
import {
  logPath,
  routerHealthy,
  routerService,
  setupNamespace,
  setupSchema,
  simHealthy,
  simService,
  temporalHealthy,
  temporalService,
  uiHealthy,
  uiService,
  workerIdentity,
  workerPollers,
  workerService,
  type Log,
} from './services';
import { routerUrl, stackSettings, temporalAddress, uiUrl, type SettingsInput, type StackSettings } from './settings';
import { pidsPath, processStartTicks, type ServiceStatus, type SupervisorStatus } from './supervisor';

export interface ServiceReport extends ServiceStatus {
  healthy: boolean;
  url?: string;
}

export const settingsPath = (stateDir: string): string => join(stateDir, 'stack.json');

/** The settings the stack in `stateDir` was brought up with (undefined when none was). */
export function readStackSettings(stateDir: string): StackSettings | undefined {
  const p = settingsPath(stateDir);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as StackSettings) : undefined;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const srv = createServer();
    srv.once('error', () => resolvePort(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolvePort(true)));
  });
}

export function stackPorts(s: StackSettings): Array<[string, number]> {
  const out: Array<[string, number]> = Object.entries(s.ports).filter(([k]) => k !== 'router' && (k !== 'sim' || s.sim));
  for (let k = 1; k <= s.routers; k++) out.push([`router-${k}`, s.ports.router + k - 1]);
  return out;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, log?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} was not healthy within ${Math.round(timeoutMs / 1000)} s${log ? `; see ${log}` : ''}`);
}

export class Stack {
  private binaries?: StackBinaries;

  constructor(readonly settings: StackSettings) {}

  /** A stack from flags and the environment, or the one already brought up in that state folder. */
  static from(input: SettingsInput = {}, env: NodeJS.ProcessEnv = process.env): Stack {
    const fresh = stackSettings(input, env);
    return new Stack(readStackSettings(fresh.stateDir) ?? fresh);
  }

  get stateDir(): string {
    return this.settings.stateDir;
  }
  get address(): string {
    return temporalAddress(this.settings);
  }
  routerUrl(k: number): string {
    return routerUrl(this.settings, k);
  }
  get uiUrl(): string {
    return uiUrl(this.settings);
  }
  get gatewayUrl(): string {
    return this.settings.gatewayBaseUrl;
  }

  async isUp(): Promise<boolean> {
    if (!(await supervisorRunning(this.stateDir))) return false;
    return (await supervisorStatus(this.stateDir)).services.some((x) => x.state !== 'stopped');
  }

  async up(log: Log = (l) => console.error(l)): Promise<void> {
    const s = this.settings;
    if (await this.isUp()) {
      log(`modelshift stack: already up in ${s.stateDir} (\`modelshift stack status\`; \`modelshift stack down\` stops it)`);
      return;
    }
    const busy: string[] = [];
    for (const [name, port] of stackPorts(s)) if (!(await portFree(port))) busy.push(`${name} ${port}`);
    if (busy.length)
      throw new Error(`ports in use on 127.0.0.1: ${busy.join(', ')}; stop what holds them or move the stack with --port-offset`);
    const started = Date.now();
    this.binaries = await ensureStackBinaries(log);
    const cli = (await ensureTemporalCli(log)).path;
    if (!cli) throw new Error('no Temporal CLI binary for the namespace set-up (see src/temporal/cli.ts)');
    mkdirSync(join(s.stateDir, 'logs'), { recursive: true });
    writeFileSync(settingsPath(s.stateDir), JSON.stringify(s, null, 2));
    try {
      const pg = initPostgres(s, log);
      await ensureSupervisor(s.stateDir);
      await this.startService(postgresService(s, pg, logPath(s, 'postgresql')), () => postgresReady(s, pg), 60_000, log);
      await setupSchema(s, this.binaries, log);
      await this.startService(temporalService(s, this.binaries), () => temporalHealthy(s), 120_000, log);
      await setupNamespace(s, cli, log);
      await this.startRest(log);
    } catch (err) {
      log(`modelshift stack: up failed (${(err as Error).message.split('\n')[0]}); stopping what was started`);
      await this.down(() => undefined).catch(() => undefined);
      throw err;
    }
    log(`modelshift stack: up in ${Math.round((Date.now() - started) / 1000)} s`);
  }

  private async startRest(log: Log): Promise<void> {
    const s = this.settings;
    const b = this.binaries!;
    const checks: Array<Promise<void>> = [];
    const start = async (def: ReturnType<typeof workerService>, check: () => Promise<boolean>, timeoutMs: number) => {
      await defineService(s.stateDir, def);
      checks.push(waitFor(def.name, check, timeoutMs, def.log).then(() => log(`modelshift stack: ${def.name} healthy`)));
    };
    await start(uiService(s, b), () => uiHealthy(s), 60_000);
    if (s.sim) {
      await start(simService(s), () => simHealthy(s), 60_000);
      await checks.at(-1); // workers and routers check the gateway at start
    }
    for (let k = 1; k <= s.workers; k++) await start(workerService(s, k), () => this.workerHealthy(`worker-${k}`), 240_000);
    for (let k = 1; k <= s.routers; k++) await start(routerService(s, k), () => routerHealthy(s, k), 120_000);
    const results = await Promise.allSettled(checks);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  private async startService(def: ReturnType<typeof workerService>, check: () => Promise<boolean> | boolean, timeoutMs: number, log: Log) {
    await defineService(this.stateDir, def);
    await waitFor(def.name, check, timeoutMs, def.log);
    log(`modelshift stack: ${def.name} healthy`);
  }

  async workerHealthy(name: string): Promise<boolean> {
    const st = (await supervisorStatus(this.stateDir)).services.find((x) => x.name === name);
    if (!st?.pid || st.state !== 'running') return false;
    return (await workerPollers(this.settings)).has(workerIdentity(st.pid));
  }

  async health(name: string): Promise<boolean> {
    const s = this.settings;
    if (name === 'postgresql') return postgresReady(s, pgLayout(s));
    if (name === 'temporal') return temporalHealthy(s);
    if (name === 'temporal-ui') return uiHealthy(s);
    if (name === 'sim') return simHealthy(s);
    if (name.startsWith('worker-')) return this.workerHealthy(name);
    if (name.startsWith('router-')) return routerHealthy(s, Number(name.slice('router-'.length)));
    return false;
  }

  url(name: string): string | undefined {
    const s = this.settings;
    if (name === 'postgresql') return `postgresql://${s.postgresUser}@127.0.0.1:${s.ports.postgres}`;
    if (name === 'temporal') return this.address;
    if (name === 'temporal-ui') return this.uiUrl;
    if (name === 'sim') return s.gatewayBaseUrl;
    if (name.startsWith('router-')) return this.routerUrl(Number(name.slice('router-'.length)));
    return undefined;
  }

  async status(): Promise<ServiceReport[]> {
    if (!(await supervisorRunning(this.stateDir))) return [];
    const st = await supervisorStatus(this.stateDir);
    return Promise.all(
      st.services.map(async (x) => ({ ...x, healthy: x.state === 'running' && (await this.health(x.name)), url: this.url(x.name) })),
    );
  }

  async service(name: string): Promise<ServiceStatus> {
    const st = (await supervisorStatus(this.stateDir)).services.find((x) => x.name === name);
    if (!st) throw new Error(`no service ${name} in the stack`);
    return st;
  }

  /** Stop one service and start it again, then wait for its health. */
  async restart(name: string, timeoutMs = 180_000): Promise<void> {
    await serviceAction(this.stateDir, name, 'restart');
    await waitFor(name, () => this.health(name), timeoutMs, logPath(this.settings, name));
  }

  async stop(name: string): Promise<void> {
    await serviceAction(this.stateDir, name, 'stop');
  }

  async start(name: string, timeoutMs = 180_000): Promise<void> {
    await serviceAction(this.stateDir, name, 'start');
    await waitFor(name, () => this.health(name), timeoutMs, logPath(this.settings, name));
  }

  /** Wait until a service is healthy again (after a kill, the supervisor restarts it). */
  waitHealthy(name: string, timeoutMs = 180_000): Promise<void> {
    return waitFor(name, () => this.health(name), timeoutMs, logPath(this.settings, name));
  }

  /** Stop everything the supervisor started, newest first; returns the PIDs stopped. */
  async down(log: Log = (l) => console.error(l)): Promise<number[]> {
    const dir = this.stateDir;
    const recorded = existsSync(pidsPath(dir)) ? (JSON.parse(readFileSync(pidsPath(dir), 'utf8')) as SupervisorStatus) : undefined;
    const pids = (recorded?.services ?? []).filter((x) => x.pid).map((x) => x.pid as number);
    if (await supervisorRunning(dir)) {
      await shutdownSupervisor(dir);
      const supPid = recorded?.pid;
      for (let i = 0; supPid && i < 100 && processStartTicks(supPid); i++) await new Promise((r) => setTimeout(r, 100));
    } else if (recorded) {
      // No supervisor (killed?): stop the processes it recorded, if they are still those processes.
      for (const x of recorded.services) {
        if (!x.pid || processStartTicks(x.pid) !== x.startTicks) continue;
        log(`modelshift stack: stopping ${x.name} (pid ${x.pid}) without its supervisor`);
        try {
          process.kill(-x.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    rmSync(pidsPath(dir), { force: true });
    rmSync(settingsPath(dir), { force: true });
    if (pids.length) log(`modelshift stack: down (stopped ${pids.length} processes: ${pids.join(', ')})`);
    else log('modelshift stack: nothing was running');
    return pids;
  }
}
