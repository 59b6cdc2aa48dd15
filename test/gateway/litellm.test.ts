/**
 * Opt-in: verdicts behind a real LiteLLM proxy (litellm[proxy]==1.108.7 from a venv outside the repo:
 * $MODELSHIFT_LITELLM_VENV or ~/.cache/modelshift/litellm-venv) in front of the simulator, with the shared
 * dev server, a real worker and the default plan (10 steps, 50 pairs a round, 600 rpm) but a short dwell.
 * Skipped, with a note, when the venv is missing, so CI needs no Python. The full run with numbers:
 * `npx tsx bench/litellm.ts`.
 * - LiteLLM `fallbacks` (gpt-4.1-turbo → gpt-4.1) hide a green failing 100 %: the probes see the
 *   substitution (x-litellm-attempted-fallbacks) and roll green back as `substituted`;
 * - identical arms behind LiteLLM's defaults at the default 600 rpm promote.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_GUARDS } from '../../src/decision/defaults';
import { RolloutClient } from '../../src/rollout/client';
import { startSimulator, type Simulator } from '../../src/sim/index';
import {
  benchSpec,
  installHint,
  LITELLM_MASTER_KEY,
  litellmBinary,
  litellmVenv,
  runRollout,
  setArms,
  startLiteLLM,
  type LiteLLMProxy,
} from '../../bench/litellm';
import { connectTestTemporal, startTestWorker, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';
import { uniqueTarget } from '../helpers/rollout';

const installed = litellmBinary() !== undefined;
if (!installed) {
  console.warn(`test/gateway/litellm.test.ts: skipped — LiteLLM's proxy is not installed in ${litellmVenv()}. To run it: ${installHint()}`);
}

describe.skipIf(!installed)('verdicts behind a real LiteLLM proxy', () => {
  const taskQueue = uniqueTaskQueue('litellm');
  let sim: Simulator;
  let t: TestTemporal;
  let plain: LiteLLMProxy;
  let withFallbacks: LiteLLMProxy;
  let stopWorker: (() => Promise<void>) | undefined;
  let client: RolloutClient;

  beforeAll(async () => {
    sim = await startSimulator({ seed: 7, latencyScale: 1 });
    [plain, withFallbacks] = await Promise.all([startLiteLLM(sim, {}), startLiteLLM(sim, { fallbacks: true })]);
    process.env.GATEWAY_BASE_URL = plain.url;
    process.env.GATEWAY_API_KEY = LITELLM_MASTER_KEY;
    t = await connectTestTemporal();
    stopWorker = (await startTestWorker(t, taskQueue)).stop;
    client = new RolloutClient(t.client, taskQueue);
  }, 300_000);

  afterAll(async () => {
    await stopWorker?.();
    await t?.close();
    await Promise.all([plain?.close(), withFallbacks?.close()]);
    await sim?.close();
  });

  it('LiteLLM fallbacks answer a failing green from gpt-4.1: rolled back as substituted', async () => {
    setArms(sim, { errorRate: 1 });
    process.env.GATEWAY_BASE_URL = withFallbacks.url;
    const run = await runRollout(client, benchSpec(uniqueTarget('litellm-fallback')), 150_000);
    const r = run.result!;
    expect(run.timedOut, 'the rollout did not end in time').toBeFalsy();
    expect(r.phase, r.reason).toBe('rolled_back');
    expect(r.status.probes.substituted).toBeGreaterThan(0);
    expect(r.status.lastError?.green).toMatch(/^substituted: .*x-litellm-attempted-fallbacks/);
    // the simulator really failed green; LiteLLM then asked gpt-4.1
    expect(sim.stats()['gpt-4.1-turbo'].serverError).toBeGreaterThan(0);
  }, 200_000);

  it('identical arms at the default 600 rpm promote behind LiteLLM’s defaults', async () => {
    setArms(sim);
    process.env.GATEWAY_BASE_URL = plain.url;
    const run = await runRollout(client, benchSpec(uniqueTarget('litellm-identical')), 240_000);
    const r = run.result!;
    expect(run.timedOut, 'the rollout did not end in time').toBeFalsy();
    expect(r.phase, r.reason).toBe('promoted');
    expect(r.status.probes.pairs).toBeGreaterThanOrEqual(DEFAULT_GUARDS.promoteMinPairs);
    expect(r.status.probes.substituted).toBe(0);
  }, 300_000);
});
