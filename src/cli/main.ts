/** The `modelshift` command line: every command registered from its feature folder. */
import { Command } from 'commander';
import { registerAbCommand } from '../experiment/command';
import { registerRolloutCommands } from '../rollout/command';
import { registerRouterCommand } from '../router/command';
import { registerSimCommand } from '../sim/command';
import { registerStackCommand } from '../stack/command';
import { installQuietRuntime } from '../temporal/runtime';
import { registerDemoCommand } from './demo';
import { registerDevCommands } from './dev-command';

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
registerRouterCommand(program);
registerAbCommand(program);
registerDemoCommand(program);
registerStackCommand(program);

await program.parseAsync(process.argv);
