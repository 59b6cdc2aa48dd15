/**
 * One upstream call of a chat completion, and the header rules every upstream call follows.
 *
 * Attempt is an undici dispatch handler: response bytes go straight from the upstream socket to the
 * client (no intermediate stream objects), JSON or SSE alike, and the last TAIL_BYTES are kept to read
 * the usage from. An upstream error body is collected (up to 64 KiB, decoded if compressed), scrubbed of
 * the router's key and passed on — except 401/403, which say the ROUTER's key is wrong and become a 502
 * of our own. With
 * `canFallback` (green), a failure before anything reached the client is returned instead of answered,
 * so the caller can serve the request from blue.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { brotliDecompressSync, constants as zlib, gunzipSync, inflateSync } from 'node:zlib';
import type { Dispatcher } from 'undici';
import type { Arm } from './assign';
import { headerLookup, modelInText, substitution } from '../gateway/substitution';
import { usageFromTail } from './body';
import type { RouterContext } from './context';
import { errors, send } from './errors';
import { failedOutcome, type ErrorClass, type Outcome } from './live-stats';
import type { ResolvedArm } from './upstreams';

/** Headers that belong to one connection, never forwarded either way (`host` is the upstream's own). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
  'host',
]);
/**
 * Request headers never forwarded on pass-through, besides HOP_BY_HOP: authorization (the client's key
 * is the router's business; the upstream gets the router's), accept-encoding (error bodies are
 * scrubbed of the upstream key, which needs them uncompressed) and expect (undici refuses
 * `expect: 100-continue`; node:http has already answered the client's). `x-modelshift-*` stay here too.
 */
const NOT_FORWARDED = new Set(['authorization', 'accept-encoding', 'expect']);
/** Green statuses below 500 that still send the request to blue. */
const FALLBACK_STATUSES = new Set([401, 403, 404, 408, 409, 429]);
const TAIL_BYTES = 2048;
/** Of a green answer, the first bytes are kept too: its `model` (JSON body or first SSE chunk) is there. */
const HEAD_BYTES = 2048;
/** An upstream error body is read up to this many bytes (and decoded up to as many), the rest never. */
export const MAX_ERROR_BODY = 65_536;

class ClientGoneError extends Error {
  override name = 'ClientGoneError';
}

/** Green answered with a status that sends the request to blue: its body is not wanted. */
class FallbackAbort extends Error {
  override name = 'FallbackAbort';
}

const noop = () => undefined;

/** Abort an upstream body we will not read (an unhandled 'error' from destroy would crash the process). */
export function discard(body: { on(ev: 'error', fn: () => void): unknown; destroy(): unknown }): void {
  body.on('error', noop);
  body.destroy();
}

export function classifyStatus(status: number): ErrorClass {
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'server';
  return 'bad_request';
}

export function classifyNetworkError(err: unknown): ErrorClass {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT')
    return 'timeout';
  return 'connection';
}

/** Request headers of a chat completion: the router's own, plus the client's accept and x-request-id. */
export function chatRequestHeaders(req: IncomingMessage, authorization: string): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept: (req.headers.accept as string | undefined) ?? 'application/json',
    authorization,
  };
  const rid = req.headers['x-request-id'];
  if (typeof rid === 'string') h['x-request-id'] = rid;
  return h;
}

/** Request headers of a pass-through call: the client's, less the rules above, with the router's key. */
export function forwardedRequestHeaders(req: IncomingMessage, authorization: string): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  // headers the client's `connection` header names are hop-by-hop too (RFC 9110 §7.6.1)
  const connection = req.headers.connection;
  const named = connection
    ? new Set(
        connection
          .toLowerCase()
          .split(',')
          .map((t) => t.trim()),
      )
    : undefined;
  for (const k in req.headers) {
    const v = req.headers[k];
    if (v === undefined || HOP_BY_HOP.has(k) || NOT_FORWARDED.has(k) || k.startsWith('x-modelshift-') || named?.has(k)) continue;
    headers[k] = v;
  }
  headers.authorization = authorization;
  return headers;
}

/** The upstream's response headers less HOP_BY_HOP, with `extra` set on top. */
export function responseHeaders(
  src: Record<string, string | string[] | undefined>,
  extra: Record<string, string>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in src) {
    const v = src[k];
    if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  }
  for (const k in extra) out[k] = extra[k];
  return out;
}

/** The router's key replaced wherever an upstream quotes it (keys shorter than 4 characters are left). */
export function scrub(text: string, secret: string): string {
  if (secret.length >= 4 && text.includes(secret)) text = text.split(secret).join('[redacted]');
  return text;
}

/**
 * An upstream error body as text, so it can be scrubbed of the key: decoded when the upstream compressed
 * it (gzip, deflate, br — a cut-off body as far as it goes), at most MAX_ERROR_BODY bytes either way.
 * Undefined when it cannot be read (another encoding, broken data): then it must not be passed on.
 */
