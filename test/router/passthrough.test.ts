/**
 * Other /v1/* paths (src/router/handlers/passthrough.ts): forwarded only when normalised and under /v1/
 * (no dot segments, plain or percent-encoded), without the headers that must not be forwarded.
 */
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CLIENT_KEY, UPSTREAM_KEY, jsonHeaders, rawRequest, recordingUpstream, seen, start, useRouterHarness } from './router-harness';

/** An upstream counting the body bytes it received per request (none of it recorded). */
async function countingUpstream() {
  const received: number[] = [];
  const server = createServer((req, res) => {
    const i = received.push(0) - 1;
    req.on('data', (c: Buffer) => (received[i] += c.length));
    req.on('error', () => undefined);
    req.on('end', () => res.end('{}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    received,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

/** POST `total` bytes of body at `path` over a raw socket, declared with content-length or chunked; what came back. */
async function bigPost(url: string, path: string, total: number, chunked: boolean) {
  const u = new URL(url);
  const sock = connect(Number(u.port), u.hostname);
  let response = '';
  let closed = false;
  let written = 0;
  sock.on('data', (d) => (response += d.toString('latin1')));
  sock.on('error', () => undefined); // EPIPE / ECONNRESET once the router hangs up
  sock.on('close', () => (closed = true));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const length = chunked ? 'transfer-encoding: chunked' : `content-length: ${total}`;
  sock.write(
    `POST ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${CLIENT_KEY}\r\ncontent-type: application/json\r\n${length}\r\n\r\n`,
  );
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const frame = chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk;
  while (!closed && written < total) {
    if (!sock.write(frame)) await new Promise((r) => setTimeout(r, 5));
    written += chunk.length;
    await new Promise((r) => setImmediate(r));
  }
  const end = Date.now() + 10_000;
  while (!closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  seen.push(response);
  sock.destroy();
  return { response, closed, written };
}

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

  it('applies the body limit: a larger declared body is a 413 before anything reaches the gateway, a chunked one is cut off', async () => {
    const up = await countingUpstream();
    try {
      const h = await start({ green: 0, baseURL: up.url, extra: { maxBodyBytes: 256 * 1024 } });
      const declared = await bigPost(h.url, '/v1/embeddings', 40 * 1024 * 1024, false);
      expect(declared.response).toMatch(/^HTTP\/1\.1 413/);
      expect(declared.response).toContain('request_too_large');
      expect(declared.closed, 'the router closed the connection').toBe(true);
      expect(declared.written).toBeLessThan(40 * 1024 * 1024);
      expect(up.received).toEqual([]); // the gateway never saw the request

      const chunked = await bigPost(h.url, '/v1/files', 40 * 1024 * 1024, true);
      expect(chunked.response).toMatch(/^HTTP\/1\.1 413/);
      expect(chunked.closed).toBe(true);
      // the gateway got at most the limit and the chunk that crossed it, never the whole body
      expect(up.received.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(256 * 1024 + 64 * 1024);

      const small = await rawRequest(h.url, '/v1/embeddings', { method: 'POST', headers: jsonHeaders, body: '{"input":"hi"}' });
      expect(small.status).toBe(200); // under the limit: forwarded as before
    } finally {
      await up.close();
    }
  }, 60_000);

  it('reads at most 64 KiB of an upstream error, decodes a compressed one to scrub the key, and never passes content-encoding', async () => {
    const quote = JSON.stringify({ error: { message: `bad key ${UPSTREAM_KEY} for this request`, type: 'invalid_request_error' } });
    const up = await recordingUpstream((req, res) => {
      if (req.url?.startsWith('/v1/gzipped')) {
        const body = gzipSync(quote);
        res.writeHead(400, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length });
        return res.end(body);
      }
      if (req.url?.startsWith('/v1/zstd')) {
        res.writeHead(400, { 'content-type': 'application/json', 'content-encoding': 'zstd' });
        return res.end(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]));
      }
      // an error body that never ends: only a capped read answers at all
      res.writeHead(500, { 'content-type': 'text/plain' });
      const pump = setInterval(() => (res.destroyed ? clearInterval(pump) : res.write(Buffer.alloc(16 * 1024, 0x61))), 5);
    });
    try {
      const h = await start({ green: 0, baseURL: up.url });
      const g = await fetch(`${h.url}/gzipped`, { method: 'POST', headers: { authorization: `Bearer ${CLIENT_KEY}` }, body: '{}' });
      const text = await g.text();
      seen.push(text);
      expect(g.status).toBe(400);
      expect(g.headers.get('content-encoding')).toBeNull();
      expect(JSON.parse(text).error.message).toBe('bad key [redacted] for this request');

      const z = await rawRequest(h.url, '/v1/zstd', { method: 'POST', headers: jsonHeaders, body: '{}' });
      expect(z.status).toBe(400);
      expect(JSON.parse(z.text).error).toMatchObject({ type: 'upstream_error', code: 'upstream_error' });

      const endless = await rawRequest(h.url, '/v1/endless', { method: 'POST', headers: jsonHeaders, body: '{}' });
      expect(endless.status).toBe(500);
      expect(endless.text.length).toBeLessThanOrEqual(64 * 1024);
      expect(endless.text.length).toBeGreaterThan(0);
    } finally {
      await up.close();
    }
  });
});
