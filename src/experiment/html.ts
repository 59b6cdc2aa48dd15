/**
 * A self-contained HTML report: inline CSS and inline SVG charts, no script, no CDN, no fonts to fetch.
 * Charts: latency distribution per model (histogram of successful requests, p50/p99 marked),
 * cost per request, success rate. Every chart is an <svg class="chart" data-chart="…">; its bars are
 * <rect class="bar">, so tests (and people) can find them.
 */
import { fmtMsValue, fmtPercent, fmtUsd } from '../format';
import { renderNotes, TABLE_HEADER, tableRow } from './render';
import type { ExperimentReport, ModelReport } from './contract';

const PALETTE = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const n = (x: number) => String(Math.round(x * 10) / 10);

function latencyChart(m: ModelReport, color: string): string {
  const W = 560,
    H = 180,
    L = 44,
    R = 10,
    T = 24,
    B = 30;
  const { boundsMs, counts } = m.histogram;
  const title = `${m.model}: latency of successful requests (n=${m.successes})`;
  if (counts.length === 0 || m.successes === 0) {
    return `<svg class="chart" data-chart="latency" data-model="${esc(m.model)}" role="img" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}"><title>${esc(title)}</title><text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="muted">no successful requests</text></svg>`;
  }
  const k = counts.length;
  const top = boundsMs.length ? boundsMs[boundsMs.length - 1] : 1;
  const bw = (W - L - R) / k;
  const maxC = Math.max(1, ...counts);
  const y = (c: number) => T + (H - T - B) * (1 - c / maxC);
  const bars = counts
    .map((c, i) => {
      const lo = i === 0 ? 0 : boundsMs[i - 1];
      const label = i < boundsMs.length ? `${fmtMsValue(lo)}–${fmtMsValue(boundsMs[i])} ms: ${c}` : `> ${fmtMsValue(top)} ms: ${c}`;
      return `<rect class="bar" x="${n(L + i * bw + 1)}" y="${n(y(c))}" width="${n(Math.max(1, bw - 2))}" height="${n(H - B - y(c))}" fill="${color}"${i === k - 1 && boundsMs.length ? ' fill-opacity="0.55"' : ''}><title>${esc(label)}</title></rect>`;
    })
    .join('');
  // x: bucket i spans [i*bw, (i+1)*bw); ms → x within the bounded range
  const step = boundsMs.length ? boundsMs[0] : 1;
  const xOf = (ms: number) => L + Math.min(k - 0.5, ms / step) * bw;
  // p50's label sits left of its line, p99's right of its line, so close values do not overlap.
  const marker = (ms: number | null, name: string, anchor: 'end' | 'start') =>
    ms === null
      ? ''
      : `<line class="marker" x1="${n(xOf(ms))}" x2="${n(xOf(ms))}" y1="${T - 6}" y2="${H - B}" stroke="#111" stroke-dasharray="3 3"/><text x="${n(xOf(ms) + (anchor === 'end' ? -3 : 3))}" y="${T - 9}" text-anchor="${anchor}" class="small">${name} ${fmtMsValue(ms)}</text>`;
  const ticks = [0, Math.floor(k / 2), k - 1]
    .map((i) => `<text x="${n(L + i * bw)}" y="${H - B + 14}" class="small">${i === 0 ? '0' : fmtMsValue(boundsMs[i - 1] ?? top)}</text>`)
    .join('');
  return `<svg class="chart" data-chart="latency" data-model="${esc(m.model)}" role="img" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}"><title>${esc(title)}</title>
<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#999"/><text x="${L - 6}" y="${T + 4}" text-anchor="end" class="small">${maxC}</text><text x="${L - 6}" y="${H - B}" text-anchor="end" class="small">0</text>
${bars}${marker(m.p50LatencyMs, 'p50', 'end')}${marker(m.p99LatencyMs, 'p99', 'start')}${ticks}<text x="${W - R}" y="${H - 4}" text-anchor="end" class="small">ms (last bar: slower)</text></svg>`;
}

