/**
 * Flag values → typed values, one way for every command: a bad value is a BadInput naming the flag
 * and what it expects ("--samples: expected a whole number from 1 to 10000, got \"x\""), exit 2.
 */
import { InvalidArgumentError } from 'commander';
import { BadInput } from '../errors';
import { parseDuration } from '../spec/duration';

export interface NumberRange {
  min?: number;
  max?: number;
  /** whole numbers only */
  integer?: boolean;
}

function expectation(r: NumberRange): string {
  const what = r.integer ? 'a whole number' : 'a number';
  if (r.min !== undefined && r.max !== undefined) return `${what} between ${r.min} and ${r.max}`;
  if (r.min !== undefined) return `${what} >= ${r.min}`;
  if (r.max !== undefined) return `${what} <= ${r.max}`;
  return what;
}

/** A number from a flag or variable (undefined stays undefined). */
export function parseNumber(flag: string, value: string | number | undefined, range: NumberRange = {}): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const n = text === '' ? NaN : Number(text);
  const ok =
    Number.isFinite(n) &&
    (!range.integer || Number.isSafeInteger(n)) &&
    (range.min === undefined || n >= range.min) &&
    (range.max === undefined || n <= range.max);
  if (!ok) throw new BadInput(`${flag}: expected ${expectation(range)}, got ${JSON.stringify(String(value))}`);
  return n;
}

export const parseInteger = (flag: string, value: string | number | undefined, min?: number, max?: number): number | undefined =>
  parseNumber(flag, value, { integer: true, min, max });

export function requireNumber(flag: string, value: string | number, range: NumberRange = {}): number {
  return parseNumber(flag, value, range) as number;
}

/** A duration such as 500ms, 30s, 10m or 1h (a bare number is seconds) → milliseconds. */
export function parseDurationFlag(
  flag: string,
  value: string | undefined,
  range: { minMs?: number; maxMs?: number } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined) throw new BadInput(`${flag}: expected a duration such as 500ms, 5s, 10m or 1h, got ${JSON.stringify(value)}`);
  if (range.minMs !== undefined && ms < range.minMs)
    throw new BadInput(`${flag}: expected at least ${range.minMs} ms, got ${JSON.stringify(value)}`);
  if (range.maxMs !== undefined && ms > range.maxMs)
    throw new BadInput(`${flag}: expected at most ${range.maxMs} ms, got ${JSON.stringify(value)}`);
  return ms;
}

/** "a, b ,c" → ["a", "b", "c"] */
export function parseList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** A commander argument parser from one of the above (commander reports it as bad input, exit 2). */
export function commanderParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message.replace(/^[^:]+: /, ''));
    }
  };
}
