/**
 * The router's Prometheus series (src/router/metrics.ts) as /metrics serves them.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { chatRaw, get, jsonHeaders, rawRequest, chatBody, start, useRouterHarness } from './router-harness';

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const noPromtool = promtool.error ? `promtool not found (${promtool.error.message}): install Debian's prometheus package` : undefined;
if (noPromtool) console.warn(`SKIP promtool check of /metrics: ${noPromtool}`);

/** Some of everything: routed, passed through, fallen back, and refused before routing (401, 404, 400, 405, 413). */
async function traffic(h: Awaited<ReturnType<typeof start>>): Promise<void> {
  await chatRaw(h, { user: 'm1' });
  await chatRaw(h, { model: 'deepseek-v3.2' });
  await rawRequest(h.url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody() });
  await rawRequest(h.url, '/v1/models', { headers: { authorization: 'Bearer wrong' } });
  await rawRequest(h.url, '/v2/nothing');
  await rawRequest(h.url, '/v1/%2e%2e/admin');
  await rawRequest(h.url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: '{"model": ' });
  await rawRequest(h.url, '/v1/chat/completions', { method: 'GET' });
  await rawRequest(h.url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody().padEnd(5_000, ' ') });
}

useRouterHarness();

describe('metrics', () => {
  it('exposes the metric series', async () => {
    const h = await start({ green: 50 });
    await chatRaw(h, { user: 'm1' });
    await chatRaw(h, { model: 'deepseek-v3.2' });
    const m = await get(h.url, '/metrics');
    expect(m.headers.get('content-type')).toMatch(/text\/plain/);
    for (const re of [
      /modelshift_router_requests_total\{target="chat-default",arm="(blue|green)",model="gpt-4\.1(-turbo)?",status="200"\} 1/,
      /modelshift_router_requests_total\{target="",arm="passthrough",model="deepseek-v3\.2",status="200"\} 1/,
      /modelshift_router_request_duration_seconds_bucket\{le="0\.005",target="chat-default",arm="(blue|green)"\}/,
      /modelshift_router_green_percent\{target="chat-default"\} 50/,
      /modelshift_router_green_percent\{target="no-rollout"\} 0/,
      /modelshift_router_ratio_age_seconds\{target="chat-default"\} \d/,
      /modelshift_router_ratio_stale\{target="chat-default"\} 0/,
    ])
      expect(m.text).toMatch(re);
  });

  it('gives target and rollout models their own metric label however many junk pass-through names came first', async () => {
    const h = await start({ green: 0 });
    for (let i = 0; i < 230; i += 30)
      await Promise.all(
        Array.from({ length: 30 }, (_, j) =>
          rawRequest(h.url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody(`junk-${i + j}`) }),
        ),
      );
    await chatRaw(h, { user: 'after-junk' });
    await chatRaw(h, { model: 'deepseek-v3.2' }); // a configured target's model, sent through by name
    const m = (await get(h.url, '/metrics')).text;
    expect(m).toMatch(/modelshift_router_requests_total\{target="chat-default",arm="blue",model="gpt-4\.1",status="200"\} 1/);
    expect(m).toMatch(/modelshift_router_requests_total\{target="",arm="passthrough",model="deepseek-v3\.2",status="200"\} 1/);
    expect(m).toMatch(/model="_other"/); // the junk beyond the cap is still capped
    expect(m).not.toMatch(/model="junk-239"/);
  });

  it('counts requests the router refuses before routing (401, 404, 400, 405, 413) in modelshift_router_requests_total', async () => {
    const h = await start({ green: 50, extra: { maxBodyBytes: 4_096 } });
    await traffic(h);
    const m = (await get(h.url, '/metrics')).text;
    for (const status of [401, 404, 400, 405, 413])
      expect(m).toMatch(new RegExp(`modelshift_router_requests_total\\{target="",arm="router",model="",status="${status}"\\} [12]`));
  });

  it.skipIf(noPromtool !== undefined)('passes `promtool check metrics`, Node process metrics included', async () => {
    const h = await start({ green: 50, extra: { processMetrics: true, maxBodyBytes: 4_096 } });
    await traffic(h);
    const m = await get(h.url, '/metrics');
    expect(m.text).toMatch(/modelshift_router_process_cpu_seconds_total/);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: m.text, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
