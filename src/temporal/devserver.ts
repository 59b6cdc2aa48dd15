/**
 * The embedded local Temporal dev server (`temporal server start-dev`: server + SQLite + Web UI),
 * started from the resolved CLI binary with the rollout search attributes registered.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureTemporalCli } from './cli';
import { ROLLOUT_SEARCH_ATTRIBUTES } from '../rollout/contract';

export interface DevServerOptions {
  /** Frontend port; 0 or undefined → a free port. */
  port?: number;
  /** Web UI port; undefined → no UI. */
  uiPort?: number;
  ip?: string;
  namespace?: string;
  /** SQLite file so rollouts survive a restart of the server; undefined → in memory. */
  dbFilename?: string;
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl?: string;
  env: TestWorkflowEnvironment;
  stop(): Promise<void>;
}

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const cli = await ensureTemporalCli(log);
  if (opts.dbFilename) mkdirSync(join(opts.dbFilename, '..'), { recursive: true });
  const namespace = opts.namespace ?? 'default';
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: cli.executable,
      ip: opts.ip ?? '127.0.0.1',
      port: opts.port || undefined,
      ui: opts.uiPort !== undefined,
      uiPort: opts.uiPort,
      dbFilename: opts.dbFilename,
      namespace,
      searchAttributes: ROLLOUT_SEARCH_ATTRIBUTES,
      log: { format: 'pretty', level: 'error' },
    },
  });
  const address = env.address;
  let stopped = false;
  return {
    address,
    namespace,
    uiUrl: opts.uiPort !== undefined ? `http://localhost:${opts.uiPort}` : undefined,
    env,
    async stop() {
      if (stopped) return;
      stopped = true;
      await env.teardown();
    },
  };
}
