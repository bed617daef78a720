import { Command, CommanderError, Option } from 'commander';
import { isDmlError } from '../offchain/index.js';
import { readConfigFile } from './config-file.js';
import type { CommandContext } from './context.js';
import { createOutput } from './output.js';
import { SETTINGS, resolveSettings, settingsRecord } from './settings.js';
import { registerConfigCommands } from './commands/config.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerStorageCommands } from './commands/storage.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerDemoCommands } from './commands/demo.js';
import { registerStatusCommands } from './commands/status.js';
import { registerDevnetCommands } from './commands/devnet.js';
import { registerCohortCommands } from './commands/cohort.js';
import { registerHeadCommands } from './commands/head.js';
import { registerTrainCommands } from './commands/train.js';

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

export const buildProgram = (io: MainIo = {}): Command => {
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
      file: await readConfigFile(options.config),
    });
    return {
      settings: settingsRecord(resolved),
      resolved,
      output: createOutput({ json: options.json === true, stdout, stderr }),
    };
  };

  registerKeysCommands(program, context);
  registerConfigCommands(program, context);
  registerStorageCommands(program, context);
  registerAuditCommands(program, context);
  registerDemoCommands(program, context);
  registerStatusCommands(program, context);
  registerDevnetCommands(program, context);
  registerCohortCommands(program, context);
  registerHeadCommands(program, context);
  registerTrainCommands(program, context);
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
  const program = buildProgram(io);
  try {
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
