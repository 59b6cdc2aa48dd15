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

export interface RunningServer {
  server: Server;
  /** Cancel pending timers, drop hanging requests and open sockets, stop listening. */
  shutdown(): Promise<void>;
}

export function createSimServer(cfg: ServerConfig): RunningServer {
  const timers = new Set<NodeJS.Timeout>();
  const hanging = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  let seq = 0;

  const ctx: ChatContext = {
    registry: cfg.registry,
    latencyScale: cfg.latencyScale,
    nextId: () => `sim${(++seq).toString(36).padStart(8, '0')}`,
    later(res, ms, fn) {
      if (!(ms > 0)) return fn();
      const cancel = () => { clearTimeout(t); timers.delete(t); };
      const t = setTimeout(() => { timers.delete(t); res.off('close', cancel); fn(); }, ms);
      timers.add(t);
      res.once('close', cancel);
    },
    hang(res) {
      hanging.add(res);
      res.once('close', () => hanging.delete(res));
    },
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<string | number> => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);

    if (path === '/healthz') { sendJson(res, 200, { ok: true }); return 200; }
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

    let body: unknown;
    if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
      const text = await readBody(req);
      if (text.length) {
        try {
          body = JSON.parse(text);
        } catch {
          sendJson(res, 400, badRequest('We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)'));
          return 400;
        }
      }
    }

    if (isAdmin) { handleAdmin(cfg.registry, method, path, body, res); return res.statusCode; }
    if (path === '/v1/chat/completions' && method === 'POST') return handleChat(ctx, res, body ?? {}, key);
    if (path === '/v1/models' && method === 'GET') {
      sendJson(res, 200, { object: 'list', data: cfg.registry.names().map((id) => modelObject(cfg.registry, id)) });
      return 200;
    }
    if (path.startsWith('/v1/models/') && method === 'GET') {
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (!cfg.registry.get(id)) { sendJson(res, 404, modelNotFound(id)); return 404; }
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
        const line = () => cfg.log!(`${req.method} ${req.url} -> ${outcome}${typeof outcome === 'string' ? ` (${res.statusCode})` : ''} ${Math.round(performance.now() - t0)}ms`);
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
  server.on('connection', (s) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });

  return {
    server,
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
