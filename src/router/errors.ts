/**
 * Every error the router answers itself, in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
 * Handlers pick one by name (`send(res, errors.badJson())`); status, type and code live only here.
 * Errors the upstream answered are passed through (scrubbed), not rebuilt from this list.
 */
import type { ServerResponse } from 'node:http';
import type { Arm } from './assign';
import type { ArmProblemCode } from './policy';

export type ErrorType = 'invalid_request_error' | 'server_error' | 'upstream_error';

export class ApiError {
  constructor(
    readonly status: number,
    readonly message: string,
    readonly type: ErrorType,
    readonly code: string | null,
    /** response headers besides content-type and content-length */
    readonly headers: Record<string, string> = {},
  ) {}

  /** The JSON body (`param` is always null). */
  body(): string {
    return JSON.stringify({ error: { message: this.message, type: this.type, param: null, code: this.code } });
  }
}

const invalidRequest = (status: number, message: string, code: string | null, headers?: Record<string, string>) =>
  new ApiError(status, message, 'invalid_request_error', code, headers);
const upstream = (status: number, message: string, code: string) => new ApiError(status, message, 'upstream_error', code);

/** What the message says about a refused arm, by the refusal's code. */
function refusal(code: ArmProblemCode): string {
  if (code === 'no_upstream') return 'it has no upstream gateway';
  if (code === 'upstream_origin_not_allowed') return 'its baseURL is not an allowed origin';
  return 'its key variable is not allowed or not set';
}

export const errors = {
  // ---- the client's request ----
  unknownPath: (path: string) => invalidRequest(404, `Unknown path ${path}.`, 'unknown_url'),
  unauthorized: () =>
    invalidRequest(401, 'Incorrect API key provided. Use a key from ROUTER_API_KEYS as the Bearer token.', 'invalid_api_key', {
      'www-authenticate': 'Bearer',
    }),
  malformedPath: () => invalidRequest(400, 'The request path has a malformed percent-encoding.', 'invalid_path'),
  dotSegmentPath: () => invalidRequest(400, 'The request path may not contain "." or ".." segments.', 'invalid_path'),
  pathOutsideV1: () => invalidRequest(400, 'The request path must stay under /v1/.', 'invalid_path'),
  /** a chat completion is created by POST only; any other method on its path is refused, never passed through */
  methodNotAllowed: (method: string, path: string) =>
    invalidRequest(405, `${method} is not allowed on ${path}; use POST.`, 'method_not_allowed', { allow: 'POST' }),
  /** sent with `connection: close`: the rest of the body is never read */
  bodyTooLarge: (maxBytes: number) =>
    invalidRequest(413, `Request body larger than ${maxBytes} bytes.`, 'request_too_large', { connection: 'close' }),
  badJson: () => invalidRequest(400, 'We could not parse the JSON body of your request.', null),
  bodyNotObject: () => invalidRequest(400, 'The request body must be a JSON object.', null),
  missingModel: () => invalidRequest(400, 'You must provide a model parameter.', 'missing_model'),

  // ---- the router itself ----
  classifierFailed: () => new ApiError(500, 'The request classifier failed.', 'server_error', 'classifier_failed'),
  internal: () => new ApiError(500, 'The router failed to handle the request.', 'server_error', null),
  metricsFailed: () => new ApiError(500, 'metrics failed', 'server_error', null),

  // ---- the upstream ----
  noUpstream: () => upstream(502, 'No upstream gateway is configured.', 'no_upstream'),
  noUpstreamForModel: () => upstream(502, 'No upstream gateway is configured for this model.', 'no_upstream'),
  /** an arm the router may not call (see policy.ts); details go to the log, never to the client */
  armRefused: (arm: Arm, target: string, code: ArmProblemCode) =>
    upstream(502, `The router cannot call the ${arm} arm of "${target}": ${refusal(code)}. See the router's log.`, code),
  /** the gateway rejected the ROUTER's credentials: not the client's business, and its message may quote the key */
  upstreamAuth: () => upstream(502, "The upstream gateway rejected the router's credentials.", 'upstream_auth'),
  upstreamUnreachable: () => upstream(502, 'The upstream gateway could not be reached.', 'upstream_unreachable'),
  upstreamTimeout: () => upstream(504, 'The upstream model did not answer in time.', 'upstream_timeout'),
  /** an upstream error whose body the router cannot check for its key (an unknown or broken content-encoding) */
  upstreamUnreadable: (status: number) =>
    new ApiError(status, `The upstream gateway answered ${status}; its body could not be read.`, 'upstream_error', 'upstream_error'),
};

/** Answer with `err`; when a response is already under way (or the client is gone) all that is left is to cut it off. */
export function send(res: ServerResponse, err: ApiError): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const text = err.body();
  res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...err.headers });
  res.end(text);
}
