/**
 * The router's benchmarks. By default, issue 16's run — in one go:
 *   1. sustained requests/s behind a 20 ms upstream: directly, through one router process (--workers 1)
 *      and through N processes (--workers N, default the number of cores), each with its ratio to direct;
 *   2. 512 concurrent streams of 64 chunks 20 ms apart, directly and through the N-process router: time to
 *      first byte (p50, p99, and what the router adds) and stalls (a gap of more than 500 ms between two
 *      chunks, or a stream that did not finish).
 *
 *   npx tsx bench/router.ts [--workers N] [--duration 10] [--rounds 2] [--connections 256] [--streams 512] [--chunks 64]
 *
 * The upstream is a stub (node:http, fixed answers after 20 ms; SSE chunks every 20 ms), the routers are
 * the real CLI (`modelshift router --no-temporal`), the load generator is wrk when installed (Debian's
 * `wrk`), else autocannon, closed loop over --connections connections. Paths take turns in a rotating
 * order, `rounds` times, so drift on a shared machine hits all alike.
 *
 * Other runs:
 *   --overhead      the latency the router adds at a fixed offered rate (autocannon; see overhead() below)
 *   --ratio-reads   Temporal requests per second for --routers 20 routers × --targets 10 targets, on a dev
 *                   server of its own with metrics ([--relay]: routers 2…R follow router 1, --ratio-from)
 *   --idle-cpu      CPU per second of a router whose Temporal cannot be reached (the fail-static poller)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Dispatcher } from 'undici';

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

/**
 * Router overhead: latency added by the router in front of the simulator (zero simulated latency), against
 * the simulator directly, at a fixed offered rate with autocannon (`overallRate`), with a minimal node:http +
 * undici proxy (the "floor") beside it. `--overhead [--rate 1000] [--duration 10] [--connections 32] [--rounds 3] [--stream] [--no-floor] [--profile DIR]`.
 */
async function overhead(): Promise<void> {
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

// ---------------------------------------------------------------- issue 16: throughput and streams
const STUB_DELAY_MS = 20;

/** The upstream: a fixed chat completion 20 ms after the request; with stream: true, --chunks SSE chunks 20 ms apart. */
async function childStub(): Promise<void> {
  const { createServer } = await import('node:http');
  const chunks = arg('chunks', 64);
  const json = JSON.stringify({
    id: 'chatcmpl-stub',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4.1',
    choices: [{ index: 0, message: { role: 'assistant', content: 'A one-sentence summary.' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 20, completion_tokens: 6, total_tokens: 26 },
  });
  const chunk = (i: number) =>
    `data: {"id":"chatcmpl-stub","object":"chat.completion.chunk","created":1,"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":"token ${i} "},"finish_reason":null}]}\n\n`;
  const server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      if (!Buffer.concat(body).includes('"stream":true')) {
        setTimeout(
          () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) }).end(json),
          STUB_DELAY_MS,
        );
        return;
      }
      let i = 0;
      const next = () => {
        if (res.destroyed) return;
        if (i === 0) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(chunk(i++));
        if (i < chunks) setTimeout(next, STUB_DELAY_MS);
        else res.end('data: {"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":64}}\n\ndata: [DONE]\n\n');
      };
      setTimeout(next, STUB_DELAY_MS);
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 4096, () => resolve()));
  process.on('message', (m: { type: string }) => m.type === 'stop' && server.close(() => process.exit(0)));
  process.send!({ type: 'ready', url: `http://127.0.0.1:${(server.address() as { port: number }).port}/v1` });
}

/** `modelshift router --no-temporal --workers N` as a real process tree; resolves with its URL once every process listens. */
async function cliRouter(upstream: string, workers: number): Promise<{ child: ChildProcess; url: string }> {
  const { spawn } = await import('node:child_process');
  const child = spawn(
    process.execPath,
    [
      'bin/modelshift.js',
      'router',
      '--no-temporal',
      '--workers',
      String(workers),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--target',
      'chat-default=gpt-4.1',
    ],
    {
      env: { ...process.env, GATEWAY_BASE_URL: upstream, GATEWAY_API_KEY: SIM_KEY, ROUTER_API_KEYS: ROUTER_KEY },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let err = '';
    child.once('exit', (code) => reject(new Error(`router exited ${code}: ${err}`)));
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      for (const line of String(d).split('\n')) {
        if (!line.includes('"router listening"')) continue;
        const l = JSON.parse(line) as { url: string; workers?: number };
        if (workers === 1 || l.workers) resolve({ child, url: l.url });
      }
    });
  });
}

