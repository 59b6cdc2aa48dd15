/**
 * /healthz, /readyz and /metrics (src/router/handlers/health.ts) while the ratio source fails: the last
 * ratio is kept (fail static) and reported stale.
 */
import { describe, expect, it } from 'vitest';
import { chatRaw, get, start, useRouterHarness, waitFor } from './router-harness';

useRouterHarness();

describe('health and readiness', () => {
  it('keeps the last ratio when the source fails and reports stale in /healthz and /metrics', async () => {
    const h = await start({ green: 100, staleAfterMs: 150 });
    expect(JSON.parse((await get(h.url, '/healthz')).text).targets['chat-default']).toMatchObject({ stale: false, greenPercent: 100 });
    h.source.fail(new Error('temporal unreachable'));
    await waitFor(() => h.router.tracker.isStale('chat-default') && h.router.tracker.states.get('chat-default')!.lastError !== undefined);
    const health = JSON.parse((await get(h.url, '/healthz')).text);
    expect(health.status).toBe('degraded');
    expect(health.targets['chat-default']).toMatchObject({
      stale: true,
      greenPercent: 100,
      phase: 'ramping',
      lastError: 'temporal unreachable',
    });
    expect(health.targets['chat-default'].ratioAgeSeconds).toBeGreaterThan(0.15);
    const r = await chatRaw(h, { user: 'anyone' });
    expect(r.response.headers.get('x-modelshift-arm')).toBe('green'); // still at the last known 100 %
    const m = await get(h.url, '/metrics');
    expect(m.text).toMatch(/modelshift_router_ratio_stale\{target="chat-default"\} 1/);
    expect((await get(h.url, '/readyz')).status).toBe(200);
    h.source.recover();
    // every target recovers at its next read (a failing source is read less often: backoff up to 5 s)
    await waitFor(() => [...h.router.tracker.states.keys()].every((t) => !h.router.tracker.isStale(t)));
    expect(JSON.parse((await get(h.url, '/healthz')).text).status).toBe('ok');
  });
});