export function errorBodyText(chunks: Buffer[], encoding: string | string[] | undefined): string | undefined {
  const raw = Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY);
  const enc = (Array.isArray(encoding) ? encoding.join(',') : (encoding ?? '')).trim().toLowerCase();
  const opts = { maxOutputLength: MAX_ERROR_BODY, finishFlush: zlib.Z_SYNC_FLUSH };
  try {
    if (enc === '' || enc === 'identity') return raw.toString('utf8');
    if (enc === 'gzip' || enc === 'x-gzip') return gunzipSync(raw, opts).toString('utf8');
    if (enc === 'deflate') return inflateSync(raw, opts).toString('utf8');
    if (enc === 'br')
      return brotliDecompressSync(raw, { maxOutputLength: MAX_ERROR_BODY, finishFlush: zlib.BROTLI_OPERATION_FLUSH }).toString('utf8');
  } catch {
    // too large once decoded, or not what it says it is
  }
  return undefined;
}

/**
 * Answer an upstream error: its status, its headers (less hop-by-hop, content-encoding and -length, plus
 * `extra`) and its body decoded, capped and scrubbed of `secret` — or, when the body cannot be read, an
 * error of the router's own with the same status.
 */
export function sendUpstreamError(
  res: ServerResponse,
  status: number,
  upstreamHeaders: Record<string, string | string[] | undefined>,
  chunks: Buffer[],
  secret: string,
  extra: Record<string, string>,
): void {
  if (res.destroyed || res.headersSent) return void res.destroy();
  const text = errorBodyText(chunks, upstreamHeaders['content-encoding']);
  if (text === undefined) return send(res, errors.upstreamUnreadable(status));
  const safe = scrub(text, secret);
  const headers = responseHeaders(upstreamHeaders, extra);
  delete headers['content-encoding'];
  headers['content-length'] = String(Buffer.byteLength(safe));
  res.writeHead(status, headers);
  res.end(safe);
}

function armHeaders(arm: Arm | '', model: string): Record<string, string> {
  return arm ? { 'x-modelshift-arm': arm, 'x-modelshift-model': model } : { 'x-modelshift-model': model };
}

/**
 * Watches one attempt's answer (the shadow mirror's capture of blue, src/shadow/mirror.ts): the chunks
 * as they go to the client, then the outcome once the client has the whole answer. Never delays either.
 */
export interface AnswerTap {
  data(chunk: Buffer): void;
  end(status: number | string, outcome: Outcome): void;
}

export type AttemptResult = { done: true } | { done: false; errorClass: ErrorClass; status: number | string; latencyMs: number };

export interface AttemptSpec {
  resolved: ResolvedArm;
  /** full upstream path, e.g. `/v1/chat/completions` */
  path: string;
  /** the request body as sent upstream */
  body: string;
  /** '' for a model that is no target (then `arm` is '' too) */
  target: string;
  arm: Arm | '';
  /** return a failure before the first byte instead of answering it (green: the caller retries on blue) */
  canFallback: boolean;
  /** when the router received the request (performance.now()) */
  started: number;
  /** sees the answer as it passes (a shadow mirror's capture of blue's answer) */
  tap?: AnswerTap;
}

/** The parts of the router an attempt reports to. */
type Sink = Pick<RouterContext, 'record' | 'metrics' | 'cost' | 'substituted'>;

/** POST the body upstream; resolves once the client has its answer, or with the failure to fall back on. */
export function attempt(ctx: Sink, req: IncomingMessage, res: ServerResponse, spec: AttemptSpec): Promise<AttemptResult> {
  return new Promise<AttemptResult>((resolve) => {
    const handler = new Attempt(ctx, res, spec, resolve);
    const up = spec.resolved.up;
    up.pool.dispatch(
      {
        origin: up.origin,
        path: spec.path,
        method: 'POST',
        headers: chatRequestHeaders(req, spec.resolved.authorization),
        body: spec.body,
      },
      handler,
    );
  });
}

export class Attempt implements Dispatcher.DispatchHandler {
  private readonly t0 = performance.now();
  private mode: 'wait' | 'pass' | 'error' | 'done' = 'wait';
  private status = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  /** the last chunks, at least TAIL_BYTES of them once there are that many (decoded only at the end) */
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private head: Buffer[] | undefined;
  private headBytes = 0;
  private errChunks: Buffer[] | undefined;
  private errBytes = 0;
  private controller: Dispatcher.DispatchController | undefined;

  constructor(
    private readonly ctx: Sink,
    private readonly res: ServerResponse,
    private readonly spec: AttemptSpec,
    private readonly resolve: (r: AttemptResult) => void,
  ) {
    res.once('close', this.onClientClose);
  }

  private readonly onClientClose = (): void => {
    if (this.mode === 'done' || this.res.writableFinished) return;
    this.controller?.abort(new ClientGoneError());
  };

  private readonly onDrain = (): void => this.controller?.resume();

  private finish(result: AttemptResult): void {
    this.mode = 'done';
    this.res.off('close', this.onClientClose);
    this.res.off('drain', this.onDrain);
    this.resolve(result);
  }

  private record(status: number | string, outcome: Outcome): void {
    const s = this.spec;
    this.ctx.record(s.target, s.arm, s.resolved.model, status, outcome, s.started);
    s.tap?.end(status, outcome);
  }

