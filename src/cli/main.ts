/** The `modelshift` command line: every command registered from its feature folder. */
import { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * The feature folders and the commands each registers, loaded on demand: a command loads only its own
 * feature (the Temporal SDK, the router or the simulator are seconds of start-up together). Anything else
 * — no command, `--help`, `help`, a misspelled or new command — loads them all, in this order (the help's).
 */
const FEATURES: Array<{
  commands: string[];
  /** installs the quiet Temporal runtime first */ temporal: boolean;
  load: () => Promise<Register>;
}> = [
  {
    commands: ['start', 'validate', 'status', 'watch', 'pause', 'resume', 'abort', 'promote', 'list', 'approve', 'retry'],
    temporal: false, // loads the SDK (and installs the runtime) only when a command connects
    load: async () => (await import('../rollout/command')).registerRolloutCommands,
  },
  { commands: ['dev', 'worker'], temporal: true, load: async () => (await import('./dev-command')).registerDevCommands },
  { commands: ['sim'], temporal: false, load: async () => (await import('../sim/command')).registerSimCommand },
  { commands: ['router'], temporal: true, load: async () => (await import('../router/command')).registerRouterCommand },
  { commands: ['ab'], temporal: true, load: async () => (await import('../experiment/command')).registerAbCommand },
  { commands: ['demo'], temporal: true, load: async () => (await import('./demo')).registerDemoCommand },
  { commands: ['stack'], temporal: true, load: async () => (await import('../stack/command')).registerStackCommand },
];

const program = new Command('modelshift')
  .description('Guarded, durable rollouts of a new LLM model behind any OpenAI-compatible gateway')
  // Bad input is one line on stderr: commander's "(Did you mean …?)" and the --help hint join its message.
  .configureOutput({
    outputError: (str, write) =>
      write(
        `modelshift: ${str
          .replace(/^error: /, '')
          .trim()
          .replace(/\s*\n\s*/g, ' ')} (run with --help for usage)\n`,
      ),
  })
  .exitOverride((err) => {
    // commander's own errors (unknown option, missing argument) are bad input: exit 2.
    process.exit(err.exitCode === 0 ? 0 : err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : 2);
  });

const named = FEATURES.find((f) => f.commands.includes(process.argv[2]));
const features = named ? [named] : FEATURES;
if (features.some((f) => f.temporal)) (await import('../temporal/runtime')).installQuietRuntime();
for (const register of await Promise.all(features.map((f) => f.load()))) register(program);

await program.parseAsync(process.argv);
