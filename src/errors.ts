/**
 * The two kinds of error a modelshift command reports, each on one line.
 * - BadInput: the caller's to fix (a spec field, a flag, an environment variable, a file). Commands
 *   exit 2 and have started nothing. Every module's "bad input" error extends it, so one check maps
 *   them all.
 * - Failure: the operation could not be done for a reason the message explains (exit 1).
 */
export class BadInput extends Error {
  override name = 'BadInput';
}

export class Failure extends Error {
  override name = 'Failure';
}

export const EXIT = { ok: 0, failure: 1, badInput: 2 } as const;

export function exitCodeFor(err: unknown): number {
  return err instanceof BadInput ? EXIT.badInput : EXIT.failure;
}

/** The first line of an error's message (gRPC and SDK errors carry stacks and details below it). */
export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