interface Sustained {
  rps: number;
  bad: number;
}

/** Closed-loop load for `seconds` over `connections` connections: wrk when installed, else autocannon. */
async function sustained(url: string, key: string, model: string, seconds: number, connections: number): Promise<Sustained> {
  const { spawnSync } = await import('node:child_process');
  if (spawnSync('wrk', ['--version']).error === undefined) {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const script = `${mkdtempSync(`${os.tmpdir()}/wrk-`)}/post.lua`;
    writeFileSync(
      script,
      `wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer ${key}"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/chat/completions", nil, '{"model":"${model}","user":"user-' .. (n % 5000) .. '","messages":[{"role":"user","content":"Summarise request ' .. n .. ' in one sentence."}]}')
end
`,
    );
    const r = spawnSync('wrk', ['-t2', `-c${connections}`, `-d${seconds}s`, '-s', script, url.replace(/\/v1$/, '')], { encoding: 'utf8' });
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0);
    const bad =
      Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0) +
      Number(/Socket errors: [^\n]*timeout (\d+)/.exec(r.stdout)?.[1] ?? 0);
    return { rps, bad };
  }
  let n = 0;
  const inst = autocannon({
    url: `${url}/chat/completions`,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (req: Record<string, unknown>) => ({
          ...req,
          body: JSON.stringify({ model, user: `user-${n++ % 5000}`, messages: [{ role: 'user', content: 'hi' }] }),
        }),
      },
    ],
  });
  inst.on('response', () => undefined);
  const r = await inst;
  return { rps: r.requests.total / r.duration, bad: r.errors + r.non2xx };
}

interface StreamRun {
  ttfb: number[];
  stalls: number;
  unfinished: number;
}

/**
 * `count` concurrent streams over `agent` (a client's connection pool: warm when it has run this before):
 * each one's time to first byte, and how many stalled (a gap > 500 ms) or did not finish.
 */
async function streams(agent: Dispatcher, url: string, key: string, model: string, count: number, chunks: number): Promise<StreamRun> {
  const { request } = await import('undici');
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'stream please' }], stream: true });
  const one = async (i: number) => {
    const t0 = performance.now();
    let first = 0;
    let last = t0;
    let maxGap = 0;
    let text = '';
    try {
      const r = await request(`${url}/chat/completions`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-modelshift-user': `s${i}` },
        body,
      });
      for await (const c of r.body) {
        const now = performance.now();
        if (!first) first = now - t0;
        else maxGap = Math.max(maxGap, now - last);
        last = now;
        text += c;
      }
    } catch {
      return { ttfb: first, stalled: true, finished: false };
    }
    const finished = text.includes('[DONE]') && text.split('chat.completion.chunk').length - 1 === chunks;
    return { ttfb: first, stalled: maxGap > 500, finished };
  };
  const rs = await Promise.all(Array.from({ length: count }, (_, i) => one(i)));
  return {
    ttfb: rs.map((r) => r.ttfb).sort((a, b) => a - b),
    stalls: rs.filter((r) => r.stalled).length,
    unfinished: rs.filter((r) => !r.finished).length,
  };
}

