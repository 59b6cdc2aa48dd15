/** The worker's upstream policy: which key variables it sends and to which origins, from its own environment. */
import { describe, expect, it } from 'vitest';
import { GatewayConfigError, resolveGateway } from '../../src/gateway/client';
import { describeError, scrubSecrets } from '../../src/gateway/errors';
import { UpstreamPolicy } from '../../src/gateway/policy';

const env = {
  GATEWAY_BASE_URL: 'https://gw.example/v1',
  GATEWAY_API_KEY: 'sk-gateway-1234567890',
  TEMPORAL_API_KEY: 'tmprl-secret',
  TEMPORAL_ADDRESS: 'x:7233',
  PARTNER_KEY: 'p-key-123456',
};
const refusal = (arm: { baseURL?: string; apiKeyEnv?: string }, e: NodeJS.ProcessEnv = env) => {
  try {
    resolveGateway(arm, e);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayConfigError);
    return (err as Error).message;
  }
  return 'allowed';
};

describe('worker upstream policy', () => {
  it('sends the gateway key to the gateway', () => {
    expect(refusal({})).toBe('allowed');
    expect(refusal({ baseURL: 'https://gw.example/other/v1' })).toBe('allowed'); // same origin
  });

  it('never sends a TEMPORAL_* variable (or any unlisted one) as a key', () => {
    expect(refusal({ apiKeyEnv: 'TEMPORAL_API_KEY' })).toBe(
      "apiKeyEnv: TEMPORAL_API_KEY is never sent upstream (it is Temporal's or the router's own secret)",
    );
    expect(refusal({ apiKeyEnv: 'TEMPORAL_ADDRESS' })).toMatch(/^apiKeyEnv: TEMPORAL_ADDRESS is never sent upstream/);
    expect(refusal({ apiKeyEnv: 'ROUTER_API_KEYS' })).toMatch(/never sent upstream/);
    expect(refusal({ apiKeyEnv: 'PARTNER_KEY' })).toBe(
      'apiKeyEnv: PARTNER_KEY is not an allowed key variable here (allowed: GATEWAY_API_KEY, HOLYSHEEP_API_KEY); add it to WORKER_KEY_ENVS',
    );
    expect(refusal({ apiKeyEnv: 'PARTNER_KEY' }, { ...env, WORKER_KEY_ENVS: 'PARTNER_KEY' })).toBe('allowed');
  });

  it('never sends a key to an origin the worker was not configured with (a metadata service included)', () => {
    expect(refusal({ baseURL: 'https://evil.example/v1' })).toBe(
      'baseURL: https://evil.example is not an allowed origin here (allowed: https://gw.example); add it to WORKER_ALLOWED_ORIGINS',
    );
    expect(refusal({ baseURL: 'http://169.254.169.254/latest' })).toMatch(/^baseURL: http:\/\/169\.254\.169\.254 is not an allowed origin/);
    expect(
      refusal(
        { baseURL: 'https://partner.example/v1', apiKeyEnv: 'PARTNER_KEY' },
        { ...env, WORKER_KEY_ENVS: 'PARTNER_KEY', WORKER_ALLOWED_ORIGINS: 'https://partner.example' },
      ),
    ).toBe('allowed');
  });

  it('refuses credentials or a query in a base URL, and a forbidden variable in the allow-list itself', () => {
    expect(refusal({ baseURL: 'https://u:sk-x@gw.example/v1' })).toMatch(/^baseURL: carries credentials/);
    expect(refusal({ baseURL: 'https://gw.example/v1?api-key=1' })).toMatch(/^baseURL: carries a query/);
    expect(() => new UpstreamPolicy({ keyEnvs: ['TEMPORAL_API_KEY'] })).toThrow(
      /WORKER_KEY_ENVS: TEMPORAL_API_KEY is the router's or Temporal's own secret/,
    );
  });
});

describe('error text never carries a key', () => {
  it('scrubs the key the call used wherever the gateway quoted it, and OpenAI-shaped keys', () => {
    expect(scrubSecrets('bad key abcd-efgh-1234 in request', ['abcd-efgh-1234'])).toBe('bad key [redacted] in request');
    expect(describeError(new Error('401 Bearer my-gw-key-42 rejected\nstack…'), ['my-gw-key-42'])).toBe('401 Bearer [redacted] rejected');
    expect(describeError(new Error('key sk-abcdefghijk is wrong'))).toBe('key sk-*** is wrong');
  });
});
