/**
 * Output checks for golden prompts: what a correct answer must look like. Validated at the edge (spec
 * parsing), where a check that could not run — an invalid JSON Schema, a regular expression the engine
 * refuses — is a spec error naming the field, never a green failure discovered in the first sample batch.
 * `checkOutput` is pure and cheap, run in the activity on the model's answer:
 * - regular expressions run on RE2 (re2js: linear time, no catastrophic backtracking — `^(a+)+$` on a
 *   long answer cannot block a worker; lookaround and backreferences are therefore refused);
 * - JSON Schemas are compiled once with Ajv in strict mode (unknown keywords and types refused).
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';
import { z } from 'zod';

const ajv = new Ajv({ strict: true, allErrors: false });
const compiledSchemas = new Map<string, ValidateFunction>();
const compiledRegexes = new Map<string, RE2JS>();

/** Compile (and cache) a JSON Schema; throws with Ajv's reason when it is not a valid one. */
function schemaFor(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let v = compiledSchemas.get(key);
  if (!v) {
    v = ajv.compile(schema);
    if (compiledSchemas.size < 1000) compiledSchemas.set(key, v);
  }
  return v;
}

function regexFor(source: string, caseSensitive: boolean): RE2JS {
  const key = `${caseSensitive ? 's' : 'i'}/${source}`;
  let re = compiledRegexes.get(key);
  if (!re) {
    re = RE2JS.compile(source, caseSensitive ? 0 : RE2JS.CASE_INSENSITIVE);
    if (compiledRegexes.size < 1000) compiledRegexes.set(key, re);
  }
  return re;
}

const firstLine = (e: unknown) => (e as Error).message.split('\n')[0];

export const ExpectationSchema = z
  .strictObject({
    contains: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    regex: z
      .string()
      .min(1)
      .max(1000)
      .superRefine((r, ctx) => {
        try {
          regexFor(r, false);
        } catch (e) {
          ctx.addIssue({
            code: 'custom',
            message: `expected a regular expression RE2 accepts (no lookaround or backreferences): ${firstLine(e)}`,
          });
        }
      })
      .optional(),
    equals: z.string().optional(),
    /** true → the answer must parse as JSON; an object → also validate it against this JSON Schema. */
    json: z
      .union([z.literal(true), z.record(z.string(), z.unknown())])
      .superRefine((s, ctx) => {
        if (s === true) return;
        try {
          schemaFor(s);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: `expected a valid JSON Schema: ${firstLine(e)}` });
        }
      })
      .optional(),
    caseSensitive: z.boolean().default(false),
  })
  .refine((e) => e.contains !== undefined || e.regex !== undefined || e.equals !== undefined || e.json !== undefined, {
    message: 'expected at least one of contains, regex, equals, json',
  });
export type Expectation = z.output<typeof ExpectationSchema>;

/** A check that cannot run (only possible for a spec that bypassed parsing): a spec error, not a verdict on the model. */
export class CheckCannotRun extends Error {
  override name = 'CheckCannotRun';
}

/** Compile what a check needs; a check that cannot run throws CheckCannotRun whatever the answer is. */
function compiled(e: Expectation): { re?: RE2JS; validate?: ValidateFunction } {
  try {
    return {
      re: e.regex !== undefined ? regexFor(e.regex, e.caseSensitive) : undefined,
      validate: e.json !== undefined && e.json !== true ? schemaFor(e.json) : undefined,
    };
  } catch (err) {
    throw new CheckCannotRun(`${e.regex !== undefined ? 'expect.regex or expect.json' : 'expect.json'}: ${firstLine(err)}`);
  }
}

export function checkOutput(e: Expectation, content: string): { passed: boolean; why?: string } {
  const { re, validate } = compiled(e);
  const norm = (s: string) => (e.caseSensitive ? s : s.toLowerCase());
  const text = content.trim();
  if (e.equals !== undefined && norm(text) !== norm(e.equals.trim())) return { passed: false, why: 'not equal' };
  if (e.contains !== undefined) {
    for (const needle of Array.isArray(e.contains) ? e.contains : [e.contains]) {
      if (!norm(text).includes(norm(needle))) return { passed: false, why: `missing "${needle}"` };
    }
  }
  if (re && !re.matcher(text).find()) return { passed: false, why: `no match for /${e.regex}/` };
  if (e.json !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { passed: false, why: 'not JSON' };
    }
    if (validate && !validate(value))
      return { passed: false, why: `JSON schema: ${validate.errors?.[0]?.instancePath || '/'} ${validate.errors?.[0]?.message}` };
  }
  return { passed: true };
}
