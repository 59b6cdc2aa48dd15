/**
 * Other /v1/* paths (src/router/handlers/passthrough.ts): forwarded only when normalised and under /v1/
 * (no dot segments, plain or percent-encoded), without the headers that must not be forwarded.
 */
import { describe, expect, it } from 'vitest';
import { UPSTREAM_KEY, jsonHeaders, rawRequest, recordingUpstream, start, useRouterHarness } from './router-harness';

useRouterHarness();

describe('pass-through', () => {
  it('refuses dot segments (plain or percent-encoded) on pass-through paths and forwards only normalised /v1/ paths', async () => {
    const up = await recordingUpstream();
    try {
      const h = await start({ green: 0, baseURL: up.url });
      for (const p of [
        '/v1/../admin/models/gpt-4.1',
        '/v1/%2e%2e/admin/models/gpt-4.1',
        '/v1/%2E%2e/admin',
        '/v1/.%2E/admin',
        '/v1/files/..%2fadmin',
        '/v1/files/..%5cadmin',
        '/v1/./models',
        '/v1/files/%2e%2e/%2e%2e/admin',
      ]) {
        const r = await rawRequest(h.url, p);
        expect(r.status, p).toBe(400);
        expect(JSON.parse(r.text).error.code, p).toBe('invalid_path');
      }
      expect(up.seen).toHaveLength(0);
      expect((await rawRequest(h.url, '/v1/files?purpose=batch')).status).toBe(200);
      expect((await rawRequest(h.url, '/v1/models/org%2Fmodel')).status).toBe(200); // an encoded slash in an id is fine
      expect(up.seen.map((s) => s.url)).toEqual(['/v1/files?purpose=batch', '/v1/models/org%2Fmodel']);
      // against the simulator, whose /admin API accepts the gateway key, the escape would have worked
      const viaSim = await start({ green: 0 });
      expect((await rawRequest(viaSim.url, '/v1/../admin/models/gpt-4.1')).status).toBe(400);
    } finally {
      await up.close();
    }
  });

  it("does not forward expect: 100-continue (undici refuses it) or headers the client's connection header names", async () => {
    const up = await recordingUpstream();
    try {
      const h = await start({ green: 0, baseURL: up.url });
      const body = JSON.stringify({ model: 'text-embedding-3-small', input: 'hi' });
      const r = await rawRequest(h.url, '/v1/embeddings', {
        method: 'POST',
        headers: { ...jsonHeaders, expect: '100-continue', connection: 'keep-alive, x-hop', 'x-hop': '1' },
        body,
      });
      expect(r.status).toBe(200);
      expect(up.seen).toHaveLength(1);
      expect(up.seen[0].body).toBe(body);
      expect(up.seen[0].headers.expect).toBeUndefined();
      expect(up.seen[0].headers['x-hop']).toBeUndefined();
      expect(up.seen[0].headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    } finally {
      await up.close();
    }
  });
});
