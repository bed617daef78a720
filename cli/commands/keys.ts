import type { Command } from 'commander';
import { generatePartyKeys, readPartyKeys, writePartyKeys } from '../../offchain/index.js';
import type { CommandContext } from '../context.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

export const registerKeysCommands = (program: Command, context: () => Promise<CommandContext>): void => {
  const keys = program
    .command('keys')
    .description("a party's keys: payment key, Hydra key, storage passphrase");

  keys
    .command('new')
    .description('create a key folder (files readable by the owner only)')
    .option('--force', 'replace keys that exist already')
    .action(async (options: { force?: boolean }) => {
      const ctx = await context();
      const dir = ctx.settings.keys!;
      const created = generatePartyKeys();
      await writePartyKeys(dir, created, { force: options.force === true });
      ctx.output.result(
        `keys written to ${dir}\n  payment key ${hex(created.paymentVerificationKey)}\n  hydra key   ${hex(created.hydraVerificationKey)}`,
        {
          dir,
          paymentVerificationKey: hex(created.paymentVerificationKey),
          hydraVerificationKey: hex(created.hydraVerificationKey),
        },
      );
    });

  keys
    .command('show')
    .description('check the key folder and print its public keys')
    .action(async () => {
      const ctx = await context();
      const dir = ctx.settings.keys!;
      const loaded = await readPartyKeys(dir);
      ctx.output.result(
        `keys in ${dir}\n  payment key ${hex(loaded.paymentVerificationKey)}\n  hydra key   ${hex(loaded.hydraVerificationKey)}`,
        {
          dir,
          paymentVerificationKey: hex(loaded.paymentVerificationKey),
          hydraVerificationKey: hex(loaded.hydraVerificationKey),
        },
      );
    });
};
