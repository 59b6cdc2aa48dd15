/**
 * Every other /v1/* path (files, embeddings, models/:id of the gateway, …): streamed through unchanged
 * to the blue gateway with the router's key — the x-modelshift-target header picks a target's blue
 * upstream instead. The path was checked by routes.ts (normalised, under /v1/, no dot segments).
 * The body limit (maxBodyBytes) holds here too: a larger declared length is a 413 before anything is
 * sent; a chunked body that grows past it is cut off upstream and answered 413; either way the
 * connection is closed. Error bodies are read up to 64 KiB, decoded when compressed and scrubbed of the
 * key; a 401/403 (the router's key is wrong) becomes a 502.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Transform, type TransformCallback } from 'node:stream';
import type { Dispatcher } from 'undici';
import { classifyNetworkError, discard, forwardedRequestHeaders, MAX_ERROR_BODY, responseHeaders, sendUpstreamError } from '../attempt';
import { BodyTooLargeError } from '../body';
import type { RouterContext } from '../context';
import { errors, send } from '../errors';
import { ArmProblem } from '../policy';
import type { ForwardedCall } from '../routes';
import type { ResolvedArm } from '../upstreams';

type Destination = Omit<ResolvedArm, 'model'>;

/** The client's body on its way upstream, cut off (an error) past `max` bytes. */
class LimitedBody extends Transform {
  private bytes = 0;
  tooLarge = false;

  constructor(private readonly max: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes <= this.max) return cb(null, chunk);
    this.tooLarge = true;
    cb(new BodyTooLargeError());
  }
}

export async function passthrough(ctx: RouterContext, req: IncomingMessage, res: ServerResponse, call: ForwardedCall): Promise<void> {
  const max = ctx.settings.maxBodyBytes;
  if (Number(req.headers['content-length']) > max) return ctx.tooLarge(req, res, call.started); // refused before any byte goes out
  const d = destination(ctx, req, res, call.started);
  if (d === null) return; // refused (answered)
  if (!d) return ctx.answer(res, errors.noUpstream(), call.started);
  const pathAndQuery = call.url.pathname + call.url.search;
  const body = req.method !== 'GET' && req.method !== 'HEAD' ? new LimitedBody(max) : undefined;
  if (body) {
    req.on('error', (err) => body.destroy(err));
    req.pipe(body);
  }
  let r: Dispatcher.ResponseData;
  try {
    r = await d.up.pool.request({
      path: d.up.basePath + pathAndQuery.slice(3), // '/v1/x?y' → basePath + '/x?y'
      method: req.method as 'GET',
      headers: forwardedRequestHeaders(req, d.authorization),
      body,
    });
  } catch (err) {
    if (body?.tooLarge) return ctx.tooLarge(req, res, call.started); // chunked past the limit: the upstream got a broken request
    ctx.metrics.observe('', 'passthrough', '', classifyNetworkError(err), (performance.now() - call.started) / 1000);
    return send(res, errors.upstreamUnreachable());
  }
  ctx.metrics.observe('', 'passthrough', '', r.statusCode, (performance.now() - call.started) / 1000);
  if (r.statusCode === 401 || r.statusCode === 403) {
    discard(r.body);
    return send(res, errors.upstreamAuth());
  }
  if (r.statusCode >= 400) return passError(res, r, d.secret);
  if (res.destroyed) return discard(r.body);
  res.writeHead(r.statusCode, responseHeaders(r.headers, {}));
  r.body.on('error', () => res.destroy());
  r.body.pipe(res);
  res.once('close', () => {
    if (!res.writableFinished) discard(r.body);
  });
}

/** An upstream error: at most MAX_ERROR_BODY bytes of it are read, decoded and scrubbed of the key; the rest never. */
async function passError(res: ServerResponse, r: Dispatcher.ResponseData, secret: string): Promise<void> {
  const chunks: Buffer[] = [];
  let n = 0;
  r.body.on('error', () => undefined);
  try {
    for await (const c of r.body) {
      chunks.push(c as Buffer);
      n += (c as Buffer).length;
      if (n >= MAX_ERROR_BODY) break; // leaving the loop destroys the rest of the body
    }
  } catch {
    // cut off mid-body: answer with what arrived
  }
  sendUpstreamError(res, r.statusCode, r.headers, chunks, secret, {});
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
