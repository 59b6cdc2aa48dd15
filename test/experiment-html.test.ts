// The HTML report opens in a real headless Chromium, draws its charts, and fetches nothing.
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { hasChromium, launchChromium } from './helpers/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CATALOG } from '../src/catalog/prices';
import { ExperimentAccumulator } from '../src/experiment/aggregate';
import { renderHtml } from '../src/experiment/html';
import { DEFAULT_SETTINGS } from '../src/experiment/plan';

const dir = mkdtempSync(join(tmpdir(), 'ab-html-'));

function report() {
  const models = ['deepseek-v3.2', 'gemini-2.5-flash', 'gpt-4.1', 'claude-sonnet-4.5'];
  const acc = new ExperimentAccumulator(models);
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  models.forEach((model, k) => {
    const base = [450, 300, 900, 1100][k];
    const latenciesMs = Array.from({ length: 60 }, () => Math.round(base * (0.5 + rand() * 1.5)));
    acc.add({ model, round: 1, requests: 62 + k, latenciesMs, errors: { server: 2 + k }, inputTokens: 60 * 30, outputTokens: 60 * 150, retries: 0, durationMs: 1 });
  });
  return acc.report({ status: 'completed', rounds: 30, prompts: ['simple question', 'reasoning'], settings: { ...DEFAULT_SETTINGS, durationMs: undefined, rounds: 30 }, startedAt: '2026-01-01T00:00:00Z', catalog: DEFAULT_CATALOG });
}

describe.skipIf(!hasChromium)('HTML report in headless Chromium', () => {
  let browser: BrowserContext;
  beforeAll(async () => {
    browser = await launchChromium({ width: 1100, height: 900 });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('shows the latency, cost and success charts with one bar per model, offline', async () => {
    const r = report();
    const path = join(dir, 'report.html');
    writeFileSync(path, renderHtml(r));
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(`file://${path}`);

    expect(await page.locator('svg.chart').count()).toBe(r.models.length + 2);
    expect(await page.locator('svg[data-chart="latency"]').count()).toBe(r.models.length);
    const bucketCount = r.models[0].histogram.counts.length;
    expect(await page.locator('svg[data-chart="latency"] rect.bar').count()).toBe(r.models.length * bucketCount);
    for (const kind of ['cost', 'success']) {
      const bars = page.locator(`svg[data-chart="${kind}"] rect.bar`);
      expect(await bars.count()).toBe(r.models.length);
      for (let i = 0; i < r.models.length; i++) {
        const box = await bars.nth(i).boundingBox();
        expect(box && box.width > 0 && box.height > 0).toBe(true);
      }
    }
    // The cheapest model's cost bar is the shortest; the table lists models in the same order.
    const costWidths = await page.locator('svg[data-chart="cost"] rect.bar').evaluateAll((els) => els.map((e) => Number(e.getAttribute('width'))));
    expect(costWidths).toEqual([...costWidths].sort((a, b) => a - b));
    const firstCells = await page.locator('table tbody tr td:first-child').allTextContents();
    expect(firstCells).toEqual(r.models.map((m) => m.model));
    expect(await page.title()).toContain('A/B experiment');

    const shot = join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
    console.log(`screenshot: ${shot}`);
    await page.close();
  });
});
