/**
 * The upstream pool (src/router/upstreams.ts): sized for long streams — a streamed completion holds its
 * connection for the whole stream, so with too small a pool every stream past the limit waits for a whole
 * stream to end — and requests waiting for a connection show in /metrics.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { chatBody, get, jsonHeaders, rawRequest, start, useRouterHarness, waitFor } from './router-harness';

useRouterHarness();

/** An upstream that holds every request open until released (a long stream that has not ended yet). */
async function holdingUpstream() {
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"model":"gpt-4.1","choices":[{"index":0,"delta":{"content":"…"}}]}\n\n'); // first chunk, then nothing
      held.push(res);
    });
  });
  server.maxConnections = 10_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 1024, () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    held,
    release: () => held.splice(0).forEach((r) => r.end('data: [DONE]\n\n')),
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

async function metricsUntil(url: string, re: RegExp): Promise<string> {
  const end = Date.now() + 20_000;
  for (;;) {
    const m = (await get(url, '/metrics')).text;
    if (re.test(m) || Date.now() > end) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const streams = (url: string, n: number, from = 0) =>
  Array.from({ length: n }, (_, i) =>
    rawRequest(url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody('chat-default', `s${from + i}`) }),
  );

describe('upstream pool', () => {
  it('holds 300 streams open at once with the default pool (the old 128 made the rest wait for whole streams)', async () => {
    const up = await holdingUpstream();
    try {
      const h = await start({ green: 0, baseURL: up.url });
      const all = streams(h.url, 300);
      await waitFor(() => up.held.length === 300); // all 300 reached the gateway while none had ended
      const m = (await get(h.url, '/metrics')).text;
      expect(m).toMatch(/modelshift_router_upstream_waiting_requests\{upstream="http:\/\/127\.0\.0\.1:\d+"\} 0/);
      expect(m).toMatch(/modelshift_router_upstream_connections\{upstream="http:\/\/127\.0\.0\.1:\d+"\} 300/);
      up.release();
      expect((await Promise.all(all)).every((r) => r.status === 200)).toBe(true);
    } finally {
      await up.close();
    }
  }, 120_000);

  it('counts the requests waiting for a connection when the pool is full (connectionsPerUpstream)', async () => {
    const up = await holdingUpstream();
    try {
      const h = await start({ green: 0, baseURL: up.url, extra: { connectionsPerUpstream: 2 } });
      const all = streams(h.url, 5);
      await waitFor(() => up.held.length === 2);
      const m = await metricsUntil(h.url, /modelshift_router_upstream_waiting_requests\{[^}]*\} 3/);
      expect(m).toMatch(/modelshift_router_upstream_active_requests\{[^}]*\} 2/);
      expect(m).toMatch(/modelshift_router_upstream_connections\{[^}]*\} 2/);
      expect(up.held).toHaveLength(2); // the other three never reached the gateway
      let finished = false;
      const done = Promise.all(all).finally(() => (finished = true));
      while (!finished) {
        up.release(); // each stream that ends frees a connection for the next
        await new Promise((r) => setTimeout(r, 20));
      }
      expect((await done).every((r) => r.status === 200)).toBe(true);
      expect((await get(h.url, '/metrics')).text).toMatch(/modelshift_router_upstream_waiting_requests\{[^}]*\} 0/);
    } finally {
      await up.close();
    }
  });
});
