import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_MODELS, FaultProfileSchema, loadSimProfileFile, startSimulator } from '../../src/sim';
import { lognormalFromQuantiles, mulberry32 } from '../../src/stats/rng';
import { countPromptTokens } from '../../src/sim/tokens';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sim-profile-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('simulator: profiles', () => {
  it('default catalog validates, with the seed p99 latencies and small error rates', () => {
    for (const p of Object.values(DEFAULT_SIM_MODELS)) {
      expect(FaultProfileSchema.safeParse(p).success).toBe(true);
      expect(p.errorRate).toBeLessThanOrEqual(0.01);
    }
    const p99 = (m: string) => (DEFAULT_SIM_MODELS[m].latencyMs as { p99: number }).p99;
    expect([p99('deepseek-v3.2'), p99('gemini-2.5-flash'), p99('gpt-4.1'), p99('claude-sonnet-4.5')]).toEqual([1200, 800, 2500, 3000]);
  });

  it('loads JSON and YAML profile files', async () => {
    const json = join(dir, 'profile.json');
    await writeFile(json, JSON.stringify({ seed: 3, latencyScale: 0.1, models: { 'gpt-4.1': { errorRate: 0.2 } } }));
    expect(await loadSimProfileFile(json)).toMatchObject({ seed: 3, latencyScale: 0.1, models: { 'gpt-4.1': { errorRate: 0.2 } } });
    const yaml = join(dir, 'profile.yaml');
    await writeFile(yaml, 'models:\n  gpt-4.1-turbo:\n    latencyMs: { p50: 100, p99: 300 }\n    rpm: 600\n');
    const loaded = await loadSimProfileFile(yaml);
    expect(loaded.models['gpt-4.1-turbo']).toEqual({ latencyMs: { p50: 100, p99: 300 }, rpm: 600 });
    const sim = await startSimulator({ ...loaded, latencyScale: 0 });
    expect(sim.getProfile('gpt-4.1-turbo')!.rpm).toBe(600);
    await sim.close();
  });

  it('reports one-line errors naming the file and field', async () => {
    const bad = join(dir, 'profile.json');
    await writeFile(bad, JSON.stringify({ models: { 'gpt-4.1': { errorRate: 2 } } }));
    await expect(loadSimProfileFile(bad)).rejects.toThrow('profile.json: models.gpt-4.1.errorRate: expected a number between 0 and 1');
    await writeFile(bad, JSON.stringify({ models: { 'gpt-4.1': { latency: 2 } } }));
    await expect(loadSimProfileFile(bad)).rejects.toThrow(/profile\.json: models\.gpt-4\.1: unknown field latency$/);
    await writeFile(bad, '{ not json');
    await expect(loadSimProfileFile(bad)).rejects.toThrow(/profile\.json: not valid JSON/);
    await expect(startSimulator({ models: { x: { errorRate: 0.8, timeoutRate: 0.8 } } })).rejects.toThrow(/^models\.x\.errorRate: /);
  });

  it('seeded PRNG is deterministic and the lognormal fit hits p50/p99', () => {
    const a = mulberry32(1);
    const b = mulberry32(1);
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
    const rng = mulberry32(99);
    const xs = Array.from({ length: 20_000 }, () => lognormalFromQuantiles(rng, 100, 400)).sort((x, y) => x - y);
    expect(xs[10_000]).toBeGreaterThan(90);
    expect(xs[10_000]).toBeLessThan(110);
    expect(xs[19_800]).toBeGreaterThan(340);
    expect(xs[19_800]).toBeLessThan(460);
  });

  it('counts prompt tokens at ~chars/4 plus per-message overhead', () => {
    expect(countPromptTokens([{ role: 'user', content: 'x'.repeat(400) }])).toBe(3 + 4 + 100);
    expect(countPromptTokens([{ role: 'user', content: [{ type: 'text', text: 'abcd' }] }])).toBe(3 + 4 + 1);
  });
});
