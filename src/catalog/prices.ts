/**
 * The price catalog: pure data and arithmetic only (no fs, no zod), so workflow code, the router
 * and reports can import it. Loading and validating a user's catalog file is in `./load`.
 *
 * Sources. The seed design gave, per model, the OUTPUT price per million tokens, use cases and
 * an expected p99 latency. It gave no input or cached-input prices, and it priced every token at
 * the output price (a defect: a 1,000-token prompt with a 10-token answer was billed as 1,010
 * output tokens). Our input / cached-input prices, and everything about gpt-4.1-turbo (which the
 * seed did not list), are ASSUMPTIONS in the shape of public list prices at the time of writing;
 * each entry's `assumed` array names exactly which fields are assumptions. Override them from a
 * catalog file (`--catalog`, see `loadCatalog`) with what your gateway actually bills.
 */

/** Fields of a catalog entry that can be marked as assumptions. */
export type PriceField = 'inputPerM' | 'outputPerM' | 'cachedInputPerM' | 'p99LatencyMs' | 'useCases';

export interface ModelEntry {
  /** USD per million input (prompt) tokens that were not served from the gateway's prompt cache. */
  inputPerM: number;
  /** USD per million output (completion) tokens. */
  outputPerM: number;
  /**
   * USD per million cached input tokens, where the gateway bills them differently.
   * Absent → cached input tokens are billed at `inputPerM`.
   */
  cachedInputPerM?: number;
  /** What the model is good for (informational; shown in reports). */
  useCases: string[];
  /** Expected p99 latency in ms (informational; reports compare it with the measured p99). */
  p99LatencyMs?: number;
  /** Which fields above are assumptions rather than given/measured prices. Empty = all given. */
  assumed: PriceField[];
}

/**
 * A routing rule. All present conditions must hold (AND); an empty rule always matches.
 * Rules are tried in order and the first match wins; no match → `RoutingConfig.default`.
 */
export interface RoutingRule {
  model: string;
  /** Matches when the total characters of all messages is < this. */
  charsBelow?: number;
  /** Matches when the total characters of all messages is > this. */
  charsAbove?: number;
  /** Matches when any keyword occurs in the lower-cased text of all messages. */
  keywords?: string[];
  /**
   * How keywords match. 'substring' (default, the seed's behaviour): "however" and "show" contain
   * "how", "whyever" contains "why". 'word': only whole words (Unicode letters/digits bound a word),
   * so "how" does not match "however" or "show" but does match "How," and "how-to".
   */
  match?: 'substring' | 'word';
}

export interface RoutingConfig {
  rules: RoutingRule[];
  default: string;
}

export interface Catalog {
  models: Record<string, ModelEntry>;
  routing: RoutingConfig;
}

export interface TokenUsage {
  /** All prompt tokens, INCLUDING cached ones (OpenAI's `usage.prompt_tokens`). */
  inputTokens: number;
  outputTokens: number;
  /** The part of `inputTokens` served from cache (`usage.prompt_tokens_details.cached_tokens`). */
  cachedInputTokens?: number;
}

/** The seed's classifier keywords (matched as substrings by default, see `RoutingRule.match`). */
export const SEED_KEYWORDS: readonly string[] = Object.freeze(['why', 'how', 'analyze', 'compare', 'reasoning']);

export const DEFAULT_ROUTING: RoutingConfig = {
  // Order matters and reproduces the seed: length < 500 wins over keywords, so
  // "Why is the sky blue?" (20 chars) goes to deepseek-v3.2, not gpt-4.1.
  rules: [
    { model: 'deepseek-v3.2', charsBelow: 500 },
    { model: 'gpt-4.1', charsAbove: 3000 },
    { model: 'gpt-4.1', keywords: [...SEED_KEYWORDS], match: 'substring' },
  ],
  default: 'gemini-2.5-flash',
};

