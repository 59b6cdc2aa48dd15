import type { z } from 'zod';
import { BadInput } from '../errors';

/** Bad input: the CLI prints the message alone on one line and exits 2. Nothing has been started. */
export class SpecError extends BadInput {
  override name = 'SpecError';
}

type Issue = z.core.$ZodIssue;

/**
 * Within a union ("a message list, or { messages, expect }"), the most specific problem: the one
 * deepest in the input, so a typo in a role is reported at the role, not as "Invalid input" above it.
 */
function mostSpecific(issue: Issue, path: PropertyKey[]): { issue: Issue; path: PropertyKey[] } {
  let best = { issue, path };
  if (issue.code === 'invalid_union') {
    for (const branch of issue.errors) {
      for (const sub of branch) {
        const cand = mostSpecific(sub, [...path, ...sub.path]);
        if (cand.path.length > best.path.length) best = cand;
      }
    }
  }
  return best;
}

/**
 * `source: path.to.field: message` — the first problem, on one line. `retired` maps a field that an
 * earlier version accepted (its dotted path) to what to do instead, so an old spec is told why, not
 * just "unknown field".
 */
export function formatZodError(err: z.ZodError, source: string, retired: Record<string, string> = {}): string {
  const { issue, path: fullPath } = mostSpecific(err.issues[0], err.issues[0].path);
  const path = fullPath
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
  let msg = issue.message;
  const gone = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => (path ? `${path}.${k}` : k)).find((k) => retired[k]) : undefined;
  if (gone) return `${source}: ${gone}: ${retired[gone]}`;
  if (issue.code === 'unrecognized_keys') {
    msg = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check the spelling; unknown fields are refused)`;
  }
  const more = err.issues.length > 1 ? ` (+${err.issues.length - 1} more)` : '';
  return `${source}: ${path || '(top level)'}: ${msg}${more}`;
}
