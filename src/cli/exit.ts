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

/**
 * Resolves on SIGINT or SIGTERM. Holds the event loop open meanwhile: signal listeners alone do not, and a
 * process whose only pending work is a child (the dev server) would exit at once with Node's code 13.
 */
export function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const stop = (signal: NodeJS.Signals) => {
      clearInterval(keepAlive);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
