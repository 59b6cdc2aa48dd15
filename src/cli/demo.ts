/**
 * `npm start` (`modelshift demo`): the whole product on one machine. Starts (or reuses) the local
 * Temporal dev server with its Web UI, the simulated gateway when no GATEWAY_BASE_URL is set, and a
 * worker, and the router with steady demo traffic through it; runs a rollout that promotes, then one whose
 * green degrades mid-way (fault injected through the simulator's admin endpoint) and rolls itself back —
 * on probes and live traffic alike; then keeps the stack up until Ctrl-C.
 */
import type { Command } from 'commander';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig, loadDotEnv, type Config } from '../config';
import { parseSpec, type RolloutSpec } from '../rollout/spec';
import { startSimulator, type Simulator } from '../sim/index';
import { connectClient, connectionOptions, ensureServer, targetAddress } from '../temporal/connect';
import { checkWorkerEnvironment, createWorker } from '../worker';
import { rolloutWorkflowId } from '../rollout/contract';
import { RolloutClient } from '../rollout/client';
import { action, untilStopped } from './exit';
import { classify, estimateCostUsd, loadCatalog } from '../catalog';
import { createRouter, type Router } from '../router/index';
import { TemporalLiveReporter } from '../router/temporal-reporter';
import { TemporalRatioSource } from '../router/temporal-source';
import { startDemoTraffic, type DemoTraffic } from './demo-traffic';
import { liveView, webUiLink } from '../rollout/command';

const say = (l = '') => process.stdout.write(`${l}\n`);

function demoSpec(target: string, over: Partial<RolloutSpec> = {}): RolloutSpec {
  return {
    ...parseSpec(
      {
        target,
        blue: { model: 'gpt-4.1' },
        green: { model: 'gpt-4.1-turbo' },
        plan: { steps: [10, 25, 50, 100], dwell: '3s', probesPerRound: 100, concurrency: 50 },
        rateLimit: { requestsPerMinute: 6000 },
        retry: { attempts: 2, minBackoff: '200ms', maxBackoff: '1s' },
        request: { timeout: '10s' },
      },
      'demo',
    ),
    ...over,
  };
}

async function clearPrevious(rollouts: RolloutClient, target: string): Promise<void> {
  const handle = rollouts.handle(target);
  try {
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING') return;
    await rollouts.abort(target, 'superseded by a new npm start');
    await handle.result().catch(() => undefined);
  } catch {
    /* never ran */
  }
}

interface DemoStack {
  sim?: Simulator;
  rollouts: RolloutClient;
  routed: { port: number };
  routerURL: string;
  traffic?: DemoTraffic;
  shutdown(): Promise<void>;
}

const DEMO_KEY = 'demo-client-key';

/** The whole product on this machine: dev server (or yours), simulator (unless a gateway is set), worker, router, demo traffic. */
async function startStack(config: Config): Promise<DemoStack> {
  // Bad input (a price catalog, the worker's upstream policy) is refused before anything starts.
  const catalog = loadCatalog(process.env.MODELSHIFT_CATALOG || undefined);
  checkWorkerEnvironment();
  // What has started so far, stopped in reverse order if a later part cannot start (nothing is left running).
  const started: Array<() => Promise<unknown>> = [];
  const stopStarted = async () => {
    for (const stop of started.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    const server = await ensureServer(config, (l) => say(l));
    if (server) started.push(() => server.stop());
    let sim: Simulator | undefined;
    if (!config.gateway.baseURL) {
      sim = await startSimulator({ port: 8787, latencyScale: 0.1 }).catch(() => startSimulator({ port: 0, latencyScale: 0.1 }));
      const s = sim;
      started.push(() => s.close());
      process.env.GATEWAY_BASE_URL = sim.url;
      process.env.GATEWAY_API_KEY = sim.apiKey;
      config.gateway.baseURL = sim.url;
      say(`modelshift: simulated OpenAI-compatible gateway on ${sim.url} (key ${sim.apiKey}); set GATEWAY_BASE_URL to use a real one`);
    } else say(`modelshift: gateway ${config.gateway.baseURL} (key from ${config.gateway.apiKeyEnv})`);

    const nativeConnection = await NativeConnection.connect(connectionOptions(config.temporal, targetAddress(config.temporal)));
    started.push(() => nativeConnection.close());
    const worker = await createWorker({
      connection: nativeConnection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
    });
    const workerRun = worker.run();
    started.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun;
    });
    say(`modelshift: worker polling task queue "${config.temporal.taskQueue}"`);
    const client = await connectClient(config);
    started.push(() => client.connection.close());

    // The router follows the rollouts' ratios and reports live outcomes back to them.
    const blue = { model: 'gpt-4.1' };
    const router: Router = createRouter({
      targets: { 'demo-promote': { blue }, 'demo-rollback': { blue }, demo: { blue } },
      gateway: { baseURL: config.gateway.baseURL, apiKeyEnv: config.gateway.apiKeyEnv },
      ratioSource: TemporalRatioSource.fromClient(client),
      reporter: new TemporalLiveReporter({ connection: client.connection, namespace: config.temporal.namespace }),
      reportIntervalMs: 2000,
      apiKeys: [DEMO_KEY],
      classify: (messages) => classify(Array.isArray(messages) ? messages : [], catalog.routing),
      cost: (model, usage) => estimateCostUsd(catalog, model, usage),
      logger: { info: () => {}, warn: () => {}, error: (m, f) => say(`router: ${m} ${f ? JSON.stringify(f) : ''}`) },
    });
    started.push(() => router.close());
    const routed = await router.listen(4000, '127.0.0.1').catch(() => router.listen(0, '127.0.0.1'));
    const routerURL = `http://127.0.0.1:${routed.port}/v1`;
    say(`modelshift: router on ${routerURL} (client key ${DEMO_KEY}); metrics at http://127.0.0.1:${routed.port}/metrics`);
    const stack: DemoStack = {
      sim,
      rollouts: new RolloutClient(client, config.temporal.taskQueue),
      routed,
      routerURL,
      traffic: startDemoTraffic({ routerURL, apiKey: DEMO_KEY, target: 'demo-promote', rps: 20 }),
      async shutdown() {
        await stack.traffic?.stop();
        stack.traffic = undefined;
        await stopStarted();
      },
    };
    say('modelshift: sending 20 requests/s of demo traffic through the router (500 users, sticky)');
    return stack;
  } catch (err) {
    await stopStarted();
    throw err;
  }
}

