// The HTML report: self-contained and escaped; in a real headless Chromium it draws its charts and
// fetches nothing.
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { hasChromium, launchChromium } from '../helpers/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CATALOG } from '../../src/catalog/prices';
import { ExperimentAccumulator } from '../../src/experiment/aggregate';
import { esc, renderHtml } from '../../src/experiment/html';
import { DEFAULT_SETTINGS } from '../../src/experiment/plan';
import { batch, sampleReport, settings } from './fixtures';

const dir = mkdtempSync(join(tmpdir(), 'ab-html-'));

function report() {
  const models = ['deepseek-v3.2', 'gemini-2.5-flash', 'gpt-4.1', 'claude-sonnet-4.5'];
  const acc = new ExperimentAccumulator(models);
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  models.forEach((model, k) => {
    const base = [450, 300, 900, 1100][k];
    const latenciesMs = Array.from({ length: 60 }, () => Math.round(base * (0.5 + rand() * 1.5)));
    acc.add({
      model,
      round: 1,
      requests: 62 + k,
      latenciesMs,
      errors: { server: 2 + k },
      inputTokens: 60 * 30,
      outputTokens: 60 * 150,
      retries: 0,
      durationMs: 1,
    });
  });
  return acc.report({
    status: 'completed',
    rounds: 30,
    prompts: ['simple question', 'reasoning'],
    settings: { ...DEFAULT_SETTINGS, durationMs: undefined, rounds: 30 },
    startedAt: '2026-01-01T00:00:00Z',
    catalog: DEFAULT_CATALOG,
  });
}

describe('HTML report', () => {
  const r = sampleReport();

  it('renders self-contained HTML with one chart per model plus cost and success charts', () => {
    const html = renderHtml(r);
    expect(html.match(/<svg class="chart"/g)).toHaveLength(r.models.length + 2);
    expect(html.match(/data-chart="latency"/g)).toHaveLength(r.models.length);
    expect(html).not.toMatch(/<script|<link|src=|@import|https?:\/\/(?!www\.w3\.org)/i);
  });

  it('escapes model names and errors', () => {
    const acc = new ExperimentAccumulator(['<img onerror=x>']);
    acc.add(batch('<img onerror=x>', { requests: 1, errors: { server: 1 }, lastError: '<b>x</b>' }));
    const html = renderHtml(
      acc.report({ status: 'completed', rounds: 1, prompts: ['<p>'], settings, startedAt: '', catalog: DEFAULT_CATALOG }),
    );
    expect(html).not.toContain('<img onerror');
    expect(html).not.toContain('<b>x</b>');
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('reads numbers through src/format.ts: success with one decimal, a missing latency as an en dash', () => {
    const acc = new ExperimentAccumulator(['gpt-4.1']);
    acc.add(batch('gpt-4.1', { requests: 3, latenciesMs: [40, 50], errors: { server: 1 } }));
    acc.addFailedBatch('gpt-4.1', 'x', 0);
    const html = renderHtml(
      acc.report({ status: 'completed', rounds: 1, prompts: ['p'], settings, startedAt: '', catalog: DEFAULT_CATALOG }),
    );
    expect(html).toContain('>66.7%<');
    const empty = renderHtml(
      new ExperimentAccumulator(['gpt-4.1']).report({
        status: 'cancelled',
        rounds: 0,
        prompts: [],
        settings,
        startedAt: '',
        catalog: DEFAULT_CATALOG,
      }),
    );
    expect(empty).toContain('avg – ms, p50 – ms, p99 – ms');
    expect(empty).toContain('no successful requests');
  });
});

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
    const costWidths = await page
      .locator('svg[data-chart="cost"] rect.bar')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('width'))));
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
