/**
 * One ratio reader for a fleet (src/router/follow.ts, handlers/ratios.ts): a router started with
 * --ratio-from takes every target's ratio from another router's GET /modelshift/ratios (a long poll,
 * answered at once on a change) and reads nothing itself; while the reader cannot be reached it reads
 * its own source, and follows again once the reader is back.
 */
import { describe, expect, it } from 'vitest';
import { createRouter, type Router } from '../../src/router';
import { RatioFollower } from '../../src/router/follow';
import { StaticRatioSource } from '../../src/router/ratio';
import { CLIENT_KEY, logger, open, rawRequest, sim, UPSTREAM_KEY, useRouterHarness, waitFor } from './router-harness';

useRouterHarness();

const arms = { blue: { model: 'gpt-4.1' }, green: { model: 'gpt-4.1-turbo' } };

function routerWith(source: StaticRatioSource): Router {
  const r = createRouter({
    targets: { 'chat-default': { blue: { model: 'gpt-4.1' } }, 'reader-only': { blue: { model: 'gpt-4.1' } } },
    gateway: { baseURL: sim.url },
    env: { GATEWAY_API_KEY: UPSTREAM_KEY },
    apiKeys: [CLIENT_KEY],
    ratioSource: source,
    pollIntervalMs: 50,
    logger,
  });
  open.push(r);
  return r;
}

describe('following another router', () => {
  it('serves the reader’s ratio without reading its own source, follows a change at once, and reads itself while the reader is gone', async () => {
    const readerSource = new StaticRatioSource({ 'chat-default': { greenPercent: 30, phase: 'ramping', ...arms } });
    const reader = routerWith(readerSource);
    const { port } = await reader.listen(0, '127.0.0.1');
    const ownSource = new StaticRatioSource({ 'chat-default': { greenPercent: 10, phase: 'ramping', ...arms } });
    const router = createRouter({
      targets: { 'chat-default': { blue: { model: 'gpt-4.1' } }, 'own-only': { blue: { model: 'gpt-4.1' } } },
      gateway: { baseURL: sim.url },
      env: { GATEWAY_API_KEY: UPSTREAM_KEY },
      apiKeys: [CLIENT_KEY],
      ratioSource: ownSource,
      pollIntervalMs: 50,
      logger,
    });
    open.push(router);
    const follower = new RatioFollower({ from: `http://127.0.0.1:${port}`, key: CLIENT_KEY, tracker: router.tracker, log: logger });
    try {
      await router.ready;
      follower.start();
      await waitFor(() => router.tracker.states.get('chat-default')!.percent === 30);
      // while following, its own source is not asked about the followed target (only about the one the reader lacks)
      const own = () => ownSource.calls;
      const reads = own();
      await waitFor(() => follower.answers >= 3);
      const ownOnlyRounds = own() - reads; // 'own-only' is still read every poll
      expect(router.tracker.isFollowed('chat-default')).toBe(true);
      expect(router.tracker.isFollowed('own-only')).toBe(false);
      expect(ownOnlyRounds).toBeGreaterThan(0);
      expect(router.tracker.isStale('chat-default')).toBe(false);

      // an abort at the reader reaches the follower with the reader's next read: the long poll answers at once
      const answers = follower.answers;
      readerSource.set('chat-default', { greenPercent: 30, phase: 'rolled_back', ...arms });
      await waitFor(
        () =>
          router.route('chat-default', 'anyone')!.arm === 'blue' &&
          router.tracker.states.get('chat-default')!.snapshot?.phase === 'rolled_back',
      );
      expect(follower.answers - answers).toBeLessThanOrEqual(2);

      // the reader goes away: the follower reads its own source (10 %), and follows again once the reader is back
      await reader.close();
      await waitFor(() => !router.tracker.isFollowed('chat-default') && router.tracker.states.get('chat-default')!.percent === 10);
      readerSource.set('chat-default', { greenPercent: 60, phase: 'ramping', ...arms });
      const again = routerWith(readerSource);
      await again.listen(port, '127.0.0.1');
      await waitFor(() => router.tracker.isFollowed('chat-default') && router.tracker.states.get('chat-default')!.percent === 60);
    } finally {
      await follower.close();
    }
  });

  it('answers a long poll at once on a change and otherwise after the wait, and refuses a caller without a client key', async () => {
    const source = new StaticRatioSource({ 'chat-default': { greenPercent: 30, phase: 'ramping', ...arms } });
    const reader = routerWith(source);
    const { url } = await reader.listen(0, '127.0.0.1');
    await reader.ready;
    const base = url.replace(/\/v1$/, '');
    expect((await rawRequest(base, '/modelshift/ratios', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    const first = JSON.parse((await rawRequest(base, '/modelshift/ratios')).text);
    expect(first.targets['chat-default']).toMatchObject({ percent: 30, snapshot: { phase: 'ramping' }, lastError: null });
    expect(first.targets['chat-default'].ageMs).toBeGreaterThanOrEqual(0);
    // nothing changes: answered after the wait, same version
    const quiet = JSON.parse((await rawRequest(base, `/modelshift/ratios?since=${first.version}&wait=300`)).text);
    expect(quiet.version).toBe(first.version);
    // a change while the poll is held: answered with the new state
    const held = rawRequest(base, `/modelshift/ratios?since=${first.version}&wait=30000`);
    await new Promise((r) => setTimeout(r, 100));
    source.set('chat-default', { greenPercent: 0, phase: 'rolled_back', ...arms });
    const changed = JSON.parse((await held).text);
    expect(changed.version).not.toBe(first.version);
    expect(changed.targets['chat-default']).toMatchObject({ percent: 0, snapshot: { phase: 'rolled_back' } });
    // a version from another process (another worker of the reader): answered at once
    const other = JSON.parse((await rawRequest(base, `/modelshift/ratios?since=1:999999&wait=30000`)).text);
    expect(other.version).toBe(changed.version);
  });
});
