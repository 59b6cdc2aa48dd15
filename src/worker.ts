/**
 * The worker: runs rollout and experiment workflows and their activities. Connects from configuration
 * (TEMPORAL_ADDRESS / namespace / task queue / API key or mTLS), so a team scales out by running more
 * of these against its own cluster. Gateway keys live only in this process's environment.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import * as activities from './activities';
import type { Config } from './config';
import { UpstreamPolicy } from './gateway/policy';
import { connectWorker } from './temporal/connect';

export const WORKFLOWS_PATH = fileURLToPath(new URL('./workflows.ts', import.meta.url));

export interface WorkerParams {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** A pre-built bundle (tests build one and share it); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  maxConcurrentActivityTaskExecutions?: number;
}

/**
 * The worker's own upstream policy (GATEWAY_BASE_URL, WORKER_KEY_ENVS, WORKER_ALLOWED_ORIGINS), checked
 * before it polls: a bad value is one line and exit 2 at start-up, not a refusal in every rollout's preflight.
 */
export function checkWorkerEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  UpstreamPolicy.forWorker(env);
}

export async function createWorker(p: WorkerParams): Promise<Worker> {
  checkWorkerEnvironment();
  return Worker.create({
    connection: p.connection,
    namespace: p.namespace,
    taskQueue: p.taskQueue,
    ...(p.workflowBundle ? { workflowBundle: p.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities,
    maxConcurrentActivityTaskExecutions: p.maxConcurrentActivityTaskExecutions ?? 50,
    // The SDK costs ~0.5 ms per signal inside the workflow sandbox (it captures a stack per promise), so a
    // task carrying the server's per-run maximum of 10,000 signals (a flood) takes several seconds. Past
    // the SDK's default 5 s the sandbox is interrupted mid-task, which can corrupt Node's async-hook stack
    // and kill the worker. 30 s covers that worst case on a busy machine; rollouts start with a 60 s
    // workflow task timeout to match (src/rollout/client.ts). The SDK reads this option (it is the
    // default it documents as 5 s) but does not declare it in WorkerOptions yet, hence the spread;
    // test/rollout/hostile-input.test.ts fails if a future SDK stops honouring it.
    ...({ isolateExecutionTimeout: '30s' } as object),
    // Let a running sample batch finish (or heartbeat its progress) before the process exits.
    shutdownGraceTime: '10s',
    // Heartbeats reach the server (and cancellations — abort, promote, pause — reach a running batch)
    // within about a second, instead of the SDK's default of 80% of the heartbeat timeout.
    maxHeartbeatThrottleInterval: '1s',
    defaultHeartbeatThrottleInterval: '1s',
  });
}

/** Run until SIGINT/SIGTERM, then drain and exit cleanly. */
export async function runWorker(config: Config, log: (l: string) => void = (l) => console.error(l)): Promise<void> {
  checkWorkerEnvironment();
  const connection = await connectWorker(config);
  const worker = await createWorker({ connection, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue });
  log(`modelshift worker: polling task queue "${config.temporal.taskQueue}" in namespace "${config.temporal.namespace}"`);
  // Worker.run() installs SIGINT/SIGTERM handlers that shut it down gracefully.
  try {
    await worker.run();
  } finally {
    await connection.close();
    log('modelshift worker: stopped');
  }
}
