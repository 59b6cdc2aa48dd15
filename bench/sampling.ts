/**
 * Why one activity per probe round: the same 100 probe pairs (200 requests; simulator with zero latency,
 * so only overhead is measured) sent as one round activity with its own concurrency, versus one activity
 * per pair with the same concurrency. Real local dev server, real worker, real `openai` client.
 *
 *   npx tsx bench/sampling.ts [--pairs 100] [--concurrency 20] [--rounds 3]
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from '../src/activities';
import { startSimulator } from '../src/sim/index';
import { DEFAULT_PROMPTS } from '../src/rollout/spec';
import { startDevServer } from '../src/temporal/devserver';
import type { ProbeRoundInput } from '../src/rollout/contract';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const samples = arg('pairs', 100);
const concurrency = arg('concurrency', 20);
const rounds = arg('rounds', 3);

const server = await startDevServer({ log: () => undefined });
const sim = await startSimulator({ latencyScale: 0, models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } } });
process.env.GATEWAY_BASE_URL = sim.url;
process.env.GATEWAY_API_KEY = sim.apiKey;
const connection = await NativeConnection.connect({ address: server.address });
const worker = await Worker.create({
  connection,
  taskQueue: 'bench-sampling',
  workflowsPath: fileURLToPath(new URL('./sampling-workflows.ts', import.meta.url)),
  activities,
  maxConcurrentActivityTaskExecutions: 100,
});
const running = worker.run();
const client = new Client({ connection: server.env.connection });

const input: ProbeRoundInput = {
  target: 'bench',
  step: 1,
  round: 1,
  pairs: samples,
  concurrency,
  blue: { model: 'gpt-4.1' },
  green: { model: 'gpt-4.1-turbo' },
  prompts: DEFAULT_PROMPTS,
  promptOffset: 0,
  requestsPerMinute: 1_000_000,
  request: { maxTokens: 64, temperature: 0.7, timeoutMs: 30_000 },
  retry: { attempts: 1, minBackoffMs: 100, maxBackoffMs: 100 },
};

async function time(workflow: 'oneBatch' | 'perSample'): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const n = await client.workflow.execute(workflow, {
      taskQueue: 'bench-sampling',
      workflowId: `${workflow}-${r}-${Date.now()}`,
      args: [input],
    });
    if (n !== samples) throw new Error(`${workflow}: ${n} pairs counted, expected ${samples}`);
    out.push(performance.now() - t0);
  }
  return out;
}

try {
  await time('oneBatch'); // warm-up (bundle caches, connections)
  const batch = await time('oneBatch');
  const each = await time('perSample');
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const row = (name: string, xs: number[], activitiesRun: number) =>
    `| ${name} | ${activitiesRun} | ${Math.round(med(xs))} | ${Math.round((samples / med(xs)) * 1000)} |`;
  console.log(
    `### Probing: ${samples} pairs (${2 * samples} requests), concurrency ${concurrency}, median of ${rounds} runs (simulator latency 0)\n`,
  );
  console.log('| how | activities | wall ms | pairs/s |');
  console.log('| --- | ---: | ---: | ---: |');
  console.log(row('one activity per round', batch, 1));
  console.log(row('one activity per pair', each, samples));
} finally {
  worker.shutdown();
  await running;
  await connection.close();
  await sim.close();
  await server.stop();
}
