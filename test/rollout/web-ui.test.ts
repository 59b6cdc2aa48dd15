/**
 * The Temporal Web UI shows a rollout as an operator needs it: served by the embedded dev server,
 * with the rollout's summary, its live current details and its search attributes.
 */
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { BrowserContext } from 'playwright-core';
import { hasChromium, launchChromium } from '../helpers/browser';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/index';
import { startDevServer, type DevServer } from '../../src/temporal/devserver';
import { createWorker } from '../../src/worker';
import { RolloutClient } from '../../src/rollout/client';
import { testSpec, uniqueTarget } from '../helpers/rollout';
import { rolloutWorkflowId, statusQuery } from '../../src/rollout/contract';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

describe.skipIf(!hasChromium)('Temporal Web UI', () => {
  let server: DevServer;
  let sim: Simulator;
  let browser: BrowserContext;
  let native: NativeConnection;
  let stopWorker: () => Promise<void>;
  let uiPort: number;
  let client: Client;

  beforeAll(async () => {
    uiPort = await freePort();
    server = await startDevServer({ uiPort, log: () => {} });
    sim = await startSimulator({ latencyScale: 0.02, models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } } });
    process.env.GATEWAY_BASE_URL = sim.url;
    process.env.GATEWAY_API_KEY = sim.apiKey;
    native = await NativeConnection.connect({ address: server.address });
    const worker = await createWorker({
      connection: native,
      namespace: 'default',
      taskQueue: 'webui',
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    const running = worker.run();
    stopWorker = async () => {
      worker.shutdown();
      await running;
    };
    client = new Client({ connection: server.env.connection });
    browser = await launchChromium({ width: 1400, height: 1800 });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await stopWorker?.();
    await native?.close();
    await sim?.close();
    await server?.stop();
  });

  it('answers on its port and shows a running rollout with its summary, current details and search attributes', async () => {
    const res = await fetch(`http://localhost:${uiPort}/`);
    expect(res.status).toBe(200);

    const spec = testSpec({ target: uniqueTarget('webui'), plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 100, concurrency: 25 } });
    await new RolloutClient(client, 'webui').start(spec);
    const handle = client.workflow.getHandle(rolloutWorkflowId(spec.target));
    for (let i = 0; i < 100; i++) {
      const s = await handle.query(statusQuery).catch(() => undefined);
      if (s?.verdicts.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const page = await browser.newPage();
    await page.goto(`http://localhost:${uiPort}/namespaces/default/workflows/${rolloutWorkflowId(spec.target)}`);
    // The history reads as a log: activities and timers carry the rollout's own summaries.
    await expect
      .poll(async () => page.getByText(/step 1\/2 round 1: 100 probe pairs \(green serves 50% of users\)/).count(), { timeout: 30_000 })
      .toBeGreaterThan(0);
    await expect.poll(async () => page.getByText(/dwell \d+s at 50% green/).count(), { timeout: 30_000 }).toBeGreaterThan(0);
    // Static summary (set at start) and the live current details (Markdown rendered by the UI).
    // The UI renders this Markdown inside sandboxed frames, so read every frame's text.
    await page.getByText('User Metadata', { exact: true }).first().click();
    const allText = async () =>
      (
        await Promise.all(
          page.frames().map((f) =>
            f
              .locator('body')
              .innerText()
              .catch(() => ''),
          ),
        )
      ).join('\n');
    await expect.poll(allText, { timeout: 30_000 }).toContain(`${spec.target}: gpt-4.1 → gpt-4.1-turbo, steps 50→100%, dwell 1h`);
    await expect.poll(allText, { timeout: 30_000 }).toMatch(/step 1 of 2 \(50 → 100%\)/);
    await expect.poll(allText, { timeout: 30_000 }).toMatch(/Last verdict: Pass/);
    // Numbers read as written (no Markdown links from [a, b] bounds, no math from dollar signs).
    expect(await allText()).toMatch(/cost: green \$0\.\d+ vs blue \$0\.\d+ per pair/);
    await page.screenshot({ path: join(tmpdir(), 'modelshift-webui-rollout.png'), fullPage: true });

    // The workflow list filters on the custom search attributes.
    const query = encodeURIComponent(`RolloutTarget="${spec.target}"`);
    await page.goto(`http://localhost:${uiPort}/namespaces/default/workflows?query=${query}`);
    await expect.poll(async () => page.getByText(rolloutWorkflowId(spec.target)).count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await handle.signal('abort', { reason: 'test done' });
    await handle.result();
  }, 120_000);
});
