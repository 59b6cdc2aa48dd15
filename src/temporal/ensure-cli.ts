/** `tsx src/temporal/ensure-cli.ts`: resolve (and if needed build) the Temporal CLI, print its path. */
import { ensureTemporalCli } from './cli';

const cli = await ensureTemporalCli();
console.log(cli.path ?? '(the Temporal SDK will download the CLI on first use)');
