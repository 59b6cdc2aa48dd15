/**
 * The usual integration-test set-up in one call: a simulator (its URL and key exported as the worker's
 * GATEWAY_* environment), a client and native connection to the shared dev server, and a worker on a
 * fresh task queue — started before the file's tests, stopped after them.
 */
import { afterAll, beforeAll } from 'vitest';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/sim/index';
import { connectTestTemporal, startTestWorker, uniqueTaskQueue, type TestTemporal } from './temporal';

export interface Harness {
  t: TestTemporal;
  sim: Simulator;
  taskQueue: string;
}

export function useHarness(opts: { sim?: SimulatorOptions; queue?: string } = {}): Harness {
  const h = { taskQueue: uniqueTaskQueue(opts.queue ?? 'test') } as Harness;
  let stopWorker: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    h.sim = await startSimulator(opts.sim);
    process.env.GATEWAY_BASE_URL = h.sim.url;
    process.env.GATEWAY_API_KEY = h.sim.apiKey;
    h.t = await connectTestTemporal();
    stopWorker = (await startTestWorker(h.t, h.taskQueue)).stop;
  });
  afterAll(async () => {
    await stopWorker?.();
    await h.t?.close();
    await h.sim?.close();
  });
  return h;
}