export const DEFAULT_CATALOG: Catalog = {
  models: {
    'deepseek-v3.2': {
      inputPerM: 0.28,
      outputPerM: 0.42,
      cachedInputPerM: 0.028,
      useCases: ['cost-optimized', 'standard tasks'],
      p99LatencyMs: 1200,
      assumed: ['inputPerM', 'cachedInputPerM'],
    },
    'gemini-2.5-flash': {
      inputPerM: 0.3,
      outputPerM: 2.5,
      cachedInputPerM: 0.03,
      useCases: ['fast responses', 'batch'],
      p99LatencyMs: 800,
      assumed: ['inputPerM', 'cachedInputPerM'],
    },
    'gpt-4.1': {
      inputPerM: 2.0,
      outputPerM: 8.0,
      cachedInputPerM: 0.5,
      useCases: ['complex reasoning', 'code generation'],
      p99LatencyMs: 2500,
      assumed: ['inputPerM', 'cachedInputPerM'],
    },
    'claude-sonnet-4.5': {
      inputPerM: 3.0,
      outputPerM: 15.0,
      cachedInputPerM: 0.3,
      useCases: ['long context', 'creative writing'],
      p99LatencyMs: 3000,
      assumed: ['inputPerM', 'cachedInputPerM'],
    },
    // Not in the seed: the candidate "new version" used in rollout demos. Everything is assumed.
    'gpt-4.1-turbo': {
      inputPerM: 1.0,
      outputPerM: 4.0,
      cachedInputPerM: 0.25,
      useCases: ['complex reasoning', 'code generation', 'lower latency'],
      p99LatencyMs: 1800,
      assumed: ['inputPerM', 'outputPerM', 'cachedInputPerM', 'p99LatencyMs', 'useCases'],
    },
  },
  routing: DEFAULT_ROUTING,
};
deepFreeze(DEFAULT_CATALOG);

/** A deep, mutable copy of a catalog (DEFAULT_CATALOG is frozen). */
export function cloneCatalog(c: Catalog): Catalog {
  return JSON.parse(JSON.stringify(c)) as Catalog;
}

export function isPriced(catalog: Catalog, model: string): boolean {
  return Object.prototype.hasOwnProperty.call(catalog.models, model);
}

export interface CostEstimate {
  usd: number;
  /** false → the model is not in the catalog and `usd` is 0 (not "free": unknown). */
  priced: boolean;
}

/**
 * Cost of one request or of a sum of requests (the formula is linear, so totals can be priced at once):
 *   (input − cached) × inputPerM + cached × (cachedInputPerM ?? inputPerM) + output × outputPerM, all ÷ 1e6.
 * Unknown model → `{ usd: 0, priced: false }`; it does not throw, so a typo in a model name cannot
 * fail a running experiment or rollout. Reports surface `priced: false` as "unpriced".
 */
export function estimateCost(catalog: Catalog, model: string, usage: TokenUsage): CostEstimate {
  if (!isPriced(catalog, model)) return { usd: 0, priced: false };
  const e = catalog.models[model];
  const input = nonNeg(usage.inputTokens);
  const cached = Math.min(input, nonNeg(usage.cachedInputTokens ?? 0));
  const output = nonNeg(usage.outputTokens);
  const usd = ((input - cached) * e.inputPerM + cached * (e.cachedInputPerM ?? e.inputPerM) + output * e.outputPerM) / 1e6;
  return { usd, priced: true };
}

/** `estimateCost(...).usd`: 0 for a model missing from the catalog (check `isPriced` to tell "free" from "unknown"). */
export function estimateCostUsd(catalog: Catalog, model: string, usage: TokenUsage): number {
  return estimateCost(catalog, model, usage).usd;
}

/** Just the entries for `models` (for workflow inputs: keeps history small). Unknown names are skipped. */
export function pickModels(catalog: Catalog, models: readonly string[]): Catalog {
  const out: Record<string, ModelEntry> = {};
  for (const m of models) if (isPriced(catalog, m)) out[m] = catalog.models[m];
  return { models: out, routing: catalog.routing };
}

function nonNeg(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o as object)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
