// /admin/*: inspect and change fault profiles while the simulator runs.
import type { ServerResponse } from 'node:http';
import { badRequest, errorBody } from './errors';
import { sendJson } from './http';
import type { ModelRegistry } from './state';

/**
 * GET  /admin/models          -> { models: { [name]: FaultProfile } }
 * GET  /admin/models/:model   -> { model, profile }            (404 if unknown)
 * PUT  /admin/models/:model   -> { model, profile }            body: partial profile merged over the current one
 *                                                               (adds the model from defaults if unknown); 400 on bad input
 * POST /admin/reset           -> { ok: true }                  initial profiles, zero stats, reseeded RNGs, full buckets, empty request log
 * GET  /admin/stats           -> { stats: { [name]: SimModelStats } }
 * GET  /admin/requests        -> { requests: SimRequestRecord[] } every chat completion's arrival and end, in order (server.ts)
 */
export function handleAdmin(registry: ModelRegistry, method: string, path: string, body: unknown, res: ServerResponse): void {
  if (path === '/admin/models' && method === 'GET') return sendJson(res, 200, { models: registry.profiles() });
  if (path === '/admin/stats' && method === 'GET') return sendJson(res, 200, { stats: registry.stats() });
  if (path === '/admin/reset' && method === 'POST') {
    registry.reset();
    return sendJson(res, 200, { ok: true });
  }
  if (path.startsWith('/admin/models/')) {
    const model = decodeURIComponent(path.slice('/admin/models/'.length));
    if (!model) return sendJson(res, 400, badRequest('missing model name in path'));
    if (method === 'GET') {
      const state = registry.get(model);
      if (!state) return sendJson(res, 404, errorBody(`unknown model ${model}`, 'invalid_request_error', 'model_not_found'));
      return sendJson(res, 200, { model, profile: state.profile });
    }
    if (method === 'PUT' || method === 'PATCH') {
      if (body === undefined) return sendJson(res, 400, badRequest('expected a JSON object body (a partial fault profile)'));
      try {
        const profile = registry.patch(model, body);
        return sendJson(res, 200, { model, profile });
      } catch (err) {
        const message = (err as Error).message;
        return sendJson(res, 400, badRequest(message, message.split(':')[0] || null));
      }
    }
  }
  sendJson(res, 404, errorBody(`Invalid URL (${method} ${path})`, 'invalid_request_error', null));
}
