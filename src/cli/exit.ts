/** Exit codes: 0 ok, 1 failure, 2 bad input. Errors print as one line on stderr. */
import { ConfigError } from '../config';
import { SpecError } from '../spec/errors';

export class UsageError extends Error {
  override name = 'UsageError';
}
export class CliFailure extends Error {
  override name = 'CliFailure';
}

export const EXIT = { ok: 0, failure: 1, badInput: 2 } as const;

export function exitCodeFor(err: unknown): number {
  if (err instanceof SpecError || err instanceof ConfigError || err instanceof UsageError) return EXIT.badInput;
  if (err instanceof Error && (err.name === 'CatalogError' || err.name === 'SimProfileError')) return EXIT.badInput;
  return EXIT.failure;
}

/** Wrap a command action: one-line error, the right exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void | number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      process.stderr.write(`modelshift: ${msg.split('\n')[0]}\n`);
      process.exitCode = exitCodeFor(err);
    }
  };
}
