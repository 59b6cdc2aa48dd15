/**
 * Router overhead: latency added by the router in front of the simulator (zero simulated latency),
 * against the simulator directly, at a fixed offered rate with autocannon (`overallRate`).
 *
 *   npx tsx bench/router.ts [--rate 1000] [--duration 10] [--connections 32] [--rounds 3] [--stream] [--no-floor] [--profile DIR]
 *
 * Three processes, as in production: the simulator (child), the router (child) and the load
 * generator (this process). The paths take turns, `rounds` times, in a rotating order, so drift on a
 * shared machine hits all alike. Latencies are every response's exact time (autocannon's own histogram has
 * 1 ms resolution, too coarse for a sub-millisecond budget); "added" is routed minus direct, per
 * percentile. CPU per request is the router process's process.cpuUsage() over its runs ÷ requests.
 * A third path, a minimal node:http + undici proxy with no logic (the "floor"), shows what any Node
 * proxy hop costs on the same machine at the same moment, so the router's own share is visible.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

// autocannon ships no types; the little used here (loaded lazily: the child processes must not pay for it)
interface AutocannonResult {
  requests: { total: number };
  errors: number;
  non2xx: number;
  duration: number;
}
type AutocannonInstance = Promise<AutocannonResult> & {
  on(ev: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void;
};
const autocannon = (o: Record<string, unknown>): AutocannonInstance =>
  (createRequire(import.meta.url)('autocannon') as (o: Record<string, unknown>) => AutocannonInstance)(o);

const ROUTER_KEY = 'bench-client-key';
const SIM_KEY = 'bench-sim-key';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}

// ---------------------------------------------------------------- children
async function childSim(): Promise<void> {
  const { startSimulator } = await import('../src/sim');
  const quiet = { errorRate: 0, timeoutRate: 0, malformedRate: 0, completionTokens: 40, rpm: null };
  const sim = await startSimulator({ apiKey: SIM_KEY, latencyScale: 0, seed: 7, models: { 'gpt-4.1': quiet, 'gpt-4.1-turbo': quiet } });
  process.send!({ type: 'ready', url: sim.url });
  process.on('message', async (m: { type: string }) => {
    if (m.type === 'stop') {
      await sim.close();
      process.exit(0);
    }
  });
}

async function childRouter(simUrl: string): Promise<void> {
  const { createRouter, StaticRatioSource } = await import('../src/router');
  let requests = 0;
  const router = createRouter({
    targets: { 'chat-default': { blue: { model: 'gpt-4.1' } } },
    gateway: { baseURL: simUrl },
    env: { GATEWAY_API_KEY: SIM_KEY },
    apiKeys: [ROUTER_KEY],
    ratioSource: new StaticRatioSource({
      'chat-default': { greenPercent: 50, phase: 'ramping', blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } },
    }),
    reporter: { report: async () => undefined },
    reportIntervalMs: 5_000,
    logger: { info: () => undefined, warn: () => undefined, error: (m) => console.error(m) },
  });
  const { url, server } = await router.listen(0, '127.0.0.1');
  server.on('request', () => requests++);
  await router.ready;
  childControl(
    () => requests,
    () => router.close(),
  );
  process.send!({ type: 'ready', url });
}

// ---------------------------------------------------------------- driver
function start(mode: string, extra: string[] = [], execArgv: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(fileURLToPath(import.meta.url), [mode, ...extra], {
    execArgv: ['--import', 'tsx', ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${mode} exited with ${code}`)));
    child.once('message', (m: { type: string; url: string }) => resolve({ child, url: m.url }));
  });
}

function ask<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send({ type });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.kill();
      resolve();
    }, 3_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.send({ type: 'stop' });
  });
}

interface RunResult {
  latencies: number[];
  requests: number;
  errors: number;
  non2xx: number;
  seconds: number;
}

async function load(
  url: string,
  key: string,
  model: string,
  o: { rate: number; duration: number; connections: number; stream: boolean },
): Promise<RunResult> {
  const latencies: number[] = [];
  let n = 0;
  const inst = autocannon({
    url: `${url}/chat/completions`,
    method: 'POST',
    connections: o.connections,
    overallRate: o.rate,
    duration: o.duration,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (req: Record<string, unknown>) => {
          n++;
          return {
            ...req,
            body: JSON.stringify({
              model,
              user: `user-${n % 5000}`,
              messages: [
                { role: 'system', content: 'You are a concise assistant.' },
                { role: 'user', content: `Summarise request ${n} in one sentence, please.` },
              ],
              ...(o.stream ? { stream: true, stream_options: { include_usage: true } } : {}),
            }),
          };
        },
      },
    ],
  });
  inst.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const r = await inst;
  return { latencies, requests: r.requests.total, errors: r.errors, non2xx: r.non2xx, seconds: r.duration };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const f = (x: number) => x.toFixed(2);

interface Cpu {
  userUs: number;
  systemUs: number;
  requests: number;
}

async function main(): Promise<void> {
  const o = {
    rate: arg('rate', 1000),
    duration: arg('duration', 10),
    connections: arg('connections', 32),
    stream: process.argv.includes('--stream'),
  };
  const rounds = arg('rounds', 3);
  const withFloor = !process.argv.includes('--no-floor');
  const sim = await start('sim');
  // --profile DIR: write V8 CPU profiles of the router and floor processes there
  const pi = process.argv.indexOf('--profile');
  const prof = pi > 0 ? ['--cpu-prof', '--cpu-prof-dir', process.argv[pi + 1]] : [];
  const router = await start('router', [sim.url], prof);
  const floor = withFloor ? await start('floor', [sim.url], prof) : undefined;
  const paths = [
    {
      name: 'client → simulator',
      url: sim.url,
      key: SIM_KEY,
      model: 'gpt-4.1',
      runs: [] as RunResult[],
      cpu: undefined as ChildProcess | undefined,
      used: { us: 0, n: 0 },
    },
    ...(floor
      ? [
          {
            name: 'client → minimal proxy → simulator (floor)',
            url: floor.url,
            key: ROUTER_KEY,
            model: 'chat-default',
            runs: [] as RunResult[],
            cpu: floor.child as ChildProcess | undefined,
            used: { us: 0, n: 0 },
          },
        ]
      : []),
    {
      name: 'client → router → simulator',
      url: router.url,
      key: ROUTER_KEY,
      model: 'chat-default',
      runs: [] as RunResult[],
      cpu: router.child as ChildProcess | undefined,
      used: { us: 0, n: 0 },
    },
  ];
  try {
    for (const p of paths) await load(p.url, p.key, p.model, { ...o, duration: 2 }); // warm-up: JIT, keep-alive pools
    for (let i = 0; i < rounds; i++) {
      // rotate the order each round: whichever path runs later in a round tends to see a busier machine
      for (const p of [...paths.slice(i % paths.length), ...paths.slice(0, i % paths.length)]) {
        if (p.cpu) await ask(p.cpu, 'cpu-start');
        p.runs.push(await load(p.url, p.key, p.model, o));
        if (p.cpu) {
          const c = await ask<Cpu>(p.cpu, 'cpu-stop');
          p.used.us += c.userUs + c.systemUs;
          p.used.n += c.requests;
        }
      }
    }
    const sum = (rs: RunResult[]) => {
      const l = rs.flatMap((r) => r.latencies).sort((a, b) => a - b);
      const secs = rs.reduce((a, r) => a + r.seconds, 0);
      return { l, rps: rs.reduce((a, r) => a + r.requests, 0) / secs, bad: rs.reduce((a, r) => a + r.errors + r.non2xx, 0) };
    };
    const stats = paths.map((p) => ({ ...p, s: sum(p.runs) }));
    const d = stats[0].s;
    const r = stats[stats.length - 1];
    const added = (s: ReturnType<typeof sum>) => ({
      p50: pct(s.l, 50) - pct(d.l, 50),
      p99: pct(s.l, 99) - pct(d.l, 99),
      max: s.l[s.l.length - 1] - d.l[d.l.length - 1],
    });
    const cpu = (p: (typeof stats)[number]) => (p.used.n ? `${(p.used.us / p.used.n).toFixed(1)}` : '');
    const lines = [
      `### Router overhead — ${o.rate} req/s offered, ${o.duration} s × ${rounds} rounds, ${o.connections} connections, ${o.stream ? 'SSE streaming' : 'JSON'} (node ${process.version}, ${os.cpus().length} cores, load avg ${os.loadavg()[0].toFixed(2)} at end)`,
      '',
      '| path | responses | req/s | p50 ms | p99 ms | max ms | added p50 ms | added p99 ms | added max ms | proxy CPU/request µs | errors+non-2xx |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...stats.map((p, i) => {
        const a = added(p.s);
        const b = (x: string) => (p === r ? `**${x}**` : x);
        return `| ${p.name} | ${p.s.l.length} | ${f(p.s.rps)} | ${f(pct(p.s.l, 50))} | ${f(pct(p.s.l, 99))} | ${f(p.s.l[p.s.l.length - 1])} | ${i ? b(f(a.p50)) : ''} | ${i ? b(f(a.p99)) : ''} | ${i ? f(a.max) : ''} | ${i ? b(cpu(p)) : ''} | ${p.s.bad} |`;
      }),
      '',
      `Goal (router): added p50 ≤ 1 ms — ${added(r.s).p50 <= 1 ? 'met' : 'NOT met'}; added p99 ≤ 3 ms — ${added(r.s).p99 <= 3 ? 'met' : 'NOT met'}.`,
      'The floor is a few lines of node:http + undici with no routing, auth, metrics or aggregation: what any Node proxy hop costs on this machine.',
    ];
    console.log(lines.join('\n'));
  } finally {
    await Promise.all([stop(router.child), stop(sim.child), ...(floor ? [stop(floor.child)] : [])]);
  }
}

/** The floor: the least a Node proxy hop can do (read body, swap the model, forward, stream back). */
async function childFloor(simUrl: string): Promise<void> {
  const { createServer } = await import('node:http');
  const { Pool } = await import('undici');
  const u = new URL(simUrl);
  const pool = new Pool(u.origin, { connections: 128 });
  let requests = 0;
  const server = createServer(async (req, res) => {
    requests++;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString().replace('"chat-default"', '"gpt-4.1"');
    const r = await pool.request({
      path: `${u.pathname}/chat/completions`,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${SIM_KEY}` },
      body,
    });
    res.writeHead(r.statusCode, {
      'content-type': String(r.headers['content-type']),
      ...(r.headers['content-length'] ? { 'content-length': String(r.headers['content-length']) } : {}),
    });
    for await (const c of r.body) res.write(c);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  childControl(
    () => requests,
    async () => {
      server.close();
      await pool.close();
    },
  );
  process.send!({ type: 'ready', url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1` });
}

/** cpu-start / cpu-stop / stop over IPC. */
function childControl(count: () => number, close: () => Promise<void>): void {
  let cpu = process.cpuUsage();
  let counted = 0;
  process.on('message', async (m: { type: string }) => {
    if (m.type === 'cpu-start') {
      cpu = process.cpuUsage();
      counted = count();
      process.send!({ type: 'ok' });
    } else if (m.type === 'cpu-stop') {
      const d = process.cpuUsage(cpu);
      process.send!({ type: 'cpu', userUs: d.user, systemUs: d.system, requests: count() - counted });
    } else if (m.type === 'stop') {
      await close();
      process.exit(0);
    }
  });
}

const mode = process.argv[2];
if (mode === 'sim') await childSim();
else if (mode === 'router') await childRouter(process.argv[3]);
else if (mode === 'floor') await childFloor(process.argv[3]);
else await main();
