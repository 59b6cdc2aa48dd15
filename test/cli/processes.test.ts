/**
 * The product as processes: the worker stops cleanly on SIGTERM, the embedded server keeps rollouts
 * across a restart (SQLite), and `npm start`'s demo runs both rollouts with its Web UI answering.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { describe, expect, inject, it } from 'vitest';
import { startDevServer } from '../../src/temporal/devserver';
import { testSpec, uniqueTarget } from '../helpers/rollout';
import { RolloutClient } from '../../src/rollout/client';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MODELSHIFT_LOG_LEVEL: 'ERROR', ...extra };
  for (const k of ['GATEWAY_BASE_URL', 'GATEWAY_API_KEY', 'HOLYSHEEP_BASE_URL', 'HOLYSHEEP_API_KEY']) if (!(k in extra)) delete env[k];
  return env;
}

describe('processes', () => {
  it('`modelshift worker` polls, then stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, ['bin/modelshift.js', 'worker'], {
      env: cleanEnv({
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TASK_QUEUE: `sigterm-${Date.now()}`,
        GATEWAY_BASE_URL: 'http://127.0.0.1:9/v1',
        GATEWAY_API_KEY: 'x',
      }),
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    for (let i = 0; i < 300 && !stderr.includes('polling task queue'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(stderr).toContain('polling task queue');
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(0);
    expect(stderr).toContain('modelshift worker: stopped');
  }, 60_000);

  it('`modelshift status` with no worker, and with no Temporal server reachable: one line on stderr, exit 1, no stack trace', async () => {
    const address = inject('temporalAddress');
    const connection = await Connection.connect({ address });
    const target = uniqueTarget('status-nobody');
    const taskQueue = `nobody-polls-${Date.now()}`;
    const rollouts = new RolloutClient(new Client({ connection }), taskQueue);
    await rollouts.start(testSpec({ target }));
    try {
      const status = (env: Record<string, string>) =>
        new Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>((resolve) => {
          const started = Date.now();
          const child = spawn(process.execPath, ['bin/modelshift.js', 'status', target], {
            env: cleanEnv({ TASK_QUEUE: taskQueue, ...env }),
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d) => (stdout += d));
          child.stderr.on('data', (d) => (stderr += d));
          const guard = setTimeout(() => child.kill('SIGKILL'), 90_000);
          child.once('close', (code) => (clearTimeout(guard), resolve({ code, stdout, stderr, ms: Date.now() - started })));
        });
      const [noWorker, noServer] = await Promise.all([
        status({ TEMPORAL_ADDRESS: address }),
        status({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` }),
      ]);
      for (const [what, r] of [
        ['no worker', noWorker],
        ['no server', noServer],
      ] as const) {
        expect(r.code, `${what}: ${r.stderr}`).toBe(1);
        expect(r.stderr, `${what}: one line`).toMatch(/^modelshift: [^\n]+\n$/);
        expect(r.stderr, `${what}: no stack trace`).not.toMatch(/^\s+at\s|node:internal|\.[cm]?[jt]s:\d+:\d+/m);
        expect(r.stdout, what).toBe('');
        // It ends on its own, well before the SDK's own retries would print anything (~25 s was seen).
        expect(r.ms, `${what}: it exited on its own`).toBeLessThan(60_000);
      }
      expect(noWorker.stderr).toContain(
        `no worker answered for ${target} within 10s; is \`modelshift worker\` running on task queue ${taskQueue}?`,
      );
      expect(noServer.stderr).toMatch(/Temporal is not reachable at 127\.0\.0\.1:\d+/);
    } finally {
      await rollouts
        .handle(target)
        .terminate('test done')
        .catch(() => undefined);
      await connection.close();
    }
  }, 120_000);

  it('the embedded server keeps a running rollout across a restart (SQLite in the state folder)', async () => {
    const db = join(mkdtempSync(join(tmpdir(), 'modelshift-state-')), 'temporal.sqlite');
    const port = await freePort();
    const spec = testSpec({ target: uniqueTarget('restart') });
    let server = await startDevServer({ port, dbFilename: db, log: () => undefined });
    await new RolloutClient(new Client({ connection: server.env.connection }), 'nobody-polls-this').start(spec);
    await server.stop();
    server = await startDevServer({ port, dbFilename: db, log: () => undefined });
    try {
      const handle = new Client({ connection: server.env.connection }).workflow.getHandle(`rollout-${spec.target}`);
      const d = await handle.describe();
      expect(d.status.name).toBe('RUNNING');
      await handle.terminate('test done');
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('npm start (the demo) serves the Web UI and ends rollout 1 promoted and rollout 2 rolled back', async () => {
    const [temporalPort, uiPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, ['bin/modelshift.js', 'demo', '--exit'], {
      env: cleanEnv({
        TEMPORAL_PORT: String(temporalPort),
        TEMPORAL_UI_PORT: String(uiPort),
        MODELSHIFT_STATE_DIR: mkdtempSync(join(tmpdir(), 'modelshift-demo-')),
      }),
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    let uiStatus = 0;
    const exit = new Promise<number | null>((r) => child.once('exit', r));
    while (uiStatus !== 200 && child.exitCode === null) {
      uiStatus = await fetch(`http://localhost:${uiPort}/`).then(
        (r) => r.status,
        () => 0,
      );
      await new Promise((r) => setTimeout(r, 500));
    }
    const code = await exit;
    expect(uiStatus, 'the Web UI answered while the demo ran').toBe(200);
    expect(code, out.slice(-2000)).toBe(0);
    expect(out).toMatch(/→ promoted: all 4 steps passed/);
    expect(out).toMatch(/injected: gpt-4\.1-turbo now fails 30% of requests/);
    expect(out).toMatch(/→ rolled_back: failed verdict at \d+% green/);
    expect(out).toMatch(/live traffic judged beside the probes: blue \d+ \/ green [1-9]\d* requests from the router/);
  }, 300_000);
});