async function scale(): Promise<void> {
  const workers = arg('workers', os.availableParallelism());
  const seconds = arg('duration', 10);
  const rounds = arg('rounds', 2);
  const connections = arg('connections', 256);
  const nStreams = arg('streams', 512);
  const chunks = arg('chunks', 64);
  const stub = await start('stub', ['--chunks', String(chunks)]);
  const one = await cliRouter(stub.url, 1);
  const many = await cliRouter(stub.url, workers);
  const tool = (await import('node:child_process')).spawnSync('wrk', ['--version']).error === undefined ? 'wrk' : 'autocannon';
  const paths = [
    { name: 'client → upstream (direct)', url: stub.url, key: SIM_KEY, model: 'gpt-4.1', runs: [] as Sustained[] },
    { name: 'client → router, 1 process → upstream', url: one.url, key: ROUTER_KEY, model: 'chat-default', runs: [] as Sustained[] },
    {
      name: `client → router, ${workers} processes → upstream`,
      url: many.url,
      key: ROUTER_KEY,
      model: 'chat-default',
      runs: [] as Sustained[],
    },
  ];
  try {
    for (const p of paths) await sustained(p.url, p.key, p.model, 2, connections); // warm-up: JIT, keep-alive pools
    for (let i = 0; i < rounds; i++)
      for (const p of [...paths.slice(i % paths.length), ...paths.slice(0, i % paths.length)])
        p.runs.push(await sustained(p.url, p.key, p.model, seconds, connections));
    const rps = (p: (typeof paths)[number]) => p.runs.reduce((a, r) => a + r.rps, 0) / p.runs.length;
    const direct = rps(paths[0]);
    // each path with a client pool of its own, warmed by one round of the same streams (as a client that
    // keeps its connections: the measured round opens none, on either side of the router)
    const { Agent } = await import('undici');
    const run = async (url: string, key: string, model: string) => {
      const agent = new Agent({
        connections: nStreams,
        pipelining: 1,
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
        keepAliveTimeout: 60_000,
      });
      await streams(agent, url, key, model, nStreams, chunks);
      const measured = await streams(agent, url, key, model, nStreams, chunks);
      await agent.close();
      return measured;
    };
    const sd = await run(stub.url, SIM_KEY, 'gpt-4.1');
    const s1 = await run(one.url, ROUTER_KEY, 'chat-default');
    const sr = await run(many.url, ROUTER_KEY, 'chat-default');
    const ratio = rps(paths[2]) / direct;
    const added = pct(sr.ttfb, 99) - pct(sd.ttfb, 99);
    const lines = [
      `### Router at scale — ${STUB_DELAY_MS} ms upstream, ${connections} connections, ${seconds} s × ${rounds} rounds (${tool}); node ${process.version}, ${os.cpus().length} cores, load avg ${os.loadavg()[0].toFixed(2)} at end`,
      '',
      '| path | req/s | ratio to direct | errors+non-2xx |',
      '| --- | ---: | ---: | ---: |',
      ...paths.map((p) => `| ${p.name} | ${f(rps(p))} | ${(rps(p) / direct).toFixed(2)} | ${p.runs.reduce((a, r) => a + r.bad, 0)} |`),
      '',
      `Goal: ${workers} processes ≥ 0.8× direct — ${ratio >= 0.8 ? 'met' : 'NOT met'} (${ratio.toFixed(2)}×).`,
      '',
      `${nStreams} concurrent streams of ${chunks} chunks ${STUB_DELAY_MS} ms apart:`,
      '',
      '| path | TTFB p50 ms | TTFB p99 ms | added TTFB p99 ms | stalls (gap > 500 ms) | unfinished |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      `| direct | ${f(pct(sd.ttfb, 50))} | ${f(pct(sd.ttfb, 99))} |  | ${sd.stalls} | ${sd.unfinished} |`,
      `| router, 1 process | ${f(pct(s1.ttfb, 50))} | ${f(pct(s1.ttfb, 99))} | ${f(pct(s1.ttfb, 99) - pct(sd.ttfb, 99))} | ${s1.stalls} | ${s1.unfinished} |`,
      `| router, ${workers} processes | ${f(pct(sr.ttfb, 50))} | ${f(pct(sr.ttfb, 99))} | **${f(added)}** | ${sr.stalls} | ${sr.unfinished} |`,
      '',
      `Goal: added TTFB p99 ≤ 50 ms and no stall — ${added <= 50 && sr.stalls === 0 && sr.unfinished === 0 ? 'met' : 'NOT met'}.`,
    ];
    console.log(lines.join('\n'));
  } finally {
    for (const r of [one, many]) r.child.kill('SIGTERM');
    await stop(stub.child);
  }
}

// ---------------------------------------------------------------- issue 16: what ratio reads cost Temporal
const quietLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Counters of the dev server's /metrics, summed by name and operation. */
async function serverCounters(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(service_requests|persistence_requests|visibility_persistence_requests)\{([^}]*)\} ([\d.e+]+)$/.exec(line);
    if (!m) continue;
    const op = /operation="([^"]*)"/.exec(m[2])?.[1] ?? '';
    const service = /service_name="([^"]*)"/.exec(m[2])?.[1] ?? '';
    if (m[1] === 'service_requests' && service && service !== 'frontend') continue; // what clients ask the frontend
    const key = `${m[1]} ${op}`;
    out.set(key, (out.get(key) ?? 0) + Number(m[3]));
  }
  return out;
}

