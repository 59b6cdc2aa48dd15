/**
 * Output checks for golden prompts: what a correct answer must look like. Validated at the edge
 * (spec parsing); `checkOutput` is pure and cheap, run in the activity on the model's answer.
 */
import { z } from 'zod';

export const ExpectationSchema = z
  .strictObject({
    contains: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    regex: z
      .string()
      .min(1)
      .refine((r) => {
        try {
          new RegExp(r);
          return true;
        } catch {
          return false;
        }
      }, 'expected a valid JavaScript regular expression')
      .optional(),
    equals: z.string().optional(),
    /** true → the answer must parse as JSON; an object → also validate it against this JSON Schema. */
    json: z.union([z.literal(true), z.record(z.string(), z.unknown())]).optional(),
    caseSensitive: z.boolean().default(false),
  })
  .refine((e) => e.contains !== undefined || e.regex !== undefined || e.equals !== undefined || e.json !== undefined, {
    message: 'expected at least one of contains, regex, equals, json',
  });
export type Expectation = z.output<typeof ExpectationSchema>;

const schemaCache = new WeakMap<object, z.ZodType>();

export function checkOutput(e: Expectation, content: string): { passed: boolean; why?: string } {
  const norm = (s: string) => (e.caseSensitive ? s : s.toLowerCase());
  const text = content.trim();
  if (e.equals !== undefined && norm(text) !== norm(e.equals.trim())) return { passed: false, why: 'not equal' };
  if (e.contains !== undefined) {
    for (const needle of Array.isArray(e.contains) ? e.contains : [e.contains]) {
      if (!norm(text).includes(norm(needle))) return { passed: false, why: `missing "${needle}"` };
    }
  }
  if (e.regex !== undefined && !new RegExp(e.regex, e.caseSensitive ? '' : 'i').test(text)) return { passed: false, why: `no match for /${e.regex}/` };
  if (e.json !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { passed: false, why: 'not JSON' };
    }
    if (e.json !== true) {
      let schema = schemaCache.get(e.json);
      if (!schema) {
        schema = z.fromJSONSchema(e.json as Parameters<typeof z.fromJSONSchema>[0]);
        schemaCache.set(e.json, schema);
      }
      const r = schema.safeParse(value);
      if (!r.success) return { passed: false, why: `JSON schema: ${r.error.issues[0]?.message}` };
    }
  }
  return { passed: true };
}
