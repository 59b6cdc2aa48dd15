/**
 * The router's Prometheus series (src/router/metrics.ts) as /metrics serves them.
 */
import { describe, expect, it } from 'vitest';
import { chatRaw, get, jsonHeaders, rawRequest, chatBody, start, useRouterHarness } from './router-harness';

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
});
