/**
 * The key/origin policy (src/router/policy.ts): a rollout's arm gets a key variable and an origin only
 * when the router's operator allowed them, and never the router's or Temporal's own secrets.
 */
import { describe, expect, it } from 'vitest';
import { createRouter, type RouterOptions } from '../../src/router';
import { ClientKeys } from '../../src/router/policy';
import type { ArmRef } from '../../src/rollout/contract';
import {
  CLIENT_KEY,
  UPSTREAM_KEY,
  chatBody,
  jsonHeaders,
  logger,
  logs,
  rawRequest,
  recordingUpstream,
  start,
  useRouterHarness,
} from './router-harness';

useRouterHarness();

describe('upstream key and origin policy', () => {
  it('never sends a key a rollout names unless the router allows it, nor to an origin the router was not configured with', async () => {
    const attacker = await recordingUpstream();
    const gateway = await recordingUpstream();
    try {
      const env = {
        GATEWAY_API_KEY: UPSTREAM_KEY,
        TEMPORAL_API_KEY: 'temporal-SECRET-key',
        OTHER_API_KEY: 'other-SECRET-key',
        PARTNER_API_KEY: 'partner-SECRET-key',
      };
      const cases: Array<{ green: ArmRef; extra?: Partial<RouterOptions>; code?: string; auth?: string }> = [
        // the attack from the review: another host, Temporal's key
        { green: { model: 'gpt-4.1-turbo', baseURL: attacker.url, apiKeyEnv: 'TEMPORAL_API_KEY' }, code: 'upstream_origin_not_allowed' },
        // another host with no key named: the gateway key must not go there either
        { green: { model: 'gpt-4.1-turbo', baseURL: attacker.url }, code: 'upstream_origin_not_allowed' },
        // the gateway's host, but a key variable the router was not configured with: no fallback to the gateway key
        { green: { model: 'gpt-4.1-turbo', apiKeyEnv: 'TEMPORAL_API_KEY' }, code: 'upstream_key_not_allowed' },
        { green: { model: 'gpt-4.1-turbo', apiKeyEnv: 'OTHER_API_KEY' }, code: 'upstream_key_not_allowed' },
        {
          green: { model: 'gpt-4.1-turbo', apiKeyEnv: 'UNSET_API_KEY' },
          extra: { keyEnvs: ['UNSET_API_KEY'] },
          code: 'upstream_key_missing',
        },
        // allowed by the router's own settings (ROUTER_KEY_ENVS / ROUTER_ALLOWED_ORIGINS)
        {
          green: { model: 'gpt-4.1-turbo', apiKeyEnv: 'OTHER_API_KEY' },
          extra: { keyEnvs: ['OTHER_API_KEY'] },
          auth: 'Bearer other-SECRET-key',
        },
        {
          green: { model: 'gpt-4.1-turbo', baseURL: attacker.url, apiKeyEnv: 'PARTNER_API_KEY' },
          extra: { keyEnvs: ['PARTNER_API_KEY'], allowedOrigins: [new URL(attacker.url).origin] },
          auth: 'Bearer partner-SECRET-key',
        },
      ];
      for (const c of cases) {
        attacker.seen.length = 0;
        gateway.seen.length = 0;
        const logStart = logs.length;
        const h = await start({ green: 100, greenArm: c.green, baseURL: gateway.url, extra: { env, ...c.extra } });
        const rs = await Promise.all(
          [1, 2, 3].map((i) =>
            rawRequest(h.url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody('chat-default', `k${i}`) }),
          ),
        );
        const all = [...attacker.seen, ...gateway.seen];
        if (c.code) {
          for (const r of rs) {
            expect(r.status, JSON.stringify(c)).toBe(502);
            expect(JSON.parse(r.text).error).toMatchObject({ type: 'upstream_error', code: c.code });
          }
          expect(all, JSON.stringify(c)).toHaveLength(0); // not re-sent to blue either
          const g = h.router.live.peek('chat-default')!.green;
          expect(g).toMatchObject({ requests: 3, errors: 3, errorsByClass: { auth: 3 } });
          expect(logs.slice(logStart).filter((l) => l.includes(c.code!))).toHaveLength(1); // logged once
        } else {
          for (const r of rs) expect(r.status).toBe(200);
          expect(all.map((x) => x.headers.authorization)).toEqual([c.auth, c.auth, c.auth]);
        }
        expect(JSON.stringify(all.map((x) => x.headers)) + logs.join('\n')).not.toContain('temporal-SECRET-key');
        await h.router.close();
      }
      // the settings can never allow the router's or Temporal's own secrets
      expect(() => createRouter({ keyEnvs: ['TEMPORAL_API_KEY'], logger })).toThrow(/never/);
      expect(() => createRouter({ keyEnvs: ['ROUTER_API_KEYS'], logger })).toThrow(/never/);
    } finally {
      await attacker.close();
      await gateway.close();
    }
  });

  it("without a gateway URL, sends the first target's own key variable to its baseURL (never the gateway key)", async () => {
    const own = await recordingUpstream();
    try {
      const router = createRouter({
        targets: { support: { blue: { model: 'deepseek-v3.2', baseURL: own.url, apiKeyEnv: 'SUPPORT_API_KEY' } } },
        env: { GATEWAY_API_KEY: UPSTREAM_KEY, SUPPORT_API_KEY: 'support-SECRET-key' },
        apiKeys: [CLIENT_KEY],
        logger,
      });
      const { url } = await router.listen(0, '127.0.0.1');
      try {
        await rawRequest(url, '/v1/embeddings', { method: 'POST', headers: jsonHeaders, body: '{"input":"x"}' }); // a pass-through path
        await rawRequest(url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody('some-other-model') }); // a model that is no target
        await rawRequest(url, '/v1/chat/completions', { method: 'POST', headers: jsonHeaders, body: chatBody('support') }); // the target itself
        expect(own.seen.map((r) => r.headers.authorization)).toEqual(Array(3).fill('Bearer support-SECRET-key'));
      } finally {
        await router.close();
      }
    } finally {
      await own.close();
    }
  });

  it('keeps client keys only as hashes and checks a token against every one (constant time)', () => {
    const keys = new ClientKeys(['team-key-1', ' team-key-2 ', '', 'team-key-1']);
    expect(keys.size).toBe(2);
    expect(keys.accepts('team-key-1')).toBe(true);
    expect(keys.accepts('team-key-2')).toBe(true);
    expect(keys.accepts('team-key-')).toBe(false); // a prefix
    expect(keys.accepts('team-key-1x')).toBe(false);
    expect(keys.accepts('')).toBe(false);
    // only hashes are kept: no Set lookup or string comparison can short-circuit on a key's bytes
    expect(JSON.stringify(Object.entries(keys))).not.toContain('team-key');
  });
});
