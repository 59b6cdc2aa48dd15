/**
 * Probes, served without a client key and for any method:
 * - /healthz: each target's ratio, phase, arms and whether its ratio is stale (status `degraded` when one is),
 *   in the shadow phase its shadow orders, and which process answered (pid, worker number, requests it has
 *   seen, shadow mirrors queued and in flight)
 * - /readyz: 200 once every target's ratio was read (or after 5 s of failed reads: fail static), 503 before that and while closing
 * - /metrics: the router's Prometheus registry (in a cluster: every process's, merged by the primary)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouterContext } from '../context';
import { errors, send } from '../errors';

export function healthz(ctx: RouterContext, _req: IncomingMessage, res: ServerResponse): void {
  const text = JSON.stringify(health(ctx));
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function health(ctx: RouterContext): {
  status: string;
  open: boolean;
  process: { pid: number; worker: number; requests: number; shadow: { queued: number; inFlight: number } };
  targets: Record<string, unknown>;
} {
  const { tracker } = ctx;
  const targets: Record<string, unknown> = {};
  let degraded = false;
  for (const [name, s] of tracker.states) {
    const stale = tracker.isStale(name);
    if (stale) degraded = true;
    const age = tracker.ageSeconds(name);
    const a = ctx.arms(name);
    targets[name] = {
      greenPercent: a?.percent ?? 0,
      phase: s.snapshot?.phase ?? (s.snapshot === null ? 'none' : 'unknown'),
      blue: a?.blue.model,
      green: a?.green?.model,
      stale,
      ratioAgeSeconds: Number.isFinite(age) ? Math.round(age * 1000) / 1000 : null,
      lastError: s.lastError,
      // the shadow phase: what the rollout asks, and whether this router mirrors now (not while its ratio is stale)
      shadow: s.snapshot?.phase === 'shadow' ? { ...s.snapshot.shadow, mirroring: !!ctx.activeShadow(name) } : undefined,
    };
  }
  const proc = { pid: process.pid, worker: ctx.settings.workerId, requests: ctx.requestsSeen, shadow: ctx.shadow.load };
  return { status: degraded ? 'degraded' : 'ok', open: ctx.settings.open, process: proc, targets };
}

export function readyz(ctx: RouterContext, _req: IncomingMessage, res: ServerResponse): void {
  const ok = ctx.isReady && !ctx.closing;
  res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
  res.end(ok ? 'ready\n' : 'not ready\n');
}

export function metrics(ctx: RouterContext, _req: IncomingMessage, res: ServerResponse): void {
  const { registry } = ctx.metrics;
  (ctx.settings.metricsText ?? (() => registry.metrics()))().then(
    (text) => {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    },
    () => send(res, errors.metricsFailed()),
  );
}
