/** Command actions: exit 0 ok, 1 failure, 2 bad input (src/errors.ts); every error prints as one line on stderr. */
import { exitCodeFor, firstLine } from '../errors';

export { EXIT } from '../errors';

/** Wrap a command action: one-line error, the right exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void | number>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      process.stderr.write(`modelshift: ${firstLine(err)}\n`);
      process.exitCode = exitCodeFor(err);
    }
  };
}
