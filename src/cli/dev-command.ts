/** `modelshift dev` (the local Temporal dev server in the foreground) and `modelshift worker`. */
import type { Command } from 'commander';
import { join } from 'node:path';
import { loadConfig, loadDotEnv } from '../config';
import { startDevServer } from '../temporal/devserver';
import { runWorker } from '../worker';
import { loadCatalog } from '../catalog/load';
import { action, untilStopped } from './exit';
import { parseInteger } from './flags';

export function registerDevCommands(program: Command): void {
  program
    .command('dev')
    .description('run the local Temporal dev server (SQLite in the state folder, Web UI) in the foreground until Ctrl-C')
    .option('--port <n>', 'frontend port (default TEMPORAL_PORT or 7233)')
    .option('--ui-port <n>', 'Web UI port (default TEMPORAL_UI_PORT or 8233)')
    .option('--ephemeral', 'keep nothing on disk (default: rollouts survive a restart)')
    .action(
      action(async (opts: { port?: string; uiPort?: string; ephemeral?: boolean }) => {
        loadDotEnv();
        const config = loadConfig();
        const port = parseInteger('--port', opts.port, 1, 65535) ?? config.temporal.devPort;
        const uiPort = parseInteger('--ui-port', opts.uiPort, 1, 65535) ?? config.temporal.uiPort;
        const server = await startDevServer({
          port,
          uiPort,
          namespace: config.temporal.namespace,
          dbFilename: opts.ephemeral ? undefined : join(config.stateDir, 'temporal.sqlite'),
        });
        process.stdout.write(
          `Temporal dev server on ${server.address} (namespace ${server.namespace})\nWeb UI: ${server.uiUrl}\nCtrl-C to stop.\n`,
        );
        await untilStopped();
        await server.stop();
        process.stdout.write('stopped\n');
      }),
    );

  program
    .command('worker')
    .description('run a worker: rollout and experiment workflows and their gateway calls (keys from this environment)')
    .action(
      action(async () => {
        loadDotEnv();
        const config = loadConfig();
        // A bad price catalog is bad input at start-up, not a surprise in the first sample batch.
        loadCatalog(process.env.MODELSHIFT_CATALOG || undefined);
        if (!config.gateway.baseURL) {
          process.stderr.write(
            'modelshift worker: GATEWAY_BASE_URL is not set; arms without their own baseURL will fail preflight (set it, or use npm start for the simulator)\n',
          );
        }
        await runWorker(config);
      }),
    );
}
