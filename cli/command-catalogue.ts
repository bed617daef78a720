import type { Command } from 'commander';
import type { CommandContext } from './context.js';

/** What a command group's module exports: it adds its commands to the program. */
export type RegisterCommands = (program: Command, context: () => Promise<CommandContext>) => void;

/**
 * The command groups of `dml`, each with its one-line summary and the module that defines it.
 * A run loads only the module of the group it invokes: the modules pull in layer 1, storage, the
 * event log or the trainer (seconds to load), and `dml --help` or `dml cohort ...` should not pay
 * for the trainer. The summaries are the groups' own descriptions (a test holds them equal).
 */
export interface CommandGroup {
  readonly name: string;
  /** how `dml --help` lists it: the name, with `[options]` for a group that is one command */
  readonly term: string;
  readonly summary: string;
  readonly load: () => Promise<RegisterCommands>;
}

export const COMMAND_GROUPS: readonly CommandGroup[] = [
  {
    name: 'keys',
    term: 'keys',
    summary: "a party's keys: payment key, Hydra key, storage passphrase",
    load: async () => (await import('./commands/keys.js')).registerKeysCommands,
  },
  {
    name: 'config',
    term: 'config',
    summary: 'configuration: flags, environment, config file, defaults',
    load: async () => (await import('./commands/config.js')).registerConfigCommands,
  },
  {
    name: 'storage',
    term: 'storage',
    summary: 'encrypted, content-addressed delta storage (local folder, or Storj/S3)',
    load: async () => (await import('./commands/storage.js')).registerStorageCommands,
  },
  {
    name: 'audit',
    term: 'audit',
    summary: "check a cohort's history from its event log",
    load: async () => (await import('./commands/audit.js')).registerAuditCommands,
  },
  {
    name: 'demo',
    term: 'demo [options]',
    summary:
      'run the whole story on this machine: a cohort with deposits, a Hydra head, QLoRA rounds on MNIST, a saboteur caught and slashed, a new cohort, a newcomer, claims, and the audit',
    load: async () => (await import('./commands/demo.js')).registerDemoCommands,
  },
  {
    name: 'status',
    term: 'status [options]',
    summary: "this party's view of a cohort from the event log: heads, its deposit, its rounds and scores",
    load: async () => (await import('./commands/status.js')).registerStatusCommands,
  },
  {
    name: 'devnet',
    term: 'devnet',
    summary: 'the local devnet: emulated Cardano layer 1 (persisted), faucet, clock, embedded Hydra head',
    load: async () => (await import('./commands/devnet.js')).registerDevnetCommands,
  },
  {
    name: 'cohort',
    term: 'cohort',
    summary: "a cohort's escrow on layer 1: create, join with a deposit, show, start an epoch, vote, claim",
    load: async () => (await import('./commands/cohort.js')).registerCohortCommands,
  },
  {
    name: 'head',
    term: 'head',
    summary: "this party's Hydra head: init, commit, close, contest, fanout (hydra-node API)",
    load: async () => (await import('./commands/head.js')).registerHeadCommands,
  },
  {
    name: 'train',
    term: 'train',
    summary: "a party's training: write the cohort's plan, run the party's own round loop",
    load: async () => (await import('./commands/train.js')).registerTrainCommands,
  },
];

/**
 * The group a command line invokes: its first word that is not an option or an option's value
 * (`valueFlags` take one), or the word after `help`. Undefined for `dml`, `dml --help` and words
 * that name no group (commander then answers with the full list).
 */
export const invokedGroup = (
  argv: readonly string[],
  valueFlags: ReadonlySet<string>,
): CommandGroup | undefined => {
  const words: string[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const token = argv[i]!;
    if (token === '--') break;
    if (token.startsWith('-')) {
      if (!token.includes('=') && valueFlags.has(token)) i++;
      continue;
    }
    words.push(token);
    if (words[0] !== 'help') break;
  }
  const name = words[0] === 'help' ? words[1] : words[0];
  return COMMAND_GROUPS.find((g) => g.name === name);
};
