/** Test helpers: clients and workers against the shared real dev server; the real simulator. */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { createWorker } from '../../src/worker';

export interface TestTemporal {
  address: string;
  client: Client;
  nativeConnection: NativeConnection;
  close(): Promise<void>;
}

export async function connectTestTemporal(): Promise<TestTemporal> {
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  return {
    address,
    client: new Client({ connection, namespace: 'default' }),
    nativeConnection,
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export async function startTestWorker(t: TestTemporal, taskQueue: string): Promise<{ worker: Worker; stop(): Promise<void> }> {
  const worker = await createWorker({
    connection: t.nativeConnection,
    namespace: 'default',
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

/** Run `fn` with a worker polling `taskQueue`; the worker is shut down afterwards. */
export async function withWorker<T>(t: TestTemporal, taskQueue: string, fn: () => Promise<T>): Promise<T> {
  const w = await startTestWorker(t, taskQueue);
  try {
    return await fn();
  } finally {
    await w.stop();
  }
}

/** The history as text with every payload decoded, so a test can search what was really stored. */
export function historyText(history: unknown): string {
  const decoded = JSON.stringify(history, (key, value) => {
    if (key === 'data' && typeof value === 'string') return Buffer.from(value, 'base64').toString('utf8');
    if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
    return value;
  });
  return decoded;
}