  private fail(errorClass: ErrorClass, status: number | string): void {
    this.record(status, failedOutcome(errorClass, performance.now() - this.t0));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.res.destroyed) controller.abort(new ClientGoneError());
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    this.controller = controller;
    this.status = status;
    this.headers = headers;
    if (status >= 400) {
      if (this.spec.canFallback && (status >= 500 || FALLBACK_STATUSES.has(status))) {
        // the status decides: retry on blue now, without waiting for (or reading) green's error body
        this.finish({ done: false, errorClass: classifyStatus(status), status, latencyMs: performance.now() - this.t0 });
        controller.abort(new FallbackAbort());
        return;
      }
      this.mode = 'error';
      this.errChunks = [];
      return;
    }
    if (this.res.destroyed) {
      controller.abort(new ClientGoneError());
      return;
    }
    this.mode = 'pass';
    if (this.spec.arm === 'green') this.head = [];
    this.res.writeHead(status, responseHeaders(headers, armHeaders(this.spec.arm, this.spec.resolved.model)));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.mode === 'pass') {
      this.tail.push(chunk);
      this.tailBytes += chunk.length;
      while (this.tailBytes - this.tail[0].length >= TAIL_BYTES) this.tailBytes -= this.tail.shift()!.length;
      if (this.head && this.headBytes < HEAD_BYTES) {
        this.head.push(chunk.subarray(0, HEAD_BYTES - this.headBytes));
        this.headBytes += Math.min(chunk.length, HEAD_BYTES - this.headBytes);
      }
      this.spec.tap?.data(chunk);
      if (!this.res.write(chunk)) {
        controller.pause();
        this.res.once('drain', this.onDrain);
      }
    } else if (this.mode === 'error') {
      this.errChunks!.push(chunk);
      this.errBytes += chunk.length;
      if (this.errBytes >= MAX_ERROR_BODY) {
        // enough to answer with: the rest is never read
        this.onResponseEnd();
        controller.abort(new FallbackAbort());
      }
    }
  }

  onResponseEnd(): void {
    const latencyMs = performance.now() - this.t0;
    if (this.mode === 'pass') {
      this.res.end();
      const tail = this.tailText();
      const usage = usageFromTail(tail);
      const inputTokens = usage?.inputTokens ?? 0;
      const outputTokens = usage?.outputTokens ?? 0;
      const costUsd = this.ctx.cost(this.spec.resolved.model, inputTokens, outputTokens);
      // Another model answered for green (a gateway fallback): the user keeps the answer, green the failure.
      const swapped = this.head && this.substitution(tail);
      if (swapped) this.ctx.substituted(this.spec.target, this.spec.resolved.model, swapped);
      const ok = swapped === undefined;
      this.record(this.status, { ok, errorClass: ok ? undefined : 'substituted', latencyMs, inputTokens, outputTokens, costUsd });
      this.finish({ done: true });
    } else if (this.mode === 'error') {
      this.fail(classifyStatus(this.status), this.status);
      this.sendUpstreamError();
      this.finish({ done: true });
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.mode === 'done') return;
    const latencyMs = performance.now() - this.t0;
    if (err instanceof ClientGoneError) {
      // the user went away (closed the tab): not the arm's fault, so metrics only — never the live
      // aggregate that feeds the rollout's verdict
      const s = this.spec;
      this.ctx.metrics.observe(s.target, s.arm || 'passthrough', s.resolved.model, 'client_closed', (performance.now() - s.started) / 1000);
      if (this.mode === 'pass') this.res.destroy();
      this.finish({ done: true });
      return;
    }
    const errorClass = classifyNetworkError(err);
    if (this.mode === 'pass') {
      // the client already has part of the answer: all we can do is cut it off
      this.fail(errorClass, errorClass);
      this.res.destroy();
      this.finish({ done: true });
      return;
    }
    if (this.spec.canFallback) {
      this.finish({ done: false, errorClass, status: errorClass, latencyMs });
      return;
    }
    this.fail(errorClass, errorClass);
    send(this.res, errorClass === 'timeout' ? errors.upstreamTimeout() : errors.upstreamUnreachable());
    this.finish({ done: true });
  }

  /** The last TAIL_BYTES of the answer, as text (where the usage is). */
  private tailText(): string {
    const all = this.tail.length === 1 ? this.tail[0] : Buffer.concat(this.tail);
    return all.toString('latin1', Math.max(0, all.length - TAIL_BYTES));
  }

  /** Why the answer came from another model than the arm's, if anything says so (src/gateway/substitution.ts). */
  private substitution(tail: string): string | undefined {
    const answered = modelInText(Buffer.concat(this.head ?? []).toString('utf8')) ?? modelInText(tail);
    return substitution(this.spec.resolved.model, answered, headerLookup(this.headers));
  }

  private sendUpstreamError(): void {
    if (this.status === 401 || this.status === 403) return send(this.res, errors.upstreamAuth());
    const extra = armHeaders(this.spec.arm, this.spec.resolved.model);
    sendUpstreamError(this.res, this.status, this.headers, this.errChunks ?? [], this.spec.resolved.secret, extra);
  }
}
