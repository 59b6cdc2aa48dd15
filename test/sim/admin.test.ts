import OpenAI, { InternalServerError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim';

const json = async (r: Response | Promise<Response>): Promise<any> => (await r).json();
const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function setup(adminKey?: string) {
  const sim = await startSimulator({ latencyScale: 0, adminKey, models: { 'gpt-4.1-turbo': { errorRate: 0 } } });
  sims.push(sim);
  const base = sim.url.replace(/\/v1$/, '');
  const admin = (method: string, path: string, body?: unknown, key = sim.apiKey) =>
    fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const client = new OpenAI({ baseURL: sim.url, apiKey: sim.apiKey, maxRetries: 0 });
  return { sim, admin, client };
}

const call = (client: OpenAI) =>
  client.chat.completions.create({ model: 'gpt-4.1-turbo', messages: [{ role: 'user', content: 'hi' }] }).then(
    () => 'ok',
    (e: unknown) => e,
  );

describe('simulator: admin endpoints', () => {
  it('PUT changes behaviour mid-run; stats count outcomes; reset restores', async () => {
    const { sim, admin, client } = await setup();
    expect(await call(client)).toBe('ok');

    const put = await admin('PUT', '/admin/models/gpt-4.1-turbo', { errorRate: 1 });
    expect(put.status).toBe(200);
    expect((await json(put)).profile.errorRate).toBe(1);
    expect(await call(client)).toBeInstanceOf(InternalServerError);
    expect(sim.getProfile('gpt-4.1-turbo')!.errorRate).toBe(1);
    // other fields kept by the merge
    expect(sim.getProfile('gpt-4.1-turbo')!.latencyMs).toEqual({ p50: 600, p99: 1800 });

    const stats = await json(admin('GET', '/admin/stats'));
    expect(stats.stats['gpt-4.1-turbo']).toMatchObject({ requests: 2, ok: 1, serverError: 1 });
    expect(sim.stats()['gpt-4.1-turbo'].requests).toBe(2);

    const models = await json(admin('GET', '/admin/models'));
    expect(Object.keys(models.models)).toHaveLength(5);
    expect(models.models['gpt-4.1-turbo'].errorRate).toBe(1);

    expect((await admin('POST', '/admin/reset')).status).toBe(200);
    expect(sim.getProfile('gpt-4.1-turbo')!.errorRate).toBe(0);
    expect(sim.stats()['gpt-4.1-turbo'].requests).toBe(0);
    expect(await call(client)).toBe('ok');
  });

  it('rejects bad patches with a one-line 400 naming the field, and can add a model', async () => {
    const { admin, client } = await setup();
    const bad = await admin('PUT', '/admin/models/gpt-4.1', { errorRate: 1.5 });
    expect(bad.status).toBe(400);
    const body = await json(bad);
    expect(body.error.message).toBe('errorRate: expected a number between 0 and 1');
    expect(body.error.message).not.toContain('\n');
    const unknown = await json(admin('PUT', '/admin/models/gpt-4.1', { errorRat: 0.1 }));
    expect(unknown.error.message).toContain('errorRat');
    const latency = await json(admin('PUT', '/admin/models/gpt-4.1', { latencyMs: { p50: 900, p99: 100 } }));
    expect(latency.error.message).toMatch(/^latencyMs: /);

    const added = await admin('PUT', '/admin/models/my-new-model', { errorRate: 0, latencyMs: 0 });
    expect(added.status).toBe(200);
    const r = await client.chat.completions.create({ model: 'my-new-model', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.model).toBe('my-new-model');
    expect((await client.models.list()).data.map((m) => m.id)).toContain('my-new-model');
  });

  it('requires the api key or the admin key', async () => {
    const { admin } = await setup('admin-secret');
    expect((await admin('GET', '/admin/models', undefined, 'nope')).status).toBe(401);
    expect((await admin('GET', '/admin/models', undefined, 'admin-secret')).status).toBe(200);
    expect((await admin('GET', '/admin/models')).status).toBe(200);
  });

  it('setProfile validates and throws a field-naming error', async () => {
    const { sim } = await setup();
    expect(() => sim.setProfile('gpt-4.1', { rpm: -1 })).toThrow(/^rpm: /);
    sim.setProfile('gpt-4.1', { rpm: 100 });
    expect(sim.getProfile('gpt-4.1')!.rpm).toBe(100);
  });
});
