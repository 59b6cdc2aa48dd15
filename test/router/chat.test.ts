/**
 * POST /v1/chat/completions over real HTTP (src/router/handlers/chat.ts): a target goes to blue or green
 * by the ratio, sticky per user; SSE is streamed chunk by chunk; a green that fails before its first
 * byte is served by blue; an oversized body is refused without reading it.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_KEY,
  chatBody,
  chatRaw,
  get,
  jsonHeaders,
  rawRequest,
  recordingUpstream,
  seen,
  sim,
  start,
  useRouterHarness,
  waitFor,
} from './router-harness';

useRouterHarness();

describe('chat completions: routing by ratio', () => {
  it('routes a target by ratio end to end (±10 pp over 400 users) and passes other models through', async () => {
    const h = await start({ green: 50 });
    let green = 0;
    const N = 400;
    for (let i = 0; i < N; i += 20) {
      const rs = await Promise.all(Array.from({ length: 20 }, (_, j) => chatRaw(h, { user: `user-${i + j}` })));
      for (const r of rs) {
        const arm = r.response.headers.get('x-modelshift-arm');
        expect(r.data.model).toBe(arm === 'green' ? 'gpt-4.1-turbo' : 'gpt-4.1');
        if (arm === 'green') green++;
        // the router's own choice agrees with the pure function
        expect(h.router.route('chat-default', `user-${i + rs.indexOf(r)}`)!.arm).toBe(arm);
      }
    }
    expect(Math.abs((green / N) * 100 - 50)).toBeLessThanOrEqual(10);
    const pass = await chatRaw(h, { model: 'deepseek-v3.2' });
    expect(pass.data.model).toBe('deepseek-v3.2');
    expect(pass.response.headers.get('x-modelshift-arm')).toBeNull();
    const none = await chatRaw(h, { model: 'no-rollout' });
    expect(none.data.model).toBe('deepseek-v3.2');
    expect(none.response.headers.get('x-modelshift-arm')).toBe('blue');
  });

  it('keeps users on their arm as the ratio rises 10 → 25 → 50 (user field and x-modelshift-user header)', async () => {
    const h = await start({ green: 10 });
    const users = Array.from({ length: 120 }, (_, i) => `sticky-${i}`);
    const armOf = async (u: string, viaHeader: boolean) => {
      const r = await fetch(`${h.url}/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${CLIENT_KEY}`,
          'content-type': 'application/json',
          ...(viaHeader ? { 'x-modelshift-user': u } : {}),
        },
        body: JSON.stringify({ model: 'chat-default', messages: [{ role: 'user', content: 'hi' }], ...(viaHeader ? {} : { user: u }) }),
      });
      await r.text();
      return r.headers.get('x-modelshift-arm');
    };
    let greenBefore = new Set<string>();
    for (const pct of [10, 25, 50]) {
      h.source.set('chat-default', { greenPercent: pct, phase: 'ramping', blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } });
      await waitFor(() => h.router.tracker.states.get('chat-default')!.percent === pct);
      const green = new Set<string>();
      for (let i = 0; i < users.length; i += 30) {
        const arms = await Promise.all(users.slice(i, i + 30).map((u, j) => armOf(u, j % 2 === 0)));
        arms.forEach((a, j) => a === 'green' && green.add(users[i + j]));
      }
      for (const u of greenBefore) expect(green.has(u)).toBe(true);
      greenBefore = green;
    }
    expect(greenBefore.size).toBeGreaterThan(30);
  });

  it('follows an abort or failed verdict at the next read of the ratio: rolled back → all blue', async () => {
    const h = await start({ green: 100 });
    let reads = 0;
    const get = h.source.get.bind(h.source);
    h.source.get = (target) => {
      if (target === 'chat-default') reads++;
      return get(target);
    };
    h.source.set('chat-default', { greenPercent: 25, phase: 'rolled_back', blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } });
    reads = 0;
    await waitFor(() => h.router.route('chat-default', 'x')!.arm === 'blue');
    // a read already in flight may have had the old ratio; the one after it has the new
    expect(reads).toBeLessThanOrEqual(2);
    for (let i = 0; i < 50; i++) expect(h.router.route('chat-default', `u${i}`)).toMatchObject({ arm: 'blue', model: 'gpt-4.1' });
  });

  it('model: auto uses the injected classifier; the classifier may pick a target', async () => {
    const h = await start({ green: 0, classify: (m) => (JSON.stringify(m).includes('code') ? 'deepseek-v3.2' : 'chat-default') });
    const a = await chatRaw(h, { model: 'auto', messages: [{ role: 'user', content: 'write code' }] });
    expect(a.data.model).toBe('deepseek-v3.2');
    const b = await chatRaw(h, { model: 'auto', messages: [{ role: 'user', content: 'chat' }] });
    expect(b.data.model).toBe('gpt-4.1');
    expect(b.response.headers.get('x-modelshift-arm')).toBe('blue');
  });
});

describe('chat completions: streaming', () => {
  it('streams SSE chunk by chunk (first chunk arrives before the upstream produces the last) with usage', async () => {
    // an upstream that will not write the rest of the stream until the client has the first chunk
    let releaseRest!: () => void;
    const gotFirst = new Promise<void>((r) => (releaseRest = r));
    const upstream: Server = createServer((req, res) => {
      req.resume();
      req.on('end', async () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const chunk = (c: object) =>
          res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'gpt-4.1-turbo', ...c })}\n\n`);
        chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null }] });
        await gotFirst; // never before the client has the first chunk: a buffering router would hang here
        chunk({ choices: [{ index: 0, delta: { content: 'lo' }, finish_reason: 'stop' }] });
        chunk({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } });
        res.end('data: [DONE]\n\n');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    try {
      const h = await start({ green: 100, baseURL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1` });
      const stream = await h.client.chat.completions.create({
        model: 'chat-default',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      const parts: string[] = [];
      let usage: unknown;
      let firstAt = 0;
      for await (const c of stream) {
        if (!firstAt) {
          firstAt = Date.now();
          releaseRest(); // only now may the upstream produce the last chunks
        }
        if (c.choices[0]?.delta?.content) parts.push(c.choices[0].delta.content);
        if (c.usage) usage = c.usage;
      }
      expect(parts).toEqual(['Hel', 'lo']);
      expect(usage).toEqual({ prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 });
      await waitFor(() => (h.router.live.peek('chat-default')?.green.requests ?? 0) === 1);
      expect(h.router.live.peek('chat-default')!.green).toMatchObject({ inputTokens: 9, outputTokens: 2, errors: 0 });
    } finally {
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });

  it('streams from the simulator with usage', async () => {
    const h = await start({ green: 0 });
    const stream = await h.client.chat.completions.create({
      model: 'chat-default',
      user: 'streamer',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let chunks = 0;
    let usage: { completion_tokens: number } | undefined;
    for await (const c of stream) {
      chunks++;
      if (c.usage) usage = c.usage;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(usage!.completion_tokens).toBeGreaterThan(0);
    await waitFor(() => (h.router.live.peek('chat-default')?.blue.requests ?? 0) === 1);
    expect(h.router.live.peek('chat-default')!.blue.outputTokens).toBe(usage!.completion_tokens);
  });
});

describe('chat completions: green → blue fallback', () => {
  it('serves a green 5xx from blue and counts it as a green error', async () => {
    const h = await start({ green: 100 });
    sim.setProfile('gpt-4.1-turbo', { errorRate: 1 });
    try {
      const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => chatRaw(h, { user: `fb-${i}` })));
      for (const r of rs) {
        expect(r.response.status).toBe(200);
        expect(r.data.model).toBe('gpt-4.1');
        expect(r.response.headers.get('x-modelshift-arm')).toBe('blue');
      }
      const agg = h.router.live.peek('chat-default')!;
      expect(agg.green.requests).toBe(10);
      expect(agg.green.errors).toBe(10);
      expect(agg.green.errorsByClass.server).toBe(10);
      expect(agg.blue.requests).toBe(10);
      expect(agg.blue.errors).toBe(0);
      const m = await get(h.url, '/metrics');
      expect(m.text).toMatch(/modelshift_router_green_fallbacks_total\{target="chat-default"\} 10/);
    } finally {
      sim.setProfile('gpt-4.1-turbo', { errorRate: 0 });
    }
  });

  it("falls back to blue as soon as green's 5xx status arrives, without waiting for its (stalled) error body", async () => {
    let greenEnded = true;
    const up = await recordingUpstream((_req, res, body) => {
      const model = JSON.parse(body).model;
      if (model === 'gpt-4.1-turbo') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.write('{"error":{"message":"upstream broke, and this body never ends'); // stalls: no end
        greenEnded = false;
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'x',
          object: 'chat.completion',
          created: 1,
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
        }),
      );
    });
    try {
      const h = await start({ green: 100, baseURL: up.url }); // bodyTimeout: the default 300 s, far past this test's timeout
      const r = await rawRequest(h.url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody() });
      expect(greenEnded, "answered while green's error body was still unfinished").toBe(false);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text).model).toBe('gpt-4.1');
      expect(h.router.live.peek('chat-default')!.green).toMatchObject({ requests: 1, errors: 1, errorsByClass: { server: 1 } });
    } finally {
      await up.close();
    }
  }, 15_000);
});

describe('chat completions: request body', () => {
  it('stops reading an oversized body after answering 413 and closes the connection', async () => {
    const h = await start({ green: 0, extra: { maxBodyBytes: 1024 } });
    const u = new URL(h.url);
    const sock = connect(Number(u.port), u.hostname);
    let response = '';
    let closedAt = 0;
    let written = 0;
    sock.on('data', (d) => (response += d.toString('latin1')));
    sock.on('error', () => undefined); // EPIPE / ECONNRESET once the router hangs up
    sock.on('close', () => (closedAt = Date.now()));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${CLIENT_KEY}\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n`,
    );
    const chunk = Buffer.alloc(4096, 0x20);
    const t0 = Date.now();
    while (!closedAt && Date.now() - t0 < 20_000) {
      if (!sock.destroyed) {
        sock.write(chunk);
        written += chunk.length;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    seen.push(response);
    expect(response).toMatch(/^HTTP\/1\.1 413/);
    expect(closedAt, 'the router closed the connection').toBeGreaterThan(0);
    expect(written).toBeLessThan(100_000_000);
  });
});

describe('chat completions: a green answer written by another model', () => {
  const answer = async (h: Awaited<ReturnType<typeof start>>, stream: boolean) => {
    if (!stream) return (await chatRaw(h, { user: 'sub' })).data.model;
    const s = await h.client.chat.completions.create({
      model: 'chat-default',
      user: 'sub',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    let model = '';
    for await (const c of s) model ||= c.model;
    return model;
  };

  it('passes it to the user and counts it as a green failure of class substituted (JSON and SSE, model or LiteLLM header)', async () => {
    const h = await start({ green: 100 });
    try {
      sim.setProfile('gpt-4.1-turbo', { substituteModel: 'gpt-4.1-mini' }); // a gateway that fell back silently
      expect(await answer(h, false)).toBe('gpt-4.1-mini'); // the user gets the answer as it came
      expect(await answer(h, true)).toBe('gpt-4.1-mini');
      sim.setProfile('gpt-4.1-turbo', { substituteModel: null, fallbackHeader: true }); // one that says so
      expect(await answer(h, false)).toBe('gpt-4.1-turbo');
      await waitFor(() => (h.router.live.peek('chat-default')?.green.requests ?? 0) === 3);
      const g = h.router.live.peek('chat-default')!;
      expect(g.green).toMatchObject({ requests: 3, errors: 3, errorsByClass: { substituted: 3 } });
      expect(g.green.outputTokens).toBeGreaterThan(0); // what the answers cost is still counted
      expect(g.blue.requests).toBe(0); // nothing re-sent: the user already had the answer
      expect((await get(h.url, '/metrics')).text).toMatch(/modelshift_router_green_substitutions_total\{target="chat-default"\} 3/);

      // a dated snapshot or a provider prefix of the green model is green itself
      sim.setProfile('gpt-4.1-turbo', { fallbackHeader: false, substituteModel: 'gpt-4.1-turbo-2025-04-14' });
      await answer(h, false);
      sim.setProfile('gpt-4.1-turbo', { substituteModel: 'openai/gpt-4.1-turbo' });
      await answer(h, true);
      await waitFor(() => h.router.live.peek('chat-default')!.green.requests === 5);
      expect(h.router.live.peek('chat-default')!.green).toMatchObject({ requests: 5, errors: 3, successes: 2 });
    } finally {
      sim.setProfile('gpt-4.1-turbo', { substituteModel: null, fallbackHeader: false });
    }
  });
});