/** Rollout 1: a healthy green, promoted step by step. */
async function promoteDemo(config: Config, stack: DemoStack): Promise<boolean> {
  const happy = demoSpec('demo-promote');
  await clearPrevious(stack.rollouts, happy.target);
  say(`\n▶ rollout 1: ${happy.blue.model} → ${happy.green.model}, steps ${happy.steps.join('→')}%, dwell 3s — expected: promoted`);
  await stack.rollouts.start(happy);
  say(`  Web UI: ${webUiLink(config, rolloutWorkflowId(happy.target))}`);
  const s1 = await stack.rollouts.watch(happy.target, liveView());
  say(`  → ${s1.phase}${s1.reason ? `: ${s1.reason}` : ''}`);
  say(`  live traffic judged beside the probes: blue ${s1.live.blue.requests} / green ${s1.live.green.requests} requests from the router`);
  return s1.phase === 'promoted';
}

/** Rollout 2: green degrades mid-rollout (a fault injected through the simulator's admin endpoint); the verdict rolls it back on its own. */
async function rollbackDemo(config: Config, stack: DemoStack, sim: Simulator): Promise<boolean> {
  const bad = demoSpec('demo-rollback');
  await clearPrevious(stack.rollouts, bad.target);
  if (stack.traffic) stack.traffic.target = bad.target;
  say(
    `\n▶ rollout 2: same models; once green reaches 25%, its error rate is raised to 30% through the simulator's admin endpoint — expected: rolled back`,
  );
  await stack.rollouts.start(bad);
  say(`  Web UI: ${webUiLink(config, rolloutWorkflowId(bad.target))}`);
  let injected = false;
  const view = liveView();
  const s2 = await stack.rollouts.watch(bad.target, (s) => {
    view(s);
    if (!injected && s.greenPercent >= 25) {
      injected = true;
      void fetch(`${sim.url.replace(/\/v1$/, '')}/admin/models/${bad.green.model}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${sim.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ errorRate: 0.3 }),
      }).then(() => say(`  ⚡ injected: ${bad.green.model} now fails 30% of requests`));
    }
  });
  say(`  → ${s2.phase}${s2.reason ? `: ${s2.reason}` : ''}`);
  const served = s2.live.green.errors ? ' (users were served by blue fallback; the errors count against green)' : '';
  say(`  live traffic: green ${s2.live.green.requests} requests from the router, ${s2.live.green.errors} errors${served}`);
  sim.setProfile(bad.green.model, { errorRate: 0.01 });
  return s2.phase === 'rolled_back';
}

function printHints(config: Config, stack: DemoStack): void {
  say('\nThe stack stays up (Ctrl-C to stop); demo traffic now asks for target "demo". In another terminal, try:');
  say('  npx modelshift start --target demo --blue gpt-4.1 --green gpt-4.1-turbo --steps 10,25,50,100 --dwell 20s');
  say('  npx modelshift watch demo');
  say('  npx modelshift pause demo  |  npx modelshift resume demo  |  npx modelshift abort demo --reason "manual"');
  say('  npx modelshift promote demo');
  say('  npx modelshift status demo --json');
  say('  npx modelshift list');
  say(`  curl -s http://127.0.0.1:${stack.routed.port}/metrics | grep modelshift_router`);
  const body = '{"model":"demo","user":"alice","messages":[{"role":"user","content":"hi"}]}';
  say(
    `  curl -s ${stack.routerURL}/chat/completions -H 'authorization: Bearer ${DEMO_KEY}' -H 'content-type: application/json' -d '${body}'`,
  );
  if (!config.temporal.address) say(`  Web UI: http://localhost:${config.temporal.uiPort}`);
}

async function runDemo(opts: { regression: boolean; exit: boolean }): Promise<number> {
  loadDotEnv();
  const config: Config = loadConfig();
  const stack = await startStack(config);
  try {
    let ok = await promoteDemo(config, stack);
    if (opts.regression && stack.sim) ok = (await rollbackDemo(config, stack, stack.sim)) && ok;
    if (stack.traffic) stack.traffic.target = 'demo';
    printHints(config, stack);
    if (!opts.exit) {
      await untilStopped();
      say('\nstopping…');
    }
    return ok ? 0 : 1;
  } finally {
    await stack.shutdown();
  }
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('what `npm start` runs: local dev server + simulator + worker, a rollout that promotes and one that rolls back')
    .option('--no-regression', 'skip the second rollout (green degrades mid-way and is rolled back)')
    .option('--exit', 'exit after the demo rollouts instead of keeping the stack up')
    .action(
      action(async (opts: { regression: boolean; exit?: boolean }) => runDemo({ regression: opts.regression, exit: Boolean(opts.exit) })),
    );
}
