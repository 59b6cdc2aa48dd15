// node:http server: auth, routing, connection tracking.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { handleAdmin } from './admin';
import { handleChat, type ChatContext } from './chat';
import { badRequest, errorBody, invalidApiKey, modelNotFound } from './errors';
import { bearerToken, BodyTooLarge, readBody, sendJson } from './http';
import { ownedBy, type ModelRegistry } from './state';

export interface ServerConfig {
  registry: ModelRegistry;
  apiKey: string;
  adminKey: string;
  latencyScale: number;
  log?: (line: string) => void;
}

/**
 * One chat completion as the simulator saw it, in the order of events: `startSeq` when the request
 * arrived, `endSeq` when its response finished (or the connection closed). Both come from one counter,
 * so "B started after A finished" is `B.startSeq > A.endSeq`, whatever the clock says. Numbers only.
 */
export interface SimRequestRecord {
  /** 1, 2, … in arrival order */
  request: number;
  model?: string;
  stream: boolean;
  startSeq: number;
  endSeq?: number;
  /** performance.now() at arrival and at the end */
  startedAt: number;
  endedAt?: number;
  status?: number;
}

/** The request log keeps the last this many chat completions. */
export const REQUEST_LOG_SIZE = 20_000;

export interface RunningServer {
  server: Server;
  /** The chat completions seen so far (the last REQUEST_LOG_SIZE), oldest first. */
  requestLog(): SimRequestRecord[];
  clearRequestLog(): void;
  /** Cancel pending timers, drop hanging requests and open sockets, stop listening. */
  shutdown(): Promise<void>;
}

/** The chat completions seen, numbered in arrival order, each with the order of its end (one event counter). */
class RequestLog {
  private log: SimRequestRecord[] = [];
  private requestNo = 0;
  private eventSeq = 0;

  /** A chat completion arrived: logged now, its model once the body is read, its end when the response closes. */
  arrived(res: ServerResponse): SimRequestRecord {
    const r: SimRequestRecord = { request: ++this.requestNo, stream: false, startSeq: ++this.eventSeq, startedAt: performance.now() };
    this.log.push(r);
    if (this.log.length > REQUEST_LOG_SIZE * 1.25) this.log = this.log.slice(-REQUEST_LOG_SIZE);
    res.once('close', () => {
      r.endSeq = ++this.eventSeq;
      r.endedAt = performance.now();
      r.status = res.statusCode;
    });
    return r;
  }

  /** The model and stream flag, once the body is read (nothing else of it). */
  static describe(entry: SimRequestRecord, body: unknown): void {
    const b = (body ?? {}) as { model?: unknown; stream?: unknown };
    entry.model = typeof b.model === 'string' ? b.model : undefined;
    entry.stream = b.stream === true;
  }

  /** The log's part of the admin API: GET /admin/requests answers here (its status); POST /admin/reset also clears the log. */
  admin(method: string, path: string, res: ServerResponse): number | undefined {
    if (path === '/admin/requests' && method === 'GET') {
      sendJson(res, 200, { requests: this.records() });
      return 200;
    }
    if (path === '/admin/reset' && method === 'POST') this.clear();
    return undefined;
  }

  records(): SimRequestRecord[] {
    return this.log.slice(-REQUEST_LOG_SIZE);
  }

  clear(): void {
    this.log = [];
  }
}

/** What a chat completion needs of the server: ids, timers that die with the response, held responses. */
function chatContext(cfg: ServerConfig, timers: Set<NodeJS.Timeout>, hanging: Set<ServerResponse>): ChatContext {
  let seq = 0;
  return {
    registry: cfg.registry,
    latencyScale: cfg.latencyScale,
    nextId: () => `sim${(++seq).toString(36).padStart(8, '0')}`,
    later(res, ms, fn) {
      if (!(ms > 0)) return fn();
      const cancel = () => {
        clearTimeout(t);
        timers.delete(t);
      };
      const t = setTimeout(() => {
        timers.delete(t);
        res.off('close', cancel);
        fn();
      }, ms);
      timers.add(t);
      res.once('close', cancel);
    },
    hang(res) {
      hanging.add(res);
      res.once('close', () => hanging.delete(res));
    },
  };
}

