/** The `modelshift` command line. */
import { Command } from 'commander';
import { registerDevCommands } from './dev-command';
import { registerRolloutCommands } from '../rollout/command';
import { registerSimCommand } from '../sim/command';
import { installQuietRuntime } from '../temporal/runtime';

installQuietRuntime();

const program = new Command('modelshift')
  .description('Guarded, durable rollouts of a new LLM model behind any OpenAI-compatible gateway')
  .showHelpAfterError('(run with --help for usage)')
  .configureOutput({ outputError: (str, write) => write(`modelshift: ${str.replace(/^error: /, '')}`) })
  .exitOverride((err) => {
    // commander's own errors (unknown option, missing argument) are bad input: exit 2.
    process.exit(err.exitCode === 0 ? 0 : err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2);
  });

registerRolloutCommands(program);
registerDevCommands(program);
registerSimCommand(program);

const optional = async (path: string, fn: string) => {
  try {
    const mod = await import(path);
    mod[fn]?.(program);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
};
await optional('../router/command', 'registerRouterCommand');
await optional('../experiment/command', 'registerAbCommand');
await optional('./demo', 'registerDemoCommand');

await program.parseAsync(process.argv);
