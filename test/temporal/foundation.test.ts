/** Foundation: the resolved Temporal CLI, the dev server's search attributes, configuration errors. */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { cacheDir, ensureTemporalCli, findTemporalCli } from '../../src/temporal/cli';
import { connectTestTemporal } from '../helpers/temporal';

function fakeBinary(dir: string, name = 'temporal'): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, '#!/bin/sh\necho fake\n');
  chmodSync(p, 0o755);
  return p;
}

describe('Temporal CLI resolution', () => {
  const root = mkdtempSync(join(tmpdir(), 'modelshift-cli-resolve-'));
  const onPath = fakeBinary(join(root, 'bin'));
  const cache = join(root, 'cache');
  const cached = fakeBinary(cacheDir({ XDG_CACHE_HOME: cache }));

  it('prefers TEMPORAL_CLI_PATH, then PATH, then the user cache', () => {
    const explicit = fakeBinary(join(root, 'explicit'));
    expect(findTemporalCli({ TEMPORAL_CLI_PATH: explicit, PATH: join(root, 'bin'), XDG_CACHE_HOME: cache })).toMatchObject({
      source: 'env',
      path: explicit,
    });
    expect(findTemporalCli({ PATH: join(root, 'bin'), XDG_CACHE_HOME: cache })).toMatchObject({ source: 'path', path: onPath });
    expect(findTemporalCli({ PATH: '/nonexistent', XDG_CACHE_HOME: cache })).toMatchObject({ source: 'cache', path: cached });
    expect(findTemporalCli({ PATH: '/nonexistent', XDG_CACHE_HOME: join(root, 'empty') })).toBeUndefined();
  });

  it("falls back to the SDK download (a user's machine with internet) when nothing is found and Go is missing", async () => {
    const lines: string[] = [];
    const cli = await ensureTemporalCli((l) => lines.push(l), { PATH: '/nonexistent', XDG_CACHE_HOME: join(root, 'no-go') });
    expect(cli.source).toBe('sdk-download');
    expect(cli.executable).toMatchObject({ type: 'cached-download', downloadDir: cacheDir({ XDG_CACHE_HOME: join(root, 'no-go') }) });
    expect(lines.join('\n')).toMatch(/Go is not installed/);
  });

  it('keeps its cache outside the clone, versioned', () => {
    expect(cacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/modelshift/temporal-cli-v1.5.1');
    expect(cacheDir({ XDG_CACHE_HOME: '/x' }).startsWith(process.cwd())).toBe(false);
  });

  it('refuses a TEMPORAL_CLI_PATH that is not an executable, naming the variable', () => {
    expect(() => findTemporalCli({ TEMPORAL_CLI_PATH: join(root, 'missing') })).toThrow(/^TEMPORAL_CLI_PATH: .* is not an executable file/);
  });
});

describe('dev server', () => {
  it('runs from the resolved binary with the rollout search attributes registered', async () => {
    const t = await connectTestTemporal();
    try {
      const res = await t.client.connection.operatorService.listSearchAttributes({ namespace: 'default' });
      const attrs = res.customAttributes ?? {};
      // temporal.api.enums.v1.IndexedValueType: KEYWORD = 2, INT = 3
      expect(attrs).toMatchObject({ RolloutTarget: 2, RolloutPhase: 2, BlueModel: 2, GreenModel: 2, GreenPercent: 3 });
    } finally {
      await t.close();
    }
  });
});

describe('configuration', () => {
  const err = (env: NodeJS.ProcessEnv) => {
    try {
      loadConfig(env);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error('expected a ConfigError');
  };

  it('has the embedded defaults when nothing is set', () => {
    const c = loadConfig({});
    expect(c.temporal).toMatchObject({ address: undefined, namespace: 'default', taskQueue: 'modelshift', devPort: 7233, uiPort: 8233 });
    expect(c.gateway).toEqual({ baseURL: undefined, apiKeyEnv: 'GATEWAY_API_KEY' });
  });

  it('names the variable and the fix on one line', () => {
    const m = err({ GATEWAY_BASE_URL: 'api.openai.com/v1' });
    expect(m).toMatch(/^GATEWAY_BASE_URL: expected an http\(s\) URL .*; set it to your OpenAI-compatible base URL/);
    expect(m.split('\n')).toHaveLength(1);
    expect(err({ TEMPORAL_PORT: 'abc' })).toMatch(/^TEMPORAL_PORT: /);
    expect(err({ TEMPORAL_TLS_CERT_PATH: '/etc/hostname', TEMPORAL_ADDRESS: 'x:7233' })).toMatch(
      /^TEMPORAL_TLS_KEY_PATH: required for mTLS/,
    );
    expect(err({ TEMPORAL_API_KEY: 'k' })).toMatch(/^TEMPORAL_ADDRESS: required when TEMPORAL_API_KEY/);
  });

  it("accepts the seed design's HOLYSHEEP_* names", () => {
    const c = loadConfig({ HOLYSHEEP_BASE_URL: 'https://api.holysheep.ai/v1', HOLYSHEEP_API_KEY: 'k' });
    expect(c.gateway).toEqual({ baseURL: 'https://api.holysheep.ai/v1', apiKeyEnv: 'HOLYSHEEP_API_KEY' });
  });

  it('configures TLS and an API key for Temporal Cloud', () => {
    const c = loadConfig({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_API_KEY: 'secret' });
    expect(c.temporal).toMatchObject({ address: 'ns.acct.tmprl.cloud:7233', namespace: 'ns.acct', apiKey: 'secret' });
    expect(c.temporal.tls).toBeDefined();
  });
});
