// Profile file loader: JSON or YAML `{ seed?, latencyScale?, onlyModels?, models: { name: profilePatch } }`.
import { z } from 'zod';
import { BadInput } from '../errors';
import { readStructuredFile } from '../files/structured';
import { FaultProfilePatchSchema, formatZodError } from './profiles';

export class SimProfileError extends BadInput {
  override name = 'SimProfileError';
}

export const SimProfileFileSchema = z.strictObject({
  seed: z.number({ error: 'expected an integer' }).int({ error: 'expected an integer' }).optional(),
  latencyScale: z.number({ error: 'expected a number >= 0' }).min(0, { error: 'expected a number >= 0' }).optional(),
  onlyModels: z.boolean({ error: 'expected true or false' }).optional(),
  models: z.record(z.string(), FaultProfilePatchSchema, { error: 'expected an object of model name -> profile patch' }).default({}),
});
export type SimProfileFile = z.output<typeof SimProfileFileSchema>;

/** Read and validate a profile file; throws SimProfileError like `profile.json: models.gpt-4.1.errorRate: expected a number between 0 and 1`. */
export async function loadSimProfileFile(path: string): Promise<SimProfileFile> {
  const data = readStructuredFile(path, 'the profile file', (m) => new SimProfileError(m));
  const parsed = SimProfileFileSchema.safeParse(data ?? {});
  if (!parsed.success) throw new SimProfileError(`${path}: ${formatZodError(parsed.error)}`);
  return parsed.data;
}
