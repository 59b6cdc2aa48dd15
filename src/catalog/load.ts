/**
 * Loading a user's catalog file (JSON or YAML) and merging it over DEFAULT_CATALOG.
 *
 * File shape (every key optional; unknown keys are refused):
 *   models:
 *     gpt-4.1:            # existing model: override any field
 *       inputPerM: 2
 *       outputPerM: 8
 *     my-model:           # new model: inputPerM and outputPerM are required
 *       inputPerM: 0.5
 *       outputPerM: 1.5
 *       cachedInputPerM: 0.05
 *       useCases: [chat]
 *       p99LatencyMs: 900
 *     old-model: null     # removes a default entry
 *   routing:              # replaces the default routing (rules replaced as a whole list)
 *     rules:
 *       - { model: deepseek-v3.2, charsBelow: 500 }
 *       - { model: gpt-4.1, keywords: [why, how], match: word }
 *     default: gemini-2.5-flash
 *
 * Overriding a field clears its "assumed" mark unless the entry sets `assumed` itself.
 * Errors are one line naming the file and the entry: `catalog.yaml: models.gpt-4.1.outputPerM: expected a non-negative number`.
 */
import { parseStructuredText, readStructuredFile } from '../files/structured';
import { z } from 'zod';
import { BadInput } from '../errors';
import { cloneCatalog, DEFAULT_CATALOG, type Catalog, type ModelEntry, type PriceField } from './prices';

export class CatalogError extends BadInput {
  override name = 'CatalogError';
}

const NONNEG = 'expected a non-negative number';
const price = z.number({ error: NONNEG }).finite({ error: NONNEG }).min(0, { error: NONNEG });
const PRICE_FIELDS = ['inputPerM', 'outputPerM', 'cachedInputPerM', 'p99LatencyMs', 'useCases'] as const;

const ModelPatchSchema = z.strictObject({
  inputPerM: price.optional(),
  outputPerM: price.optional(),
  cachedInputPerM: price.optional(),
  useCases: z.array(z.string({ error: 'expected a string' }), { error: 'expected a list of strings' }).optional(),
  p99LatencyMs: z
    .number({ error: 'expected a positive number of milliseconds' })
    .finite()
    .positive({ error: 'expected a positive number of milliseconds' })
    .optional(),
  assumed: z
    .array(z.enum(PRICE_FIELDS, { error: `expected one of ${PRICE_FIELDS.join(', ')}` }), {
      error: 'expected a list of field names',
    })
    .optional(),
});

const RuleSchema = z.strictObject({
  model: z.string({ error: 'expected a model name' }).min(1, { error: 'expected a model name' }),
  charsBelow: z
    .number({ error: 'expected a whole number >= 0' })
    .int({ error: 'expected a whole number >= 0' })
    .min(0, { error: 'expected a whole number >= 0' })
    .optional(),
  charsAbove: z
    .number({ error: 'expected a whole number >= 0' })
    .int({ error: 'expected a whole number >= 0' })
    .min(0, { error: 'expected a whole number >= 0' })
    .optional(),
  keywords: z
    .array(z.string({ error: 'expected a string' }).min(1, { error: 'expected a non-empty keyword' }), {
      error: 'expected a list of keywords',
    })
    .min(1, { error: 'expected at least one keyword' })
    .optional(),
  match: z.enum(['substring', 'word'], { error: "expected 'substring' or 'word'" }).optional(),
});

const RoutingSchema = z.strictObject({
  rules: z.array(RuleSchema, { error: 'expected a list of rules' }).optional(),
  default: z.string({ error: 'expected a model name' }).min(1, { error: 'expected a model name' }).optional(),
});

/** Schema of a catalog FILE (an override): every key optional, unknown keys refused. */
export const CatalogSchema = z.strictObject({
  models: z
    .record(z.string().min(1, { error: 'expected a non-empty model name' }), ModelPatchSchema.nullable(), {
      error: 'expected a mapping of model name to entry',
    })
    .optional(),
  routing: RoutingSchema.optional(),
});
export type CatalogFile = z.output<typeof CatalogSchema>;

/** One line for a zod error: `models.gpt-4.1.outputPerM: expected a non-negative number`. */
export function formatIssue(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid catalog';
  const path = issue.path.map(String).join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  } else if (issue.code === 'invalid_type' && /received undefined/.test(message)) {
    message = 'required';
  }
  return path ? `${path}: ${message}` : message;
}

/** Merge a parsed override over `base`; throws CatalogError (message without the file prefix). */
export function mergeCatalog(base: Catalog, override: unknown): Catalog {
  const parsed = CatalogSchema.safeParse(override ?? {});
  if (!parsed.success) throw new CatalogError(formatIssue(parsed.error));
  const file = parsed.data;
  const out = cloneCatalog(base);
  for (const [name, patch] of Object.entries(file.models ?? {})) {
    if (patch === null) {
      delete out.models[name];
      continue;
    }
    const prev = out.models[name];
    if (!prev) {
      for (const f of ['inputPerM', 'outputPerM'] as const) {
        if (patch[f] === undefined) throw new CatalogError(`models.${name}.${f}: required for a model not in the default catalog`);
      }
    }
    const given = PRICE_FIELDS.filter((f) => patch[f] !== undefined);
    const assumed: PriceField[] = patch.assumed ?? (prev ? prev.assumed.filter((f) => !given.includes(f)) : []);
    const entry: ModelEntry = {
      inputPerM: patch.inputPerM ?? prev!.inputPerM,
      outputPerM: patch.outputPerM ?? prev!.outputPerM,
      useCases: patch.useCases ?? prev?.useCases ?? [],
      assumed,
    };
    const cached = patch.cachedInputPerM ?? prev?.cachedInputPerM;
    if (cached !== undefined) entry.cachedInputPerM = cached;
    const p99 = patch.p99LatencyMs ?? prev?.p99LatencyMs;
    if (p99 !== undefined) entry.p99LatencyMs = p99;
    out.models[name] = entry;
  }
  if (file.routing) {
    if (file.routing.rules) out.routing.rules = file.routing.rules.map((r) => stripUndefined(r));
    if (file.routing.default) out.routing.default = file.routing.default;
  }
  // Routing may only name models the catalog knows, so `auto` never routes to an unpriced model.
  out.routing.rules.forEach((r, i) => {
    if (!out.models[r.model]) throw new CatalogError(`routing.rules.${i}.model: unknown model ${JSON.stringify(r.model)} (not in models)`);
  });
  if (!out.models[out.routing.default]) {
    throw new CatalogError(`routing.default: unknown model ${JSON.stringify(out.routing.default)} (not in models)`);
  }
  return out;
}

/** Parse catalog file text; `.json` as JSON, anything else as YAML (a superset of JSON). */
export function parseCatalogText(text: string, path: string): unknown {
  return parseStructuredText(text, path, (m) => new CatalogError(m));
}

/**
 * The catalog: DEFAULT_CATALOG, with the file at `path` (JSON or YAML) merged over it when given.
 * Throws CatalogError with one line naming the file and the entry.
 */
export function loadCatalog(path?: string): Catalog {
  if (!path) return cloneCatalog(DEFAULT_CATALOG);
  const raw = readStructuredFile(path, 'catalog file', (m) => new CatalogError(m));
  try {
    return mergeCatalog(DEFAULT_CATALOG, raw);
  } catch (e) {
    if (e instanceof CatalogError) throw new CatalogError(`${path}: ${e.message}`);
    throw e;
  }
}

function stripUndefined<T extends object>(o: T): T {
  const out = {} as T;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