const NOT_JSON = Symbol('not JSON');
const NOT_JSON_MESSAGE =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";

/** The request's JSON body (undefined when empty), or NOT_JSON. */
async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  if (!text.length) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
}

export function createSimServer(cfg: ServerConfig): RunningServer {
  const timers = new Set<NodeJS.Timeout>();
  const hanging = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  const log = new RequestLog();

  const ctx = chatContext(cfg, timers, hanging);

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<string | number> => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const entry = path === '/v1/chat/completions' && method === 'POST' ? log.arrived(res) : undefined;

    if (path === '/healthz') {
      sendJson(res, 200, { ok: true });
      return 200;
    }
    const isAdmin = path.startsWith('/admin/');
    if (!isAdmin && !path.startsWith('/v1/')) {
      sendJson(res, 404, errorBody(`Invalid URL (${method} ${path})`, 'invalid_request_error', null));
      return 404;
    }
    const key = bearerToken(req);
    if (key !== cfg.apiKey && !(isAdmin && key === cfg.adminKey)) {
      sendJson(res, 401, invalidApiKey(key));
      return 401;
    }

    const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? await jsonBody(req) : undefined;
    if (body === NOT_JSON) {
      sendJson(res, 400, badRequest(NOT_JSON_MESSAGE));
      return 400;
    }

    if (isAdmin) return log.admin(method, path, res) ?? (handleAdmin(cfg.registry, method, path, body, res), res.statusCode);
    if (path === '/v1/chat/completions' && method === 'POST') {
      if (entry) RequestLog.describe(entry, body);
      return handleChat(ctx, res, body ?? {}, key);
    }
    if (path === '/v1/models' && method === 'GET') {
      sendJson(res, 200, { object: 'list', data: cfg.registry.names().map((id) => modelObject(cfg.registry, id)) });
      return 200;
    }
    if (path.startsWith('/v1/models/') && method === 'GET') {
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (!cfg.registry.get(id)) {
        sendJson(res, 404, modelNotFound(id));
        return 404;
      }
      sendJson(res, 200, modelObject(cfg.registry, id));
      return 200;
    }
    sendJson(res, 404, errorBody(`Invalid URL (${method} ${path})`, 'invalid_request_error', null));
    return 404;
  };

  const server = createServer((req, res) => {
    const t0 = cfg.log ? performance.now() : 0;
    route(req, res).then(
      (outcome) => {
        if (!cfg.log) return;
        const line = () =>
          cfg.log!(
            `${req.method} ${req.url} -> ${outcome}${typeof outcome === 'string' ? ` (${res.statusCode})` : ''} ${Math.round(performance.now() - t0)}ms`,
          );
        if (outcome === 'timeout') cfg.log(`${req.method} ${req.url} -> timeout (held open)`);
        else if (res.writableFinished) line();
        else res.once('close', line);
      },
      (err: unknown) => {
        if (err instanceof BodyTooLarge) sendJson(res, 413, badRequest('Request body too large.'));
        else if (!res.headersSent) sendJson(res, 500, errorBody(`simulator bug: ${(err as Error)?.message}`, 'server_error', null));
        cfg.log?.(`${req.method} ${req.url} -> error ${(err as Error)?.message}`);
      },
    );
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  return {
    server,
    requestLog: () => log.records(),
    clearRequestLog: () => log.clear(),
    shutdown() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const res of hanging) res.destroy();
        hanging.clear();
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
      });
    },
  };
}

function modelObject(registry: ModelRegistry, id: string) {
  return { id, object: 'model', created: registry.get(id)?.created ?? 0, owned_by: ownedBy(id) };
}
