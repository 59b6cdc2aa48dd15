/**
 * GET /v1/models: the rollout targets (names the gateway does not know) first, then the gateway's own
 * list (kept 30 s; the last good one, or none, when the gateway cannot be read).
 * GET /v1/models/:id for a target: its entry. Any other id is the gateway's (see routes.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouterContext } from '../context';
import type { ForwardedCall } from '../routes';

const CACHE_MS = 30_000;
const PREFIX = '/v1/models/';

function sendJson(res: ServerResponse, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const targetEntry = (id: string) => ({ id, object: 'model', created: 0, owned_by: 'modelshift' });

export async function listModels(ctx: RouterContext, _req: IncomingMessage, res: ServerResponse): Promise<void> {
  const targets = targetModels(ctx);
  const ids = new Set(targets.map((t) => t.id));
  const ups = (await upstreamModels(ctx)).filter((m) => !ids.has((m as { id?: string }).id as string));
  sendJson(res, { object: 'list', data: [...targets, ...ups] });
}

/** The configured targets and those a rollout names. */
function targetModels(ctx: RouterContext): Array<Record<string, unknown> & { id: string }> {
  const rollouts = [...ctx.tracker.states.entries()].filter(([, s]) => s.snapshot).map(([t]) => t);
  const names = new Set([...ctx.settings.targets.keys(), ...rollouts]);
  return [...names].map(targetEntry);
}

async function upstreamModels(ctx: RouterContext): Promise<unknown[]> {
  const cache = ctx.modelsCache;
  if (cache && Date.now() - cache.at < CACHE_MS) return cache.data;
  const d = ctx.defaultUpstream();
  if (!d) return [];
  try {
    const r = await d.up.pool.request({
      path: `${d.up.basePath}/models`,
      method: 'GET',
      headers: { authorization: d.authorization, accept: 'application/json' },
      headersTimeout: 5_000,
    });
    if (r.statusCode !== 200) {
      await r.body.dump();
      return ctx.modelsCache?.data ?? [];
    }
    const j = (await r.body.json()) as { data?: unknown[] };
    ctx.modelsCache = { at: Date.now(), data: Array.isArray(j.data) ? j.data : [] };
    return ctx.modelsCache.data;
  } catch {
    return ctx.modelsCache?.data ?? [];
  }
}

/** The target a GET /v1/models/:id path names, if it names one (routes.ts: only then is it ours). */
export function isTargetModelPath(ctx: RouterContext, url: URL): boolean {
  const id = modelId(url);
  return id !== undefined && ctx.isTarget(id);
}

function modelId(url: URL): string | undefined {
  try {
    return decodeURIComponent(url.pathname.slice(PREFIX.length));
  } catch {
    return undefined;
  }
}

export function retrieveModel(_ctx: RouterContext, _req: IncomingMessage, res: ServerResponse, call: ForwardedCall): void {
  sendJson(res, targetEntry(modelId(call.url)!));
}
