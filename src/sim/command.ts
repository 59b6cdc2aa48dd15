// `modelshift sim`: run the simulated gateway from the CLI.
import type { Command } from 'commander';
import { action } from '../cli/exit';
import { parseNumber } from '../cli/flags';
import { Failure, firstLine } from '../errors';
import { loadSimProfileFile, SimProfileError } from './file';
import { buildCatalog, startSimulator, type Simulator, type SimulatorOptions } from './index';

/** Flag values as typed (checked in the action: a bad one is one line naming the flag, exit 2, nothing started). */
interface SimCliOptions {
  port: string;
  host: string;
  profile?: string;
  seed?: string;
  latencyScale?: string;
  apiKey: string;
  adminKey?: string;
  verbose?: boolean;
}

export function registerSimCommand(program: Command): Command {
  return program
    .command('sim')
    .description(
      'Run a simulated OpenAI-compatible gateway with per-model fault injection (errors, latency, rate limits, timeouts, malformed bodies)',
    )
    .option('--port <n>', 'port to listen on (0 = any free port)', '8787')
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--profile <file>', 'JSON/YAML file: { seed?, latencyScale?, onlyModels?, models: { <model>: <profile patch> } }')
    .option('--seed <n>', "PRNG seed for reproducible faults (default 42, or the profile file's)")
    .option('--latency-scale <x>', "multiply every sampled latency (0 = instant; default 1, or the profile file's)")
    .option('--api-key <key>', 'bearer key clients must send', 'sim-key')
    .option('--admin-key <key>', 'extra bearer key accepted on /admin/* (the api key always works there)')
    .option('-v, --verbose', 'log one line per request')
    .addHelpText(
      'after',
      `
Endpoints:
  GET  /v1/models, /v1/models/:id       POST /v1/chat/completions (JSON or stream: true)
  GET  /admin/models                    PUT  /admin/models/:model   (partial profile patch, JSON)
  GET  /admin/stats                     POST /admin/reset           GET /admin/requests (arrival/end order)

Profile fields (per model): errorRate, timeoutRate, malformedRate (0..1), latencyMs (ms or {p50,p99}),
  completionTokens (tokens or {p50,p99}), rpm (number or null), outputOverride (string or null),
  substituteModel (answer as this model, or null), fallbackHeader (send x-litellm-attempted-fallbacks: 1);
  output behaviours: brokenJsonShare, refusalShare, dropToolCallShare, degradedShare (0..1), lengthFactor (x),
  judgeNoise (0..1: share of random verdicts when answering as the judge, a request with the judge's prompt).
  Requests with tools get a tool call with valid JSON arguments (unless tool_choice is "none").

Example:
  modelshift sim --latency-scale 0.1
  curl -X PUT -H 'Authorization: Bearer sim-key' -d '{"errorRate":0.3}' http://127.0.0.1:8787/admin/models/gpt-4.1-turbo`,
    )
    .action(action((o: SimCliOptions) => runSim(o)));
}

async function runSim(o: SimCliOptions): Promise<void> {
  const port = parseNumber('--port', o.port, { integer: true, min: 0, max: 65535 })!;
  const seed = parseNumber('--seed', o.seed, { integer: true, min: 0, max: 2 ** 32 - 1 });
  const latencyScale = parseNumber('--latency-scale', o.latencyScale, { min: 0, max: 1_000 });
  const file = o.profile ? await loadSimProfileFile(o.profile) : undefined;
  const opts: SimulatorOptions = {
    host: o.host,
    port,
    apiKey: o.apiKey,
    adminKey: o.adminKey,
    seed: seed ?? file?.seed,
    latencyScale: latencyScale ?? file?.latencyScale,
    models: file?.models,
    onlyModels: file?.onlyModels,
    log: o.verbose ? (line) => console.log(line) : undefined,
  };
  try {
    buildCatalog(opts); // a profile that passes its schema but not the merge (rates summing above 1)
  } catch (err) {
    throw new SimProfileError(`${o.profile}: ${firstLine(err)}`);
  }
  let sim: Simulator;
  try {
    sim = await startSimulator(opts);
  } catch (err) {
    throw new Failure(`cannot start the simulator on ${o.host}:${port}: ${firstLine(err)}`);
  }
  const models = Object.keys(sim.stats());
  console.log(`modelshift simulator listening on ${sim.url}`);
  console.log(`models: ${models.join(', ')}`);
  console.log('Point clients at it with:');
  console.log(`  export GATEWAY_BASE_URL=${sim.url}`);
  console.log(`  export GATEWAY_API_KEY=${sim.apiKey}`);
  console.log(`Admin: ${sim.url.replace(/\/v1$/, '')}/admin/models (same bearer key). Ctrl-C to stop.`);

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      console.log(`\n${signal}: stopping simulator`);
      sim.close().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
