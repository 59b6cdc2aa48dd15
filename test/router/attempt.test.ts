/**
 * The upstream attempt (src/router/attempt.ts): a gateway that rejects the router's key becomes a 502
 * that never echoes the key; a client that hangs up is counted in /metrics, never against the arm.
 */
import { describe, expect, it } from 'vitest';
import { chatBody, chatRaw, get, jsonHeaders, rawRequest, recordingUpstream, start, useRouterHarness, waitFor } from './router-harness';

useRouterHarness();

describe('upstream attempt', () => {
  it("turns a gateway that rejects the router's key into a 502 without echoing the key", async () => {
    const wrongKey = 'sk-router-has-the-WRONG-key-123456';
    const h = await start({ green: 0, gatewayKey: wrongKey });
    const err = await chatRaw(h, {}).catch((e) => e);
    expect(err.status).toBe(502);
    expect(JSON.stringify(err.error)).not.toContain(wrongKey.slice(-4));
    expect(err.error.code).toBe('upstream_auth');
    const list = await get(h.url, '/v1/models/gpt-4.1');
    expect(list.status).toBe(502);
    expect(list.text).not.toContain(wrongKey.slice(-4));
  });

  it('counts a client that hangs up as client_closed in /metrics and never as an arm error in the live aggregate', async () => {
    const slow = await recordingUpstream(() => undefined); // never answers: only the client's hang-up ends the request
    try {
      const h = await start({ green: 100, baseURL: slow.url });
      await rawRequest(h.url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody(), abortAfterMs: 300 });
      await waitFor(() => slow.seen.length === 1);
      let m = '';
      const end = Date.now() + 20_000;
      while (!/status="client_closed"/.test(m) && Date.now() < end) {
        m = (await get(h.url, '/metrics')).text;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(m).toMatch(
        /modelshift_router_requests_total\{target="chat-default",arm="green",model="gpt-4\.1-turbo",status="client_closed"\} 1/,
      );
      const agg = h.router.live.peek('chat-default');
      expect(agg?.green.requests ?? 0).toBe(0);
      expect(agg?.green.errors ?? 0).toBe(0);
      expect(m).not.toMatch(/modelshift_router_green_fallbacks_total\{target="chat-default"\}/); // and not re-sent to blue
    } finally {
      await slow.close();
    }
  });
});
