/**
 * The stack's supervisor: one detached process per stack (`node --import tsx src/stack/supervisor.ts
 * <stateDir>`) that starts each service it is given, each in its own process group with its own log
 * file, restarts it when it exits unasked (compose's `restart: unless-stopped`), and stops exactly what
 * it started. It answers on a Unix socket in the state folder (HTTP, JSON):
 *
 *   GET  /status                    every service: pid, state, restarts, exit code, log
 *   PUT  /services/<name>           define a service (body: ServiceDef) and start it
 *   POST /services/<name>/stop      stop it (no restart), waits until it has exited
 *   POST /services/<name>/start     start it again
 *   POST /services/<name>/restart   stop, then start
 *   POST /shutdown                  stop every service, newest first, then exit
 *
 * Every change is written to <stateDir>/pids.json, so `stack down` can still stop the recorded
 * processes (checked by their start time, never a reused PID) when the supervisor itself is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';

export interface ServiceDef {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  log: string;
  /** run as this user (PostgreSQL refuses root) */
  uid?: number;
  gid?: number;
  /** default SIGTERM; PostgreSQL's fast shutdown is SIGINT */
  stopSignal?: NodeJS.Signals;
  /** then SIGKILL to the whole process group (default 15 s) */
  stopTimeoutMs?: number;
}

export type ServiceState = 'running' | 'stopping' | 'stopped' | 'restarting';

export interface ServiceStatus {
  name: string;
  pid?: number;
  /** /proc/<pid>/stat start time, to tell this process from a later one with the same PID */
  startTicks?: string;
  state: ServiceState;
  restarts: number;
  lastExit?: { code: number | null; signal: string | null; at: string };
  log: string;
}

export interface SupervisorStatus {
  pid: number;
  services: ServiceStatus[];
}

export const socketPath = (stateDir: string): string => join(stateDir, 'supervisor.sock');
export const pidsPath = (stateDir: string): string => join(stateDir, 'pids.json');

