/**
 * Why one activity per sample round: the same 200 sample requests (simulator with zero latency, so only
 * overhead is measured) sent as one batch activity with its own concurrency, versus one activity per
 * sample with the same concurrency. Real local dev server, real worker, real `openai` client.
 *
 *   npx tsx bench/sampling.ts [--samples 200] [--concurrency 20] [--rounds 3]
 */
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import * as activities from '../src/activities';
import { startSimulator } from '../src/sim/index';
import { DEFAULT_PROMPTS } from '../src/rollout/spec';
import { startDevServer } from '../src/temporal/devserver';
import type { SampleBatchInput } from '../src/rollout/contract';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const samples = arg('samples', 200);
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

const input: SampleBatchInput = {
  target: 'bench',
  step: 1,
  round: 1,
  greenPercent: 50,
  count: samples,
  concurrency,
  blue: { model: 'gpt-4.1' },
  green: { model: 'gpt-4.1-turbo' },
  prompts: DEFAULT_PROMPTS,
  requestsPerMinute: 1_000_000,
  request: { maxTokens: 64, temperature: 0.7, timeoutMs: 30_000 },
  retry: { attempts: 1, minBackoffMs: 100, maxBackoffMs: 100 },
  fallback: false,
  seed: 1,
};

async function time(workflow: 'oneBatch' | 'perSample'): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const n = await client.workflow.execute(workflow, { taskQueue: 'bench-sampling', workflowId: `${workflow}-${r}-${Date.now()}`, args: [input] });
    if (n !== samples) throw new Error(`${workflow}: ${n} samples counted, expected ${samples}`);
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
  console.log(`### Sampling: ${samples} samples, concurrency ${concurrency}, median of ${rounds} runs (simulator latency 0)\n`);
  console.log('| how | activities | wall ms | samples/s |');
  console.log('| --- | ---: | ---: | ---: |');
  console.log(row('one batch activity per round', batch, 1));
  console.log(row('one activity per sample', each, samples));
} finally {
  worker.shutdown();
  await running;
  await connection.close();
  await sim.close();
  await server.stop();
}
