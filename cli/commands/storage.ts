import type { Command } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DmlError,
  type EncryptedContentStore,
  KEY_FILES,
  fetchSharedContent,
  hashOfStorageKey,
  describeStorageRetry,
  openEncryptedStorage,
  storageConfigFromSettings,
} from '../../offchain/index.js';
import type { CommandContext } from '../context.js';

/** The key folder's storage passphrase, when there is one. */
const keyFolderPassphrase = async (keysDir: string | undefined): Promise<string | undefined> => {
  if (!keysDir) return undefined;
  try {
    return (await readFile(join(keysDir, KEY_FILES.storagePassphrase), 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
};

const openConfigured = async (ctx: CommandContext): Promise<EncryptedContentStore> => {
  const config = storageConfigFromSettings(ctx.settings, {
    fallbackPassphrase: await keyFolderPassphrase(ctx.settings.keys),
    env: process.env, // only to say that the prototype's MY_API_KEY / MY_SATELLITE are replaced
  });
  // An outage is never silent: each retry shows as "storage unreachable, retrying (attempt n ...)".
  const progress = ctx.output.progress();
  return openEncryptedStorage(config, {
    onRetry: (info) => progress.update(describeStorageRetry(info, config.backoff)),
  });
};

const passphraseOf = async (ctx: CommandContext): Promise<string> =>
  storageConfigFromSettings(ctx.settings, {
    fallbackPassphrase: await keyFolderPassphrase(ctx.settings.keys),
  }).passphrase;

const seconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new DmlError('BAD_FLAG', `--expires must be a whole number of seconds, not ${value}`);
  return n;
};

export const registerStorageCommands = (program: Command, context: () => Promise<CommandContext>): void => {
  const storage = program
    .command('storage')
    .description('encrypted, content-addressed delta storage (local folder, or Storj/S3)');

  storage
    .command('check')
    .description('check the configured storage: store, share, fetch and delete a small encrypted object')
    .action(async () => {
      const ctx = await context();
      const store = await openConfigured(ctx);
      try {
        const probe = Buffer.from(`dml storage check ${new Date().toISOString()}`);
        const ref = await store.put(probe);
        const grant = await store.share(ref.key, { expiresInSeconds: 300 });
        const back = await fetchSharedContent(grant, ref, await passphraseOf(ctx));
        await store.objects.delete(ref.key);
        if (!back.equals(probe)) throw new DmlError('STORAGE_CHECK_FAILED', 'the object read back differs');
        ctx.output.result(
          `storage ok: ${store.objects.kind} ${store.objects.location}, prefix ${store.prefix || '(none)'}`,
          {
            kind: store.objects.kind,
            location: store.objects.location,
            prefix: store.prefix,
            ok: true,
          },
        );
      } finally {
        await store.objects.close();
      }
    });

  storage
    .command('put')
    .description('encrypt a file and store it under the SHA-256 of its ciphertext')
    .argument('<file>', 'file to store')
    .action(async (file: string) => {
      const ctx = await context();
      const store = await openConfigured(ctx);
      try {
        const ref = await store.put(await readFile(file));
        ctx.output.result(`${ref.key}\n  sha256 ${ref.sha256}\n  size   ${ref.size} bytes (encrypted)`, ref);
      } finally {
        await store.objects.close();
      }
    });

  storage
    .command('get')
    .description('fetch an object of this party, check its hash, decrypt it into a file')
    .argument('<key>', 'storage key (prefix + sha256)')
    .requiredOption('--out <file>', 'where to write the decrypted bytes')
    .option('--hash <sha256>', 'the committed hash to check against (default: the one in the key)')
    .action(async (key: string, options: { out: string; hash?: string }) => {
      const ctx = await context();
      const store = await openConfigured(ctx);
      try {
        const plaintext = await store.get(key, options.hash ?? hashOfStorageKey(key));
        await writeFile(options.out, plaintext);
        ctx.output.result(`${plaintext.length} bytes written to ${options.out}`, {
          key,
          out: options.out,
          bytes: plaintext.length,
        });
      } finally {
        await store.objects.close();
      }
    });

  storage
    .command('share')
    .description('print a time-limited read link to an object, for peers')
    .argument('<key>', 'storage key')
    .option('--expires <seconds>', 'lifetime of the link', '86400')
    .action(async (key: string, options: { expires: string }) => {
      const ctx = await context();
      const store = await openConfigured(ctx);
      try {
        const grant = await store.share(key, { expiresInSeconds: seconds(options.expires) });
        ctx.output.result(`${grant.url}\n  expires ${grant.expiresAt}`, grant);
      } finally {
        await store.objects.close();
      }
    });

  storage
    .command('fetch')
    .description("fetch a peer's object through its read link, check it against the commitment, decrypt it")
    .argument('<url>', 'read link the owner published')
    .requiredOption('--key <key>', 'committed storage key')
    .option('--hash <sha256>', 'committed hash (default: the one in the key)')
    .requiredOption('--out <file>', 'where to write the decrypted bytes')
    .action(async (url: string, options: { key: string; hash?: string; out: string }) => {
      const ctx = await context();
      const commitment = { key: options.key, sha256: options.hash ?? hashOfStorageKey(options.key) };
      const plaintext = await fetchSharedContent(
        { url, expiresAt: new Date(8.64e15).toISOString() },
        commitment,
        await passphraseOf(ctx),
      );
      await writeFile(options.out, plaintext);
      ctx.output.result(`${plaintext.length} bytes written to ${options.out}`, {
        ...commitment,
        out: options.out,
        bytes: plaintext.length,
      });
    });

  storage
    .command('ls')
    .description("list this party's stored objects")
    .action(async () => {
      const ctx = await context();
      const store = await openConfigured(ctx);
      try {
        const objects = await store.objects.list(store.prefix);
        ctx.output.result(objects.map((o) => `${o.key}  ${o.size}`).join('\n') || '(no objects)', objects);
      } finally {
        await store.objects.close();
      }
    });
};
