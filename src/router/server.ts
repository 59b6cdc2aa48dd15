/**
 * The router: an OpenAI-compatible HTTP endpoint in front of the gateway that sends each request
 * for a rollout target to blue or green by the rollout's current ratio, sticky per user.
 *
 * Reading order for a request: routes.ts (the route table, client key and path checks) → a handler in
 * handlers/ → attempt.ts (one upstream call) — all on a RouterContext (context.ts) built once here, with
 * the key/origin policy in policy.ts and every error the router answers itself in errors.ts.
 *
 * Hot-path rules: one keep-alive undici Pool per upstream origin (created once), the request body is
 * read once and forwarded as the client's text with only the top-level `model` value replaced,
 * responses (JSON or SSE) are passed through chunk by chunk, and outcomes are aggregated in memory.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RouterContext } from './context';
import { errors, send } from './errors';
import type { Router, RouterOptions } from './options';
import { dispatch } from './routes';

export function createRouter(options: RouterOptions = {}): Router {
  const ctx = new RouterContext(options);
  const { log } = ctx;
  const ready = ctx.tracker.start().then(() => {
    ctx.isReady = true;
  });
  ctx.live.start();
  ctx.shadowBatches.start();
  if (ctx.settings.open)
    log.warn('ROUTER IS OPEN: no client keys configured (set ROUTER_API_KEYS); anyone who can reach it can use the gateway keys it holds');

  /** The request listener: nothing thrown while handling a request may reach the server (and kill the process). */
  function handler(req: IncomingMessage, res: ServerResponse): void {
    try {
      dispatch(ctx, req, res);
    } catch (err) {
      try {
        log.error('request failed', {
          path: String(req.url ?? '')
            .split('?')[0]
            .slice(0, 200),
          error: (err as Error)?.message,
        });
      } catch {
        log.error('request failed', { error: String((err as Error)?.message) });
      }
      try {
        req.resume();
        send(res, errors.internal());
      } catch {
        res.destroy();
      }
    }
  }

  let server: Server | undefined;
  return {
    handler,
    ready,
    metrics: ctx.metrics,
    tracker: ctx.tracker,
    live: ctx.live,
    shadow: ctx.shadow,
    route: (model, user) => ctx.route(model, user),
    async listen(port = 4000, host = '0.0.0.0') {
      server = createServer({ keepAliveTimeout: 65_000, noDelay: true }, handler);
      server.headersTimeout = 66_000;
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, host, () => resolve());
      });
      const addr = server.address() as AddressInfo;
      const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      const url = `http://${shown}:${addr.port}/v1`;
      log.info('router listening', { url, targets: [...ctx.settings.targets.keys()], open: ctx.settings.open });
      return { port: addr.port, url, server };
    },
    async close() {
      if (ctx.closing) return;
      ctx.closing = true;
      ctx.tracker.stop();
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeIdleConnections();
        });
      }
      await ctx.shadow.close(); // mirrors in flight finish (briefly), the last shadow batches go out
      await ctx.live.close();
      await ctx.source.close?.();
      await ctx.pools.close();
    },
  };
}
