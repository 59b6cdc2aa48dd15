// Profile file loader: JSON or YAML `{ seed?, latencyScale?, onlyModels?, models: { name: profilePatch } }`.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FaultProfilePatchSchema, formatZodError } from './profiles';

export const SimProfileFileSchema = z.strictObject({
  seed: z.number({ error: 'expected an integer' }).int({ error: 'expected an integer' }).optional(),
  latencyScale: z.number({ error: 'expected a number >= 0' }).min(0, { error: 'expected a number >= 0' }).optional(),
  onlyModels: z.boolean({ error: 'expected true or false' }).optional(),
  models: z.record(z.string(), FaultProfilePatchSchema, { error: 'expected an object of model name -> profile patch' }).default({}),
});
export type SimProfileFile = z.output<typeof SimProfileFileSchema>;

/** Read and validate a profile file; throws Error like `profile.json: models.gpt-4.1.errorRate: expected a number between 0 and 1`. */
export async function loadSimProfileFile(path: string): Promise<SimProfileFile> {
  const name = basename(path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`${name}: cannot read file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let data: unknown;
  try {
    data = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new Error(`${name}: invalid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = SimProfileFileSchema.safeParse(data ?? {});
  if (!parsed.success) throw new Error(`${name}: ${formatZodError(parsed.error)}`);
  return parsed.data;
}
