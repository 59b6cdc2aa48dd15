// `modelshift sim`: run the simulated gateway from the CLI.
import type { Command } from 'commander';
import { commanderParser, requireNumber } from '../cli/flags';
import { loadSimProfileFile } from './file';
import { startSimulator, type SimulatorOptions } from './index';

const int = (name: string, min: number, max: number) => commanderParser((v) => requireNumber(name, v, { integer: true, min, max }));
const nonNegative = commanderParser((v) => requireNumber('value', v, { min: 0 }));

interface SimCliOptions {
  port: number;
  host: string;
  profile?: string;
  seed?: number;
  latencyScale?: number;
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
    .option('--port <n>', 'port to listen on (0 = any free port)', int('--port', 0, 65535), 8787)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--profile <file>', 'JSON/YAML file: { seed?, latencyScale?, onlyModels?, models: { <model>: <profile patch> } }')
    .option('--seed <n>', "PRNG seed for reproducible faults (default 42, or the profile file's)", int('--seed', 0, 2 ** 32 - 1))
    .option('--latency-scale <x>', "multiply every sampled latency (0 = instant; default 1, or the profile file's)", nonNegative)
    .option('--api-key <key>', 'bearer key clients must send', 'sim-key')
    .option('--admin-key <key>', 'extra bearer key accepted on /admin/* (the api key always works there)')
    .option('-v, --verbose', 'log one line per request')
    .addHelpText(
      'after',
      `
Endpoints:
  GET  /v1/models, /v1/models/:id       POST /v1/chat/completions (JSON or stream: true)
  GET  /admin/models                    PUT  /admin/models/:model   (partial profile patch, JSON)
  GET  /admin/stats                     POST /admin/reset

Profile fields (per model): errorRate, timeoutRate, malformedRate (0..1), latencyMs (ms or {p50,p99}),
  completionTokens (tokens or {p50,p99}), rpm (number or null), outputOverride (string or null).

Example:
  modelshift sim --latency-scale 0.1
  curl -X PUT -H 'Authorization: Bearer sim-key' -d '{"errorRate":0.3}' http://127.0.0.1:8787/admin/models/gpt-4.1-turbo`,
    )
    .action(async (o: SimCliOptions) => {
      const file = o.profile ? await loadSimProfileFile(o.profile) : undefined;
      const opts: SimulatorOptions = {
        host: o.host,
        port: o.port,
        apiKey: o.apiKey,
        adminKey: o.adminKey,
        seed: o.seed ?? file?.seed,
        latencyScale: o.latencyScale ?? file?.latencyScale,
        models: file?.models,
        onlyModels: file?.onlyModels,
        log: o.verbose ? (line) => console.log(line) : undefined,
      };
      const sim = await startSimulator(opts);
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
    });
}
