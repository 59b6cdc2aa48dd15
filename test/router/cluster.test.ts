/**
 * `modelshift router --workers 2` as a real process tree against the dev server, a real worker and the
 * simulator: two router processes on one port serve the same ratio, the live outcomes of both reach the
 * rollout once (not once per process, none lost), /metrics answers for both, an abort reaches both
 * within a second of the workflow's own change, and SIGTERM stops the whole router cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { inject } from 'vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignArm } from '../../src/router/assign';
import { abortSignal } from '../../src/rollout/contract';
import { startSimulator, type Simulator } from '../../src/sim';
import { startTestRollout, status, testSpec, uniqueTarget, waitForStatus } from '../helpers/rollout';
import { connectTestTemporal, startTestWorker, uniqueTaskQueue, type TestTemporal } from '../helpers/temporal';

const CLIENT_KEY = 'cluster-client-key';
let t: TestTemporal;
let sim: Simulator;
let stopWorker: () => Promise<void>;
const queue = uniqueTaskQueue('cluster');

beforeAll(async () => {
  sim = await startSimulator({ latencyScale: 0, seed: 11, models: { 'gpt-4.1': { errorRate: 0 }, 'gpt-4.1-turbo': { errorRate: 0 } } });
  process.env.GATEWAY_BASE_URL = sim.url;
  process.env.GATEWAY_API_KEY = sim.apiKey;
  t = await connectTestTemporal();
  stopWorker = (await startTestWorker(t, queue)).stop;
});
afterAll(async () => {
  await stopWorker?.();
  await t?.close();
  await sim?.close();
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** One request on a connection of its own (so the cluster hands each to the next process). */
function call(port: number, path: string, body?: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: body === undefined ? 'GET' : 'POST',
        agent: false,
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json', connection: 'close' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface Health {
  process: { pid: number; worker: number; requests: number };
  targets: Record<string, { greenPercent: number; phase: string; stale: boolean }>;
}
const health = async (port: number) => JSON.parse((await call(port, '/healthz')).text) as Health;

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function startRouter(port: number, target: string): { child: ChildProcess; output: () => string } {
  const child = spawn(
    process.execPath,
    ['bin/modelshift.js', 'router', '--workers', '2', '--port', String(port), '--host', '127.0.0.1', '--target', `${target}=gpt-4.1`],
    {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TEMPORAL_NAMESPACE: 'default',
        GATEWAY_BASE_URL: sim.url,
        GATEWAY_API_KEY: sim.apiKey,
        ROUTER_API_KEYS: CLIENT_KEY,
        ROUTER_REPORT_INTERVAL_SECONDS: '1',
        ROUTER_POLL_INTERVAL_MS: '100',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, output: () => out };
}

describe('router with --workers 2', () => {
  it('two processes on one port: the same ratio, live counts reported once, /metrics for both, abort → 0 % within 1 s', async () => {
    const target = uniqueTarget('cluster');
    const spec = testSpec({ target, plan: { steps: [50, 100], dwell: '1h', samplesPerStep: 50, concurrency: 25 } });
    const handle = await startTestRollout(t.client, queue, spec);
    await waitForStatus(t.client, target, (s) => s.phase === 'ramping' && s.greenPercent === 50, 120_000);
    const port = await freePort();
    const router = startRouter(port, target);
    const exited = new Promise<number | null>((r) => router.child.once('exit', (code) => r(code)));
    try {
      // both processes up, each serving the rollout's 50 %
      const pids = new Map<number, Health>();
      await until('both router processes at 50 %', async () => {
        const h = await health(port);
        if (h.targets[target]?.greenPercent === 50) pids.set(h.process.pid, h);
        return pids.size === 2 ? true : undefined;
      });

      const N = 200;
      const answers = [];
      for (let i = 0; i < N; i += 20)
        answers.push(
          ...(await Promise.all(
            Array.from({ length: 20 }, (_, j) =>
              call(
                port,
                '/v1/chat/completions',
                JSON.stringify({ model: target, user: `u${i + j}`, messages: [{ role: 'user', content: 'hi' }] }),
              ),
            ),
          )),
        );
      let green = 0;
      answers.forEach((a, i) => {
        expect(a.status).toBe(200);
        const arm = a.headers['x-modelshift-arm'];
        expect(arm, `u${i}: the arm the ratio gives, whichever process answered`).toBe(assignArm(target, 50, `u${i}`));
        if (arm === 'green') green++;
      });
      const served = new Map<number, number>();
      await until('a health answer from each process', async () => {
        const h = await health(port);
        served.set(h.process.pid, h.process.requests);
        return served.size === 2 ? true : undefined;
      });
      expect(
        [...served.values()].every((n) => n > 20),
        `both processes served requests: ${JSON.stringify([...served])}`,
      ).toBe(true);

      // the rollout got every request once: not twice (two processes), none lost
      const live = await waitForStatus(t.client, target, (s) => s.live.blue.requests + s.live.green.requests >= N, 60_000);
      await new Promise((r) => setTimeout(r, 3_000)); // three more report intervals: nothing is sent again
      const after = await status(t.client, target);
      expect(after.live.blue.requests + after.live.green.requests).toBe(N);
      expect(after.live.green.requests).toBe(green);
      expect(live.live.batches).toBeLessThanOrEqual(after.live.batches);

      // /metrics from either process counts both
      const metrics = (await call(port, '/metrics')).text;
      const counted = [...metrics.matchAll(new RegExp(`modelshift_router_requests_total\\{target="${target}",[^}]*\\} (\\d+)`, 'g'))];
      expect(counted.reduce((n, m) => n + Number(m[1]), 0)).toBe(N);

      // abort: both processes at 0 % within a second of the workflow's own change
      const sentAt = Date.now();
      await handle.signal(abortSignal, { reason: 'cluster test' });
      const seenAt = new Map<number, number>();
      const [changedAt, routerAt] = await Promise.all([
        until('the workflow rolled back', async () => ((await status(t.client, target)).phase === 'rolled_back' ? Date.now() : undefined)),
        until('both processes at 0 %', async () => {
          const h = await health(port);
          if (h.targets[target].greenPercent === 0 && h.targets[target].phase === 'rolled_back' && !seenAt.has(h.process.pid))
            seenAt.set(h.process.pid, Date.now());
          return seenAt.size === 2 ? Math.max(...seenAt.values()) : undefined;
        }),
      ]);
      expect(
        routerAt - changedAt,
        `abort sent at +0, workflow changed at +${changedAt - sentAt} ms, both processes at 0 % at +${routerAt - sentAt} ms`,
      ).toBeLessThan(1_000);
      for (let i = 0; i < 20; i++) {
        const a = await call(
          port,
          '/v1/chat/completions',
          JSON.stringify({ model: target, user: `u${i}`, messages: [{ role: 'user', content: 'x' }] }),
        );
        expect(a.headers['x-modelshift-arm']).toBe('blue');
      }
    } finally {
      router.child.kill('SIGTERM');
    }
    expect(await exited, router.output()).toBe(0);
  }, 300_000);
});
