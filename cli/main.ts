import { Command, CommanderError, Help, Option } from 'commander';
import { COMMAND_GROUPS, invokedGroup } from './command-catalogue.js';
import type { CommandContext } from './context.js';
import { createOutput } from './output.js';
import { SETTINGS, resolveSettings, settingsRecord } from './settings.js';

export interface MainIo {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr?: NodeJS.WritableStream & { isTTY?: boolean };
}

interface GlobalOptions {
  json?: boolean;
  config?: string;
  [flag: string]: unknown;
}

const camel = (flag: string) =>
  flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Flags of the program that take a value (to find the invoked group among the words). */
const VALUE_FLAGS: ReadonlySet<string> = new Set([
  '--config',
  ...SETTINGS.flatMap((s) => (s.flag ? [s.flag] : [])),
]);

/**
 * The `dml` program for a command line: every group listed, and the invoked group's own module
 * loaded (`'all'` loads every group: for tests of the whole tree).
 */
export const buildProgram = async (
  io: MainIo = {},
  argv: readonly string[] | 'all' = 'all',
): Promise<Command> => {
  const stderr = io.stderr ?? process.stderr;
  const stdout = io.stdout ?? process.stdout;
  const program = new Command('dml')
    .description('qLoRA-DML: parties who do not trust each other fine-tune one model together')
    .option('--json', 'print machine-readable JSON instead of text')
    .option('--config <file>', 'config file (JSON object of settings; default ./dml.config.json if present)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => stdout.write(text),
      writeErr: (text) => stderr.write(text),
      outputError: (text, write) => write(text.split('\n').filter((l) => l.trim() !== '')[0] + '\n'),
    });
  for (const setting of SETTINGS) {
    if (setting.flag) {
      program.addOption(new Option(`${setting.flag} <value>`, `${setting.description} [env ${setting.env}]`));
    }
  }

  const context = async (): Promise<CommandContext> => {
    const options = program.opts<GlobalOptions>();
    const flags: Record<string, string | undefined> = {};
    for (const setting of SETTINGS) {
      if (setting.flag) flags[setting.key] = options[camel(setting.flag)] as string | undefined;
    }
    const resolved = resolveSettings({
      flags,
      env: io.env ?? process.env,
      file: await (await import('./config-file.js')).readConfigFile(options.config),
    });
    return {
      settings: settingsRecord(resolved),
      resolved,
      output: createOutput({ json: options.json === true, stdout, stderr }),
    };
  };

  const invoked = argv === 'all' ? undefined : invokedGroup(argv, VALUE_FLAGS);
  for (const group of COMMAND_GROUPS) {
    if (argv === 'all' || group === invoked) (await group.load())(program, context);
    else program.command(group.name).description(group.summary);
  }
  // a group not loaded is listed as its own module would list it
  const help = new Help();
  program.configureHelp({
    subcommandTerm: (command) =>
      command.parent === program
        ? (COMMAND_GROUPS.find((g) => g.name === command.name())?.term ?? help.subcommandTerm(command))
        : help.subcommandTerm(command),
  });
  for (const command of program.commands) applyExitOverride(command, program);
  return program;
};

/** Sub-commands inherit the program's error handling (commander does not copy it to them). */
const applyExitOverride = (command: Command, root: Command): void => {
  command.exitOverride();
  command.configureOutput(root.configureOutput());
  command.showSuggestionAfterError(true);
  for (const sub of command.commands) applyExitOverride(sub, root);
};

/** Runs the command line; returns the exit code. A user mistake prints one line, never a stack. */
export const main = async (argv: readonly string[], io: MainIo = {}): Promise<number> => {
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  try {
    const program = await buildProgram(io, argv);
    if (argv.length === 0) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // help and version exit with 0; commander has printed the one-line error already.
      return error.exitCode === 0 ? 0 : 2;
    }
    const { isDmlError } = await import('../offchain/index.js');
    if (isDmlError(error)) {
      stderr.write(`dml: ${error.message}${error.hint ? ` (${error.hint})` : ''}\n`);
      return 1;
    }
    const message = error instanceof Error ? error.message : String(error);
    stderr.write(`dml: internal error: ${message.split('\n')[0]}\n`);
    if (env.DML_DEBUG === '1' && error instanceof Error && error.stack) stderr.write(error.stack + '\n');
    else stderr.write('dml: set DML_DEBUG=1 to see the stack trace, and please report it\n');
    return 70;
  }
};