/** The start time of a process from /proc (field 22), or undefined when it is gone. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

interface Entry {
  def: ServiceDef;
  child?: ChildProcess;
  status: ServiceStatus;
  wanted: boolean;
  exited?: Promise<void>;
  restartTimer?: NodeJS.Timeout;
  recentStarts: number[];
}

class Supervisor {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly stateDir: string) {}

  private persist(): void {
    const s: SupervisorStatus = this.status();
    writeFileSync(pidsPath(this.stateDir), JSON.stringify(s, null, 2));
  }

  status(): SupervisorStatus {
    return { pid: process.pid, services: [...this.entries.values()].map((e) => ({ ...e.status })) };
  }

  define(def: ServiceDef): ServiceStatus {
    const existing = this.entries.get(def.name);
    if (existing?.child) throw new Error(`${def.name} is already running (pid ${existing.status.pid})`);
    const e: Entry = existing ?? {
      def,
      status: { name: def.name, state: 'stopped', restarts: 0, log: def.log },
      wanted: false,
      recentStarts: [],
    };
    e.def = def;
    e.status.log = def.log;
    this.entries.set(def.name, e);
    return this.start(def.name);
  }

  start(name: string): ServiceStatus {
    const e = this.entry(name);
    e.wanted = true;
    if (!e.child) this.spawn(e);
    return { ...e.status };
  }

  private spawn(e: Entry): void {
    clearTimeout(e.restartTimer);
    mkdirSync(dirname(e.def.log), { recursive: true });
    const fd = openSync(e.def.log, 'a');
    writeFileSync(fd, `\n== ${new Date().toISOString()} supervisor: starting ${e.def.name}: ${e.def.command} ${e.def.args.join(' ')}\n`);
    const child = spawn(e.def.command, e.def.args, {
      cwd: e.def.cwd,
      env: e.def.env,
      uid: e.def.uid,
      gid: e.def.gid,
      detached: true, // its own process group: a stop reaches everything it started
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    e.child = child;
    e.recentStarts = [...e.recentStarts.filter((t) => Date.now() - t < 60_000), Date.now()];
    e.status = { ...e.status, pid: child.pid, startTicks: child.pid ? processStartTicks(child.pid) : undefined, state: 'running' };
    e.exited = new Promise((resolveExit) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (e.child !== child) return resolveExit();
        e.child = undefined;
        e.status = { ...e.status, pid: undefined, startTicks: undefined, lastExit: { code, signal, at: new Date().toISOString() } };
        if (e.wanted) {
          // compose's `restart: unless-stopped`, with a back-off when it keeps failing
          const delay = Math.min(10_000, 500 * 2 ** Math.max(0, e.recentStarts.length - 1));
          e.status.state = 'restarting';
          e.status.restarts++;
          e.restartTimer = setTimeout(() => e.wanted && !e.child && this.spawn(e), delay);
        } else e.status.state = 'stopped';
        this.persist();
        resolveExit();
      };
      child.once('exit', done);
      child.once('error', (err) => {
        writeFileSync(e.def.log, `supervisor: could not start ${e.def.name}: ${err.message}\n`, { flag: 'a' });
        done(null, null);
      });
    });
    this.persist();
  }

  async stop(name: string): Promise<ServiceStatus> {
    const e = this.entry(name);
    e.wanted = false;
    clearTimeout(e.restartTimer);
    const child = e.child;
    if (child?.pid) {
      e.status.state = 'stopping';
      this.persist();
      const pid = child.pid;
      try {
        process.kill(pid, e.def.stopSignal ?? 'SIGTERM');
      } catch {
        /* already gone */
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, e.def.stopTimeoutMs ?? 15_000);
      await e.exited;
      clearTimeout(timer);
      // Anything it left in its process group goes with it.
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* none left */
      }
    }
    e.status.state = 'stopped';
    this.persist();
    return { ...e.status };
  }

  async restart(name: string): Promise<ServiceStatus> {
    await this.stop(name);
    return this.start(name);
  }

  async shutdown(): Promise<void> {
    for (const name of [...this.entries.keys()].reverse()) await this.stop(name);
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new Error(`no service ${name}`);
    return e;
  }
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolveBody, reject) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      try {
        resolveBody(text ? JSON.parse(text) : undefined);
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export async function runSupervisor(stateDir: string): Promise<void> {
  const sup = new Supervisor(stateDir);
  const sock = socketPath(stateDir);
  rmSync(sock, { force: true });
  let shuttingDown = false;
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const m = /^\/services\/([A-Za-z0-9_.-]+)(?:\/(stop|start|restart))?$/.exec(url);
    void (async () => {
      try {
        if (req.method === 'GET' && url === '/status') return reply(res, 200, sup.status());
        if (req.method === 'POST' && url === '/shutdown') {
          shuttingDown = true;
          await sup.shutdown();
          reply(res, 200, sup.status());
          server.close();
          rmSync(sock, { force: true });
          setTimeout(() => process.exit(0), 50);
          return;
        }
        if (m && shuttingDown) return reply(res, 409, { error: 'the stack is shutting down' });
        if (m && req.method === 'PUT' && !m[2]) return reply(res, 200, sup.define((await readBody(req)) as ServiceDef));
        if (m && req.method === 'POST' && m[2] === 'stop') return reply(res, 200, await sup.stop(m[1]));
        if (m && req.method === 'POST' && m[2] === 'start') return reply(res, 200, sup.start(m[1]));
        if (m && req.method === 'POST' && m[2] === 'restart') return reply(res, 200, await sup.restart(m[1]));
        reply(res, 404, { error: `unknown request ${req.method} ${url}` });
      } catch (err) {
        reply(res, 400, { error: (err as Error).message });
      }
    })();
  });
  await new Promise<void>((resolveListen) => server.listen(sock, resolveListen));
  writeFileSync(join(stateDir, 'supervisor.pid'), `${process.pid}\n`);
  const onSignal = () => {
    if (shuttingDown) return;
    shuttingDown = true;
    void sup.shutdown().finally(() => {
      rmSync(sock, { force: true });
      process.exit(0);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => undefined); // detached: a closed terminal is no reason to stop
}

if (process.argv[1] && /supervisor\.ts$/.test(process.argv[1])) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node --import tsx src/stack/supervisor.ts <stateDir>');
    process.exit(2);
  }
  await runSupervisor(dir);
}
