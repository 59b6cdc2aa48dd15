/**
 * `modelshift stack up|down|status|restart`: docker-compose.yml's topology, run natively on this machine
 * (PostgreSQL, the Temporal server with SQL visibility, the UI server, the simulator, N workers, M routers).
 */
import type { Command } from 'commander';
import { loadDotEnv } from '../config';
import { BadInput } from '../errors';
import { action } from '../cli/exit';
import { parseInteger } from '../cli/flags';
import { Stack } from './stack';

interface UpFlags {
  workers?: string;
  routers?: string;
  stateDir?: string;
  portOffset?: string;
  sim?: boolean;
}

function stackFrom(o: UpFlags): Stack {
  loadDotEnv();
  return Stack.from({
    stateDir: o.stateDir,
    workers: parseInteger('--workers', o.workers, 1, 64),
    routers: parseInteger('--routers', o.routers, 1, 64),
    portOffset: parseInteger('--port-offset', o.portOffset, 0, 50_000),
    sim: o.sim === false ? false : undefined,
  });
}

function printStatus(rows: Awaited<ReturnType<Stack['status']>>, stack: Stack): void {
  if (rows.length === 0) {
    process.stdout.write(`no stack is running in ${stack.stateDir}\n`);
    return;
  }
  const lines = rows.map((r) =>
    [r.name, r.pid ?? '-', r.state, r.healthy ? 'healthy' : 'unhealthy', r.restarts, r.url ?? '', r.log].map(String),
  );
  const head = ['service', 'pid', 'state', 'health', 'restarts', 'address', 'log'];
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  for (const l of [head, ...lines]) process.stdout.write(`${l.map((c, i) => c.padEnd(widths[i])).join('  ')}\n`);
}

export function registerStackCommand(program: Command): void {
  const stack = program
    .command('stack')
    .description("docker-compose.yml's services natively: PostgreSQL, Temporal server + UI, simulator, workers, routers");
  const withState = (c: Command) =>
    c.option('--state-dir <dir>', 'where the stack keeps its data, logs and PIDs (default .modelshift/stack)');

  withState(
    stack
      .command('up')
      .description('bring the stack up (builds the official Temporal binaries into ~/.cache/modelshift the first time)')
      .option('--workers <n>', 'workers (default WORKER_REPLICAS or 1)')
      .option('--routers <n>', 'routers, on ports 4000, 4001, … (default 1)')
      .option('--port-offset <n>', 'add this to every port (PostgreSQL 5432, Temporal 7233, UI 8080, routers 4000, sim 8787)')
      .option('--no-sim', 'no simulator: use GATEWAY_BASE_URL'),
  ).action(
    action(async (o: UpFlags) => {
      const s = stackFrom(o);
      if (!s.settings.sim && !process.env.GATEWAY_BASE_URL)
        throw new BadInput('--no-sim: set GATEWAY_BASE_URL (and GATEWAY_API_KEY) to your gateway');
      await s.up();
      printStatus(await s.status(), s);
      process.stdout.write(
        `\nTEMPORAL_ADDRESS=${s.address}  Web UI ${s.uiUrl}  routers ${[...Array(s.settings.routers)].map((_, i) => s.routerUrl(i + 1)).join(' ')}\n`,
      );
    }),
  );

  withState(
    stack.command('status').description('each service: pid, state, health, restarts, address, log').option('--json', 'as JSON'),
  ).action(
    action(async (o: UpFlags & { json?: boolean }) => {
      const s = stackFrom(o);
      const rows = await s.status();
      if (o.json) process.stdout.write(`${JSON.stringify({ stateDir: s.stateDir, services: rows }, null, 2)}\n`);
      else printStatus(rows, s);
      if (rows.length === 0 || rows.some((r) => !r.healthy)) process.exitCode = 1;
    }),
  );

  withState(stack.command('down').description('stop exactly what `stack up` started (data is kept)')).action(
    action(async (o: UpFlags) => {
      await stackFrom(o).down((l) => process.stdout.write(`${l}\n`));
    }),
  );

  withState(
    stack.command('restart <service>').description('restart one service (postgresql, temporal, temporal-ui, sim, worker-k, router-k)'),
  ).action(
    action(async (name: string, o: UpFlags) => {
      const s = stackFrom(o);
      await s.restart(name);
      process.stdout.write(`${name} restarted and healthy\n`);
    }),
  );
}
