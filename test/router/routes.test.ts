/**
 * The route table's guards (src/router/routes.ts): the client key in front of every /v1/ path, and a
 * request path that cannot be decoded answered with a 400 — nothing a client sends may crash the router.
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { isChatPath } from '../../src/router/routes';
import { chatBody, chatRaw, get, jsonHeaders, rawRequest, recordingUpstream, seen, start, useRouterHarness } from './router-harness';

useRouterHarness();

describe('client key and request path checks', () => {
  it('rejects a wrong client key with an OpenAI-style 401 and never shows the upstream key', async () => {
    const h = await start({ green: 50 });
    const bad = new OpenAI({ apiKey: 'wrong', baseURL: h.url, maxRetries: 0 });
    const err = await bad.chat.completions.create({ model: 'chat-default', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err.status).toBe(401);
    expect(err.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
    expect(typeof err.error.message).toBe('string');
    seen.push(JSON.stringify(err.error));
    const none = await fetch(`${h.url}/models`);
    expect(none.status).toBe(401);
    seen.push(await none.text());
    // responses that do reach the gateway: success, model list, pass-through 404
    await chatRaw(h, { user: 'leak-check' });
    const models = await get(h.url, '/v1/models');
    const ids = JSON.parse(models.text).data.map((m: { id: string }) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['chat-default', 'no-rollout', 'gpt-4.1', 'deepseek-v3.2']));
    const missing = await chatRaw(h, { model: 'no-such-model' }).catch((e) => e);
    expect(missing.status).toBe(404);
    seen.push(JSON.stringify(missing.error));
    const other = await get(h.url, '/v1/models/gpt-4.1');
    expect(other.status).toBe(200);
    for (const p of ['/metrics', '/healthz']) await get(h.url, p);
  });

  it('answers a malformed percent-encoding with a 400 instead of crashing, and survives any synchronous throw', async () => {
    const h = await start({ green: 0 });
    const r = await rawRequest(h.url, '/v1/models/%E0%A4%A');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_path' });
    expect((await rawRequest(h.url, '/v1/files/%E0%A4%A')).status).toBe(400);
    expect((await get(h.url, '/healthz')).status).toBe(200); // still alive
    // any synchronous throw in the handler becomes a 500, not an uncaught exception
    let status = 0;
    const res = {
      headersSent: false,
      destroyed: false,
      writeHead: (s: number) => void (status = s),
      end: () => undefined,
      destroy: () => undefined,
    };
    const req = {
      get url(): string {
        throw new Error('boom');
      },
      headers: {},
      resume: () => undefined,
    };
    expect(() => h.router.handler(req as never, res as never)).not.toThrow();
    expect(status).toBe(500);
  });

  it('routes every spelling of the chat-completions path by the ratio, and refuses other methods on it with 405', async () => {
    const up = await recordingUpstream();
    try {
      const h = await start({ green: 100, baseURL: up.url });
      for (const p of [
        '/v1/chat/completions/',
        '/v1//chat/completions',
        '/v1/chat//completions//',
        '/v1/chat%2Fcompletions',
        '/v1/Chat/Completions',
        '/v1/chat/completions?x=1',
      ]) {
        const r = await rawRequest(h.url, p, { method: 'POST', headers: jsonHeaders, body: chatBody('chat-default', 'spell') });
        expect(r.status, p).toBe(200);
        expect(JSON.parse(r.text).model, p).toBe('gpt-4.1-turbo'); // green, as the ratio says: not passed through as "chat-default"
      }
      expect(up.seen.map((s) => s.url)).toEqual(Array(6).fill('/v1/chat/completions'));
      expect(up.seen.every((s) => JSON.parse(s.body).model === 'gpt-4.1-turbo')).toBe(true);
      up.seen.length = 0;
      for (const [method, p] of [
        ['GET', '/v1/chat/completions'],
        ['PUT', '/v1/chat/completions/'],
        ['DELETE', '/v1/Chat/Completions'],
      ]) {
        const r = await rawRequest(h.url, p, { method, headers: jsonHeaders, body: method === 'PUT' ? chatBody() : undefined });
        expect(r.status, `${method} ${p}`).toBe(405);
        expect(JSON.parse(r.text).error.code).toBe('method_not_allowed');
      }
      expect(up.seen).toHaveLength(0); // none reached the gateway
      expect(isChatPath('/v1/chat/completions/abc')).toBe(false); // a stored completion's id: the gateway's path
      const stored = await rawRequest(h.url, '/v1/chat/completions/abc');
      expect(stored.status).toBe(200);
      expect(up.seen.map((s) => s.url)).toEqual(['/v1/chat/completions/abc']);
    } finally {
      await up.close();
    }
  });
});
