/**
 * GET /modelshift/ratios?since=<version>&wait=<ms> (client key required): this router's ratio for each
 * target, for routers that follow it (`--ratio-from`) instead of reading Temporal themselves — one
 * reader for a fleet, so the reads Temporal answers grow with the targets, not with routers × targets.
 *
 * A long poll: with `since` (the version of the last answer) it is answered as soon as anything a router
 * serves changes (a ratio, a phase, the arms, stale or not), at the latest after `wait` ms (at most
 * 30 s; default 0 = at once). The version is this process's; an answer from another process of the reader
 * (another cluster worker) has another one and is answered at once.
 *
 *   { "version": "4711:12", "targets": { "chat-default": { snapshot, percent, ageMs, lastError, consecutiveFailures } } }
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouterContext } from '../context';
import type { SharedRatioState } from '../ratio';

export const RATIOS_PATH = '/modelshift/ratios';
const MAX_WAIT_MS = 30_000;

export interface RatiosAnswer {
  version: string;
  targets: Record<string, SharedRatioState>;
}

export async function ratios(ctx: RouterContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  req.resume();
  const q = new URL(req.url ?? '/', 'http://router.invalid').searchParams;
  const wait = Math.min(MAX_WAIT_MS, Math.max(0, Number(q.get('wait')) || 0));
  const [pid, v] = (q.get('since') ?? '').split(':');
  const since = Number(v);
  const { tracker } = ctx;
  if (wait > 0 && pid === String(process.pid) && Number.isFinite(since) && since >= tracker.version && !ctx.closing) {
    let gone = false;
    res.once('close', () => (gone = true));
    await tracker.changed(since, wait);
    if (gone) return;
  }
  const targets: Record<string, SharedRatioState> = {};
  for (const name of tracker.states.keys()) targets[name] = tracker.share(name)!;
  const text = JSON.stringify({ version: `${process.pid}:${tracker.version}`, targets } satisfies RatiosAnswer);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