function hbarChart(kind: string, title: string, rows: Array<{ label: string; value: number | null; text: string }>, max: number): string {
  const W = 640,
    rowH = 26,
    L = 190,
    R = 110,
    T = 8;
  const H = T * 2 + rows.length * rowH;
  const bars = rows
    .map((r, i) => {
      const y = T + i * rowH;
      const w = r.value === null || max <= 0 ? 0 : ((W - L - R) * r.value) / max;
      return `<text x="${L - 8}" y="${y + 17}" text-anchor="end">${esc(r.label)}</text><rect class="bar" x="${L}" y="${y + 4}" width="${n(Math.max(0, w))}" height="${rowH - 8}" fill="${PALETTE[i % PALETTE.length]}"><title>${esc(`${r.label}: ${r.text}`)}</title></rect><text x="${n(L + Math.max(0, w) + 6)}" y="${y + 17}" class="small">${esc(r.text)}</text>`;
    })
    .join('');
  return `<svg class="chart" data-chart="${kind}" role="img" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}"><title>${esc(title)}</title>${bars}</svg>`;
}

export function renderHtml(report: ExperimentReport, opts: { title?: string; generatedAt?: string } = {}): string {
  const title = opts.title ?? 'modelshift A/B experiment';
  const models = report.models;
  const maxCost = Math.max(0, ...models.map((m) => m.costPerRequestUsd ?? 0));
  const table = `<table><thead><tr>${TABLE_HEADER.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${models
    .map(
      (m) =>
        `<tr>${tableRow(m)
          .map((c, i) => `<td${i ? ' class="num"' : ''}>${esc(c)}</td>`)
          .join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
  const latency = models
    .map(
      (m, i) =>
        `<figure>${latencyChart(m, PALETTE[i % PALETTE.length])}<figcaption>${esc(m.model)} — avg ${fmtMsValue(m.avgLatencyMs)} ms, p50 ${fmtMsValue(m.p50LatencyMs)} ms, p99 ${fmtMsValue(m.p99LatencyMs)} ms${m.expectedP99LatencyMs !== null ? ` (catalog p99 ${fmtMsValue(m.expectedP99LatencyMs)} ms)` : ''}</figcaption></figure>`,
    )
    .join('\n');
  const cost = hbarChart(
    'cost',
    'Cost per request (USD)',
    models.map((m) => ({ label: m.model, value: m.costPerRequestUsd, text: m.priced ? fmtUsd(m.costPerRequestUsd) : 'unpriced' })),
    maxCost,
  );
  const success = hbarChart(
    'success',
    'Success rate',
    models.map((m) => ({ label: m.model, value: m.successRate, text: fmtPercent(m.successRate, 1) })),
    1,
  );
  const s = report.settings;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1000px;padding:0 16px;color:#111}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}th,td{padding:5px 8px;border-bottom:1px solid #e5e7eb;text-align:left}td.num{text-align:right}th{background:#f3f4f6}
figure{margin:8px 0 16px}figcaption{color:#444;font-size:13px}svg{max-width:100%;height:auto;font:12px system-ui,sans-serif}
.small{font-size:11px;fill:#444}.muted{fill:#888}.meta{color:#555}ul.notes{color:#444;font-size:13px}
</style></head><body>
<h1>${esc(title)}</h1>
<p class="meta">Status <b>${esc(report.status)}</b> · ${report.rounds} round(s) · ${report.prompts.length} prompt(s): ${esc(report.prompts.join(', '))} · started ${esc(report.startedAt)}${opts.generatedAt ? ` · generated ${esc(opts.generatedAt)}` : ''}<br>
concurrency ${s.concurrency}/model · rpm ${s.rpm ?? 'unlimited'}/model · temperature ${s.temperature} · max_tokens ${s.maxTokens} · timeout ${s.timeoutMs / 1000}s · tries ${s.attempts}</p>
<h2>Results (sorted by cost per request)</h2>
${table}
<ul class="notes">${renderNotes(report)
    .map((l) => `<li>${esc(l)}</li>`)
    .join('')}</ul>
<h2>Cost per request</h2>
${cost}
<h2>Success rate</h2>
${success}
<h2>Latency distribution (successful requests)</h2>
${latency}
<p class="meta">Cost = input tokens × input price + output tokens × output price, from the price catalog (entries marked as assumptions in the catalog are estimates). p50/p99 are nearest-rank over the measured latencies.</p>
</body></html>
`;
}
