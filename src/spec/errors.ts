import type { z } from 'zod';

/** Bad input: the CLI prints the message alone on one line and exits 2. Nothing has been started. */
export class SpecError extends Error {
  override name = 'SpecError';
}

/** `source: path.to.field: message` — the first problem, on one line. */
export function formatZodError(err: z.ZodError, source: string): string {
  const issue = err.issues[0];
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  let msg = issue.message;
  if (issue.code === 'unrecognized_keys') {
    msg = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check the spelling; unknown fields are refused)`;
  }
  const more = err.issues.length > 1 ? ` (+${err.issues.length - 1} more)` : '';
  return `${source}: ${path || '(top level)'}: ${msg}${more}`;
}
