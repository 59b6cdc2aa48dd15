/**
 * Every other /v1/* path (files, embeddings, models/:id of the gateway, …): streamed through unchanged
 * to the blue gateway with the router's key — the x-modelshift-target header picks a target's blue
 * upstream instead. The path was checked by routes.ts (normalised, under /v1/, no dot segments).
 * Error bodies are scrubbed of the key; a 401/403 (the router's key is wrong) becomes a 502.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { classifyNetworkError, discard, forwardedRequestHeaders, responseHeaders, scrub } from '../attempt';
import type { RouterContext } from '../context';
import { errors, send } from '../errors';
import { ArmProblem } from '../policy';
import type { ForwardedCall } from '../routes';
import type { ResolvedArm } from '../upstreams';

type Destination = Omit<ResolvedArm, 'model'>;

export async function passthrough(ctx: RouterContext, req: IncomingMessage, res: ServerResponse, call: ForwardedCall): Promise<void> {
  const d = destination(ctx, req, res, call.started);
  if (d === null) return; // refused (answered)
  if (!d) return send(res, errors.noUpstream());
  const pathAndQuery = call.url.pathname + call.url.search;
  const headers = forwardedRequestHeaders(req, d.authorization);
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  try {
    const r = await d.up.pool.request({
      path: d.up.basePath + pathAndQuery.slice(3), // '/v1/x?y' → basePath + '/x?y'
      method: req.method as 'GET',
      headers,
      body: hasBody ? req : undefined,
    });
    ctx.metrics.observe('', 'passthrough', '', r.statusCode, (performance.now() - call.started) / 1000);
    if (r.statusCode === 401 || r.statusCode === 403) {
      await r.body.dump();
      return send(res, errors.upstreamAuth());
    }
    if (r.statusCode >= 400) {
      const safe = scrub(await r.body.text(), d.secret);
      const h = responseHeaders(r.headers, {});
      h['content-length'] = String(Buffer.byteLength(safe));
      res.writeHead(r.statusCode, h);
      res.end(safe);
      return;
    }
    if (res.destroyed) return discard(r.body);
    res.writeHead(r.statusCode, responseHeaders(r.headers, {}));
    r.body.on('error', () => res.destroy());
    r.body.pipe(res);
    res.once('close', () => {
      if (!res.writableFinished) discard(r.body);
    });
  } catch (err) {
    ctx.metrics.observe('', 'passthrough', '', classifyNetworkError(err), (performance.now() - call.started) / 1000);
    send(res, errors.upstreamUnreachable());
  }
}

/**
 * Where the request goes: the blue upstream of the target the x-modelshift-target header names, else
 * the default gateway (undefined: there is none). Null: that target's blue is refused (answered 502).
 */
function destination(ctx: RouterContext, req: IncomingMessage, res: ServerResponse, started: number): Destination | undefined | null {
  const target = req.headers['x-modelshift-target'];
  if (typeof target === 'string' && ctx.isTarget(target)) {
    const a = ctx.arms(target);
    const r = a && ctx.resolveArm(a.blue, ctx.configuredBlue(target));
    if (r instanceof ArmProblem) {
      req.resume();
      ctx.refuseArm(res, r, target, 'blue', a!.blue.model, started);
      return null;
    }
    if (r) return r;
  }
  return ctx.defaultUpstream();
}
