/**
 * The route table: every path the router answers, in the order they are tried, and the two checks
 * that guard them.
 *
 *   any    /healthz /readyz /metrics     probes: no client key            handlers/health.ts
 *   GET    /modelshift/ratios            ratios for following routers     handlers/ratios.ts (client key)
 *   (anything else outside /v1/ → 404 unknown_url)
 *   ── from here on the client key (ROUTER_API_KEYS as Bearer) is required → 401 invalid_api_key
 *   POST   /v1/chat/completions          blue/green by the rollout's ratio handlers/chat.ts
 *          (also spelled /v1/chat/completions/, /v1//chat/completions, %2F, any case: every request
 *          a gateway might read as a chat completion is routed; any other method on it → 405)
 *   GET    /v1/models                    targets + the gateway's list     handlers/models.ts
 *   ── from here on the path is forwarded, so it must stay under /v1/ → 400 invalid_path
 *   GET    /v1/models/:id (a target)     the target's entry               handlers/models.ts
 *   any    /v1/*                         the blue gateway, unchanged      handlers/passthrough.ts
 *
 * Exact routes match the path as sent (before `?`); forwarded ones match the normalised path.
 * Requests answered here without reaching an upstream (400, 401, 404, 405) are counted in /metrics
 * (arm "router").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { RouterContext } from './context';
import { ApiError, errors, send } from './errors';
import { chat } from './handlers/chat';
import { healthz, metrics, readyz } from './handlers/health';
import { isTargetModelPath, listModels, retrieveModel } from './handlers/models';
import { passthrough } from './handlers/passthrough';
import { RATIOS_PATH, ratios } from './handlers/ratios';

export interface Call {
  /** performance.now() when the request arrived */
  started: number;
  /** the path as sent, without the query */
  path: string;
}

export interface ForwardedCall extends Call {
  /** the checked, normalised URL (pathname under /v1/, search as sent) */
  url: URL;
}

export type Handler<C extends Call = Call> = (
  ctx: RouterContext,
  req: IncomingMessage,
  res: ServerResponse,
  call: C,
) => void | Promise<void>;

interface ForwardedRoute {
  /** any method when absent */
  method?: string;
  prefix: string;
  /** the route is taken only when this holds */
  when?: (ctx: RouterContext, url: URL) => boolean;
  handler: Handler<ForwardedCall>;
}

// (Maps, not object literals: a path such as "constructor" must not find Object.prototype's.)
const PROBES = new Map<string, Handler>([
  ['/healthz', healthz],
  ['/readyz', readyz],
  ['/metrics', metrics],
]);

/** "METHOD path" → handler */
const API = new Map<string, Handler>([['GET /v1/models', listModels]]);

const CHAT_PATH = '/v1/chat/completions';

const FORWARDED: ForwardedRoute[] = [
  { method: 'GET', prefix: '/v1/models/', when: isTargetModelPath, handler: retrieveModel },
  { prefix: '/v1/', handler: passthrough },
];

/** A dot segment (after percent-decoding), or a backslash a server might treat as a separator. */
const DOT_SEGMENT = /(?:^|[/\\])\.{1,2}(?:[/\\]|$)|\\/;

/** Route one request. Synchronous throws reach the caller (server.ts answers them with a 500). */
export function dispatch(ctx: RouterContext, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  ctx.requestsSeen++;
  // shutting down: a keep-alive client must not keep this connection busy (server.close() waits for it)
  if (ctx.closing) res.setHeader('connection', 'close');
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const probe = PROBES.get(path);
  if (probe) return void probe(ctx, req, res, { started, path });
  if (path === RATIOS_PATH && req.method === 'GET') {
    if (!authorized(ctx, req)) return refuse(ctx, req, res, errors.unauthorized(), started);
    return settle(ctx, res, path, ratios(ctx, req, res));
  }
  if (!path.startsWith('/v1/')) return refuse(ctx, req, res, errors.unknownPath(path), started);
  if (!authorized(ctx, req)) return refuse(ctx, req, res, errors.unauthorized(), started);
  if (isChatPath(path)) {
    if (req.method !== 'POST') return refuse(ctx, req, res, errors.methodNotAllowed(String(req.method), CHAT_PATH), started);
    return settle(ctx, res, path, chat(ctx, req, res, { started, path }));
  }
  const api = API.get(`${req.method} ${path}`);
  if (api) return settle(ctx, res, path, api(ctx, req, res, { started, path }));
  const checked = checkForwardedPath(url, path);
  if (checked instanceof ApiError) return refuse(ctx, req, res, checked, started);
  const route = FORWARDED.find(
    (r) => (!r.method || r.method === req.method) && checked.pathname.startsWith(r.prefix) && (!r.when || r.when(ctx, checked)),
  )!;
  settle(ctx, res, path, route.handler(ctx, req, res, { started, path, url: checked }));
}

/** Answered here, the body unread: counted in /metrics, never forwarded. */
function refuse(ctx: RouterContext, req: IncomingMessage, res: ServerResponse, err: ApiError, started: number): void {
  req.resume();
  ctx.answer(res, err, started);
}

/**
 * Whether a gateway might take the path for a chat completion: decoded (%2F too), repeated and trailing
 * slashes collapsed, any case. Such a request must never reach the gateway as a pass-through: it would
 * skip the ratio (and reach green, or blue, whatever the rollout says).
 */
export function isChatPath(path: string): boolean {
  if (path === CHAT_PATH) return true;
  let p = path;
  try {
    p = decodeURIComponent(path);
  } catch {
    // a malformed encoding: checked (400) as a forwarded path
  }
  return (
    p
      .replace(/[/\\]+/g, '/')
      .replace(/\/+$/, '')
      .toLowerCase() === CHAT_PATH
  );
}

/** Open router (no keys configured): everyone. Else a Bearer token that is one of the client keys (constant time). */
function authorized(ctx: RouterContext, req: IncomingMessage): boolean {
  if (ctx.settings.open) return true;
  const h = req.headers.authorization;
  if (!h || h.length < 8 || h.slice(0, 7).toLowerCase() !== 'bearer ') return false;
  return ctx.settings.clientKeys.accepts(h.slice(7).trim());
}

/**
 * A path forwarded with the gateway's key must stay under /v1/ as the upstream will read it: no dot
 * segments, encoded (%2e%2e, ..%2f) or not, no backslashes. The normalised URL, or the 400 to answer.
 */
function checkForwardedPath(url: string, path: string): URL | ApiError {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return errors.malformedPath();
  }
  if (DOT_SEGMENT.test(decoded)) return errors.dotSegmentPath();
  const u = new URL(url, 'http://router.invalid');
  if (!u.pathname.startsWith('/v1/')) return errors.pathOutsideV1();
  return u;
}

/** A handler that fails after its first await: logged, and answered 500 if nothing was sent yet. */
function settle(ctx: RouterContext, res: ServerResponse, path: string, p: void | Promise<void>): void {
  p?.catch((err) => {
    ctx.log.error('request failed', { path, error: (err as Error).message });
    send(res, errors.internal());
  });
}
