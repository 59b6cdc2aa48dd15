/**
 * How numbers read, everywhere: the terminal (status, ab), the Web UI's Markdown and the verdicts'
 * one-line details. Pure and deterministic (no locale): safe in workflow code. A missing or
 * non-finite value reads as an en dash.
 */
export const DASH = '–';

const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

/** A fraction as a percentage: 0.0123 → "1.23%". */
export function fmtPercent(x: number | null | undefined, digits = 2): string {
  return finite(x) ? `${(x * 100).toFixed(digits)}%` : DASH;
}

/** A difference of fractions in percentage points: 0.02 → "+2.00 pp". */
export function fmtPp(x: number): string {
  return finite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(2)} pp` : DASH;
}

/** Milliseconds as a number: whole from 100 up, one decimal below ("1234", "12.5"). */
export function fmtMsValue(x: number | null | undefined): string {
  if (!finite(x)) return DASH;
  return x >= 100 ? String(Math.round(x)) : String(Math.round(x * 10) / 10);
}

/** Milliseconds with the unit: "1234 ms", "12.5 ms"; infinite → "∞ ms". */
export function fmtMs(x: number | null | undefined): string {
  if (x === Infinity) return '∞ ms';
  return finite(x) ? `${fmtMsValue(x)} ms` : DASH;
}

/** Dollars with at least three significant digits: "$0.00173", "$1.50", "$0". */
export function fmtUsd(x: number | null | undefined): string {
  if (!finite(x)) return DASH;
  if (x === 0) return '$0';
  const digits = Math.min(12, Math.max(2, 3 - Math.ceil(Math.log10(Math.abs(x)))));
  return `$${x.toFixed(digits)}`;
}

/** A ratio: 1.2 → "×1.20"; infinite → "×∞". */
export function fmtRatio(x: number): string {
  if (x === Infinity) return '×∞';
  return finite(x) ? `×${x.toFixed(2)}` : DASH;
}

/** A confidence level from alpha: 0.05 → "95%". */
export const fmtConfidence = (alpha: number): string => `${Math.round((1 - alpha) * 1000) / 10}%`;

/** A green share as a bar: 25 → "[#####...............]". */
export function fmtBar(percent: number, width = 20): string {
  const g = Math.max(0, Math.min(width, Math.round((percent / 100) * width)));
  return `[${'#'.repeat(g)}${'.'.repeat(width - g)}]`;
}
