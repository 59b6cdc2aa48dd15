/** Helpers for tests and benchmarks on a running native stack (src/stack): sim admin, routers, rollouts. */
import { spawn } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { RolloutClient } from '../../src/rollout/client';
import { rolloutWorkflowId, type RolloutResult } from '../../src/rollout/contract';
import { parseSpec, type RolloutSpec } from '../../src/rollout/spec';
import { Stack } from '../../src/stack/stack';

export interface StackClient {
  connection: Connection;
  client: Client;
  rollouts: RolloutClient;
  close(): Promise<void>;
}

export async function connectStack(stack: Stack): Promise<StackClient> {
  const connection = await Connection.connect({ address: stack.address });
  const client = new Client({ connection, namespace: stack.settings.namespace });
  return { connection, client, rollouts: new RolloutClient(client, stack.settings.taskQueue), close: () => connection.close() };
}

/** Add (or change) a simulator model through its admin endpoint. */
export async function simModel(stack: Stack, model: string, profile: Record<string, unknown>): Promise<void> {
  const base = stack.gatewayUrl.replace(/\/v1$/, '');
  const r = await fetch(`${base}/admin/models/${encodeURIComponent(model)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${stack.settings.gatewayApiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(profile),
  });
  if (!r.ok) throw new Error(`sim admin ${model}: ${r.status} ${await r.text()}`);
}

/** A spec on the stack's gateway: only fields whose meaning is settled (steps, dwell, concurrency, limits). */
export function stackSpec(
  target: string,
  blue: string,
  green: string,
  plan: { steps: number[]; dwell: string; concurrency?: number },
): RolloutSpec {
  return parseSpec({
    target,
    blue: { model: blue },
    green: { model: green },
    plan: { steps: plan.steps, dwell: plan.dwell, concurrency: plan.concurrency ?? 20 },
    rateLimit: { requestsPerMinute: 100_000 },
    retry: { attempts: 2, minBackoff: '50ms', maxBackoff: '200ms' },
    request: { timeout: '10s' },
  });
}

/** A target's ratio and phase as one router serves it (/healthz). */
export async function routerTarget(stack: Stack, k: number, target: string): Promise<{ greenPercent: number; phase: string } | undefined> {
  try {
    const r = await fetch(`${stack.routerUrl(k)}/healthz`, { signal: AbortSignal.timeout(2_000) });
    const body = (await r.json()) as { targets: Record<string, { greenPercent: number; phase: string }> };
    return body.targets[target];
  } catch {
    return undefined;
  }
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
}

/**
 * The result of a rollout, waiting through a server or database restart: polls describe() (any error is
 * a server not back yet) until the workflow is closed, then reads the result.
 */
export async function closedResult(sc: StackClient, target: string, timeoutMs: number): Promise<RolloutResult> {
  const handle = sc.client.workflow.getHandle(rolloutWorkflowId(target));
  await until(
    `${target} to close`,
    async () => {
      const d = await handle.describe();
      return d.status.name !== 'RUNNING' && d.status.name !== 'CONTINUED_AS_NEW';
    },
    timeoutMs,
    500,
  );
  return (await handle.result()) as RolloutResult;
}

/** One chat request through a router; the arm it was served by (x-modelshift-arm), or the error. */
export async function chat(
  url: string,
  model: string,
  user: string,
): Promise<{ ok: boolean; status: number; arm?: string; error?: string }> {
  try {
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, user, messages: [{ role: 'user', content: 'What is 2+2?' }], max_tokens: 16 }),
      signal: AbortSignal.timeout(10_000),
    });
    await r.arrayBuffer();
    return { ok: r.ok, status: r.status, arm: r.headers.get('x-modelshift-arm') ?? undefined };
  } catch (err) {
    return { ok: false, status: 0, error: (err as Error).message };
  }
}

/** `modelshift <args>` as a user runs it. */
export function modelshift(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, ['bin/modelshift.js', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (process.env.STACK_TEST_VERBOSE) process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? -1, stdout, stderr });
    });
  });
}
