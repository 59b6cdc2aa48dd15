/**
 * Router settings (src/router/config.ts): file, environment and flags.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRouterSettings, parseTargets, RouterConfigError } from '../../src/router/config';

describe('router config', () => {
  it('reads targets from env and flags, keys from ROUTER_API_KEYS', () => {
    const s = loadRouterSettings(
      { target: ['b=claude-sonnet-4.5'], port: '0' },
      { ROUTER_TARGETS: 'chat-default=gpt-4.1', ROUTER_API_KEYS: 'k1, k2', GATEWAY_BASE_URL: 'http://127.0.0.1:1/v1' },
    );
    expect(s.targets).toEqual({ 'chat-default': { blue: { model: 'gpt-4.1' } }, b: { blue: { model: 'claude-sonnet-4.5' } } });
    expect(s.apiKeys).toEqual(['k1', 'k2']);
    expect(s.port).toBe(0);
    expect(s.reportIntervalMs).toBe(5_000);
    expect(parseTargets('{"x":{"blue":{"model":"m","apiKeyEnv":"X_KEY"}}}', 'env')).toEqual({
      x: { blue: { model: 'm', apiKeyEnv: 'X_KEY' } },
    });
    expect(() => parseTargets('nonsense', 'ROUTER_TARGETS')).toThrow(RouterConfigError);
    expect(() => loadRouterSettings({ config: '/nonexistent/router.yaml' }, {})).toThrow(/cannot read/);
  });

  it("reads ROUTER_KEY_ENVS and ROUTER_ALLOWED_ORIGINS, and never allows the router's or Temporal's own secrets", () => {
    const s = loadRouterSettings({}, { ROUTER_KEY_ENVS: 'PARTNER_API_KEY, OTHER_KEY', ROUTER_ALLOWED_ORIGINS: 'https://partner.example' });
    expect(s.keyEnvs).toEqual(['PARTNER_API_KEY', 'OTHER_KEY']);
    expect(s.allowedOrigins).toEqual(['https://partner.example']);
    expect(() => loadRouterSettings({}, { ROUTER_KEY_ENVS: 'TEMPORAL_API_KEY' })).toThrow(/never sent/);
    expect(() => loadRouterSettings({}, { ROUTER_KEY_ENVS: 'ROUTER_API_KEYS' })).toThrow(/never sent/);
    expect(() => loadRouterSettings({}, { ROUTER_TARGETS: '{"x":{"blue":{"model":"m","apiKeyEnv":"TEMPORAL_API_KEY"}}}' })).toThrow(
      /never sent/,
    );
    expect(() => loadRouterSettings({}, { ROUTER_ALLOWED_ORIGINS: 'ftp://x' })).toThrow(/ROUTER_ALLOWED_ORIGINS/);
  });

  it('reads the body limit from --max-body-bytes, ROUTER_MAX_BODY_BYTES and maxBodyBytes (flag over env over file; 16 MiB default)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'router-config-')), 'router.yaml');
    writeFileSync(file, 'maxBodyBytes: 3000\n');
    expect(loadRouterSettings({}, {}).maxBodyBytes).toBe(16 * 1024 * 1024);
    expect(loadRouterSettings({ config: file }, {}).maxBodyBytes).toBe(3000);
    expect(loadRouterSettings({ config: file }, { ROUTER_MAX_BODY_BYTES: '2000' }).maxBodyBytes).toBe(2000);
    expect(loadRouterSettings({ config: file, maxBodyBytes: '1000' }, { ROUTER_MAX_BODY_BYTES: '2000' }).maxBodyBytes).toBe(1000);
    expect(() => loadRouterSettings({ maxBodyBytes: '1.5' }, {})).toThrow(RouterConfigError);
    expect(() => loadRouterSettings({}, { ROUTER_MAX_BODY_BYTES: '-1' })).toThrow(/ROUTER_MAX_BODY_BYTES/);
  });

  it('reads --workers, --upstream-connections and --ratio-from with their variables and file fields', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'router-config-')), 'router.yaml');
    writeFileSync(file, 'workers: 3\nupstreamConnections: 2048\nratioFrom: http://router-0:4000/\n');
    const d = loadRouterSettings({}, {});
    expect(d.workers).toBe(availableParallelism());
    expect(d.upstreamConnections).toBe(1024);
    expect(d.ratioFrom).toBeUndefined();
    expect(loadRouterSettings({ config: file }, {})).toMatchObject({
      workers: 3,
      upstreamConnections: 2048,
      ratioFrom: 'http://router-0:4000',
    });
    expect(
      loadRouterSettings(
        { config: file, workers: '1', upstreamConnections: '0' },
        { ROUTER_WORKERS: '2', ROUTER_UPSTREAM_CONNECTIONS: '9', ROUTER_RATIO_FROM: 'https://reader.example' },
      ),
    ).toMatchObject({ workers: 1, upstreamConnections: 0, ratioFrom: 'https://reader.example' });
    expect(() => loadRouterSettings({ workers: '0' }, {})).toThrow(/--workers: expected a whole number between 1 and 256/);
    expect(() => loadRouterSettings({}, { ROUTER_UPSTREAM_CONNECTIONS: 'many' })).toThrow(/ROUTER_UPSTREAM_CONNECTIONS/);
    expect(() => loadRouterSettings({ ratioFrom: 'router-0:4000' }, {})).toThrow(/--ratio-from/);
  });
});