/** A dev server of its own (metrics on), a worker, the simulator, `targets` running rollouts at 50 %. */
async function rolloutsOnADevServer(targets: number) {
  const { spawn } = await import('node:child_process');
  const { ensureTemporalCli } = await import('../src/temporal/cli');
  const { ROLLOUT_SEARCH_ATTRIBUTES } = await import('../src/rollout/contract');
  const cli = (await ensureTemporalCli(() => undefined)).path!;
  const [port, metricsPort] = [await freePort(), await freePort()];
  const attrs = ROLLOUT_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${k.type === 'INT' ? 'Int' : 'Keyword'}`]);
  const server = spawn(
    cli,
    [
      'server',
      'start-dev',
      '--headless',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--metrics-port',
      String(metricsPort),
      '--log-level',
      'error',
      ...attrs,
    ],
    {
      stdio: 'ignore',
    },
  );
  const address = `127.0.0.1:${port}`;
  const { Client, Connection } = await import('@temporalio/client');
  const { NativeConnection } = await import('@temporalio/worker');
  let connection: Awaited<ReturnType<typeof Connection.connect>> | undefined;
  for (let i = 0; !connection; i++)
    connection = await Connection.connect({ address }).catch(async (e) =>
      i > 100 ? Promise.reject(e) : void (await new Promise((r) => setTimeout(r, 200))),
    );
  const { startSimulator } = await import('../src/sim');
  const sim = await startSimulator({
    latencyScale: 0,
    seed: 3,
    models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } },
  });
  process.env.GATEWAY_BASE_URL = sim.url;
  process.env.GATEWAY_API_KEY = sim.apiKey;
  const { createWorker } = await import('../src/worker');
  const native = await NativeConnection.connect({ address });
  const worker = await createWorker({ connection: native, namespace: 'default', taskQueue: 'bench-reads' });
  const running = worker.run();
  const client = new Client({ connection, namespace: 'default' });
  const { RolloutClient } = await import('../src/rollout/client');
  const { parseSpec } = await import('../src/rollout/spec');
  const { statusQuery, rolloutWorkflowId } = await import('../src/rollout/contract');
  const names = Array.from({ length: targets }, (_, i) => `bench-target-${i}`);
  for (const target of names)
    await new RolloutClient(client, 'bench-reads').start(
      parseSpec({
        target,
        blue: { model: 'gpt-4.1' },
        green: { model: 'gpt-4.1-turbo' },
        plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 20, concurrency: 10 },
        rateLimit: { requestsPerMinute: 100_000 },
        retry: { attempts: 2, minBackoff: '50ms', maxBackoff: '200ms' },
      }),
    );
  for (const target of names)
    for (;;) {
      const st = await client.workflow
        .getHandle(rolloutWorkflowId(target))
        .query(statusQuery)
        .catch(() => undefined);
      if (st?.phase === 'ramping' && st.greenPercent === 50) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  return {
    address,
    names,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    async close() {
      for (const target of names)
        await client.workflow
          .getHandle(rolloutWorkflowId(target))
          .terminate('bench done')
          .catch(() => undefined);
      worker.shutdown();
      await running;
      await native.close();
      await connection!.close();
      await sim.close();
      server.kill('SIGTERM');
    },
  };
}

/**
 * `--ratio-reads [--routers 20] [--targets 10] [--duration 30] [--relay]`: R routers (each with its own
 * connection, as R hosts would) serving the same T targets, idle; what they ask of Temporal per second,
 * from the server's own counters. Run it in a checkout of an older commit to measure that one.
 */
async function ratioReads(): Promise<void> {
  const R = arg('routers', 20);
  const T = arg('targets', 10);
  const seconds = arg('duration', 30);
  const relay = process.argv.includes('--relay');
  const env = await rolloutsOnADevServer(T);
  const { Connection } = await import('@temporalio/client');
  const { createRouter } = await import('../src/router');
  const { TemporalRatioSource } = await import('../src/router/temporal-source');
  const routers = [];
  const connections = [];
  for (let i = 0; i < R; i++) {
    const connection = await Connection.connect({ address: env.address });
    connections.push(connection);
    const router = createRouter({
      targets: Object.fromEntries(env.names.map((n) => [n, { blue: { model: 'gpt-4.1' } }])),
      gateway: { baseURL: 'http://127.0.0.1:9/v1' },
      apiKeys: [ROUTER_KEY],
      ratioSource: new TemporalRatioSource({ connection, namespace: 'default' }),
      logger: quietLog,
    });
    routers.push({ router, url: (await router.listen(0, '127.0.0.1')).url.replace(/\/v1$/, '') });
  }
  const followers: Array<{ close(): Promise<void> }> = [];
  if (relay) {
    const { RatioFollower } = await import('../src/router/follow');
    for (const r of routers.slice(1)) {
      const f = new RatioFollower({ from: routers[0].url, key: ROUTER_KEY, tracker: r.router.tracker, log: quietLog });
      f.start();
      followers.push(f);
    }
  }
  try {
    await new Promise((r) => setTimeout(r, 5_000)); // every router past its first reads
    const before = await serverCounters(env.metricsUrl);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const after = await serverCounters(env.metricsUrl);
    const elapsed = (performance.now() - t0) / 1000;
    const rate = (k: string) => ((after.get(k) ?? 0) - (before.get(k) ?? 0)) / elapsed;
    const keys = [...after.keys()].filter((k) => rate(k) > 0.05).sort((a, b) => rate(b) - rate(a));
    const sum = (prefix: string) => keys.filter((k) => k.startsWith(prefix)).reduce((a, k) => a + rate(k), 0);
    console.log(
      [
        `### Ratio reads: ${R} routers × ${T} targets, idle, ${relay ? `routers 2…${R} following router 1 (--ratio-from)` : 'each reading Temporal'} — ${f(elapsed)} s on a dev server (Temporal ${'1.29'} CLI start-dev, SQLite)`,
        '',
        '| per second | requests |',
        '| --- | ---: |',
        `| frontend requests (all) | ${f(sum('service_requests '))} |`,
        ...keys.filter((k) => k.startsWith('service_requests ')).map((k) => `| — ${k.slice('service_requests '.length)} | ${f(rate(k))} |`),
        `| visibility store requests (all) | ${f(sum('visibility_persistence_requests '))} |`,
        ...keys
          .filter((k) => k.startsWith('visibility_persistence_requests '))
          .map((k) => `| — ${k.slice('visibility_persistence_requests '.length)} | ${f(rate(k))} |`),
        `| execution store requests (all) | ${f(sum('persistence_requests '))} |`,
        ...keys
          .filter((k) => k.startsWith('persistence_requests '))
          .slice(0, 6)
          .map((k) => `| — ${k.slice('persistence_requests '.length)} | ${f(rate(k))} |`),
      ].join('\n'),
    );
  } finally {
    for (const fl of followers) await fl.close();
    for (const r of routers) await r.router.close();
    for (const c of connections) await c.close();
    await env.close();
  }
}

