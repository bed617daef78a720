import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile, access } from 'node:fs/promises';
import { join } from 'node:path';
import { ed25519PublicKeyOfSeed } from './ed25519.js';
import { DmlError } from './errors.js';

/**
 * A party's key folder: a Cardano payment key and a Hydra key (both Ed25519, in cardano-cli's
 * TextEnvelope format so that cardano-cli and hydra-node read them as they are), and the storage
 * passphrase that derives the key encrypting the party's deltas. Secret files are written 0600.
 */
export interface PartyKeys {
  readonly paymentSigningKey: Uint8Array;
  readonly paymentVerificationKey: Uint8Array;
  readonly hydraSigningKey: Uint8Array;
  readonly hydraVerificationKey: Uint8Array;
  readonly storagePassphrase: string;
}

export interface TextEnvelope {
  readonly type: string;
  readonly description: string;
  readonly cborHex: string;
}

export const KEY_FILES = {
  paymentSigningKey: 'payment.sk',
  paymentVerificationKey: 'payment.vk',
  hydraSigningKey: 'hydra.sk',
  hydraVerificationKey: 'hydra.vk',
  storagePassphrase: 'storage.passphrase',
} as const;

const ENVELOPE_TYPES = {
  paymentSigningKey: 'PaymentSigningKeyShelley_ed25519',
  paymentVerificationKey: 'PaymentVerificationKeyShelley_ed25519',
  hydraSigningKey: 'HydraSigningKey_ed25519',
  hydraVerificationKey: 'HydraVerificationKey_ed25519',
} as const;

/** The Ed25519 public key of a 32-byte seed. */
export const ed25519PublicKey = (seed: Uint8Array): Uint8Array => {
  if (seed.length !== 32) throw new DmlError('BAD_KEY', `an Ed25519 seed is 32 bytes, got ${seed.length}`);
  return ed25519PublicKeyOfSeed(seed);
};

/** CBOR of a 32-byte bytestring (major type 2, length 32) wrapped in a TextEnvelope. */
export const toTextEnvelope = (type: string, description: string, bytes: Uint8Array): TextEnvelope => {
  if (bytes.length !== 32) throw new DmlError('BAD_KEY', `a key is 32 bytes, got ${bytes.length}`);
  return { type, description, cborHex: '5820' + Buffer.from(bytes).toString('hex') };
};

export const fromTextEnvelope = (text: string, expectedType: string, file: string): Uint8Array => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new DmlError('BAD_KEY_FILE', `${file} is not a JSON key file`);
  }
  const envelope = parsed as Partial<TextEnvelope>;
  if (envelope.type !== expectedType) {
    throw new DmlError(
      'BAD_KEY_FILE',
      `${file} holds a key of type ${String(envelope.type)}, expected ${expectedType}`,
    );
  }
  if (typeof envelope.cborHex !== 'string' || !/^5820[0-9a-fA-F]{64}$/.test(envelope.cborHex)) {
    throw new DmlError(
      'BAD_KEY_FILE',
      `${file} does not hold a 32-byte key (cborHex must be 5820 followed by 64 hex digits)`,
    );
  }
  return new Uint8Array(Buffer.from(envelope.cborHex.slice(4), 'hex'));
};

export const generatePartyKeys = (): PartyKeys => {
  const paymentSigningKey = new Uint8Array(randomBytes(32));
  const hydraSigningKey = new Uint8Array(randomBytes(32));
  return {
    paymentSigningKey,
    paymentVerificationKey: ed25519PublicKey(paymentSigningKey),
    hydraSigningKey,
    hydraVerificationKey: ed25519PublicKey(hydraSigningKey),
    storagePassphrase: randomBytes(32).toString('base64url'),
  };
};

const exists = async (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** Writes a new key folder; refuses to overwrite existing keys unless `force`. */
export const writePartyKeys = async (
  dir: string,
  keys: PartyKeys,
  options: { force?: boolean } = {},
): Promise<void> => {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!options.force) {
    for (const file of Object.values(KEY_FILES)) {
      if (await exists(join(dir, file))) {
        throw new DmlError('KEYS_EXIST', `${join(dir, file)} exists already; refusing to overwrite keys`, {
          hint: 'choose another --keys folder, or pass --force to replace them',
        });
      }
    }
  }
  const envelope = (field: keyof typeof ENVELOPE_TYPES, description: string) =>
    JSON.stringify(toTextEnvelope(ENVELOPE_TYPES[field], description, keys[field]), null, 2) + '\n';
  const secret = { mode: 0o600 } as const;
  await writeFile(
    join(dir, KEY_FILES.paymentSigningKey),
    envelope('paymentSigningKey', 'Payment Signing Key'),
    secret,
  );
  await writeFile(
    join(dir, KEY_FILES.paymentVerificationKey),
    envelope('paymentVerificationKey', 'Payment Verification Key'),
    secret,
  );
  await writeFile(
    join(dir, KEY_FILES.hydraSigningKey),
    envelope('hydraSigningKey', 'Hydra Signing Key'),
    secret,
  );
  await writeFile(
    join(dir, KEY_FILES.hydraVerificationKey),
    envelope('hydraVerificationKey', 'Hydra Verification Key'),
    secret,
  );
  await writeFile(join(dir, KEY_FILES.storagePassphrase), keys.storagePassphrase + '\n', secret);
};

/** Reads a key folder, checking every file and that each verification key matches its signing key. */
export const readPartyKeys = async (dir: string): Promise<PartyKeys> => {
  const read = async (file: string): Promise<string> => {
    try {
      return await readFile(join(dir, file), 'utf8');
    } catch {
      throw new DmlError('MISSING_KEY_FILE', `${join(dir, file)} is missing`, {
        hint: 'create keys with `dml keys new`',
      });
    }
  };
  const load = async (field: keyof typeof ENVELOPE_TYPES) =>
    fromTextEnvelope(await read(KEY_FILES[field]), ENVELOPE_TYPES[field], join(dir, KEY_FILES[field]));
  const keys: PartyKeys = {
    paymentSigningKey: await load('paymentSigningKey'),
    paymentVerificationKey: await load('paymentVerificationKey'),
    hydraSigningKey: await load('hydraSigningKey'),
    hydraVerificationKey: await load('hydraVerificationKey'),
    storagePassphrase: (await read(KEY_FILES.storagePassphrase)).trim(),
  };
  const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
  if (!same(ed25519PublicKey(keys.paymentSigningKey), keys.paymentVerificationKey)) {
    throw new DmlError(
      'BAD_KEY_FILE',
      `${join(dir, KEY_FILES.paymentVerificationKey)} does not match the payment signing key`,
    );
  }
  if (!same(ed25519PublicKey(keys.hydraSigningKey), keys.hydraVerificationKey)) {
    throw new DmlError(
      'BAD_KEY_FILE',
      `${join(dir, KEY_FILES.hydraVerificationKey)} does not match the Hydra signing key`,
    );
  }
  if (keys.storagePassphrase.length < 12) {
    throw new DmlError(
      'BAD_KEY_FILE',
      `${join(dir, KEY_FILES.storagePassphrase)} holds a passphrase shorter than 12 characters`,
    );
  }
  return keys;
};