/** `--idle-cpu [--duration 20] [--targets 10]`: CPU per second of an idle router whose Temporal cannot be reached. */
async function idleCpu(): Promise<void> {
  const seconds = arg('duration', 20);
  const T = arg('targets', 10);
  const { Connection } = await import('@temporalio/client');
  const { createRouter } = await import('../src/router');
  const { TemporalRatioSource } = await import('../src/router/temporal-source');
  const dead = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 300 });
  const router = createRouter({
    targets: Object.fromEntries(Array.from({ length: T }, (_, i) => [`t${i}`, { blue: { model: 'gpt-4.1' } }])),
    gateway: { baseURL: 'http://127.0.0.1:9/v1' },
    ratioSource: new TemporalRatioSource({ connection: dead }),
    logger: quietLog,
  });
  await new Promise((r) => setTimeout(r, 5_000)); // past start-up and the first failures
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const used = process.cpuUsage(cpu);
  const s = (performance.now() - t0) / 1000;
  console.log(
    `idle router, ${T} targets, Temporal unreachable: ${f((used.user + used.system) / 1000 / s)} ms of CPU per second (${f(s)} s)`,
  );
  await router.close();
  await new Promise((r) => setTimeout(r, 1_500));
  await dead.close().catch(() => undefined);
  process.exit(0);
}

const mode = process.argv[2];
if (mode === 'sim') await childSim();
else if (mode === 'router') await childRouter(process.argv[3]);
else if (mode === 'floor') await childFloor(process.argv[3]);
else if (mode === 'stub') await childStub();
else if (process.argv.includes('--overhead')) await overhead();
else if (process.argv.includes('--ratio-reads')) await ratioReads();
else if (process.argv.includes('--idle-cpu')) await idleCpu();
else await scale();
