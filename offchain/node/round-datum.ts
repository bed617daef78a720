import { Constr, Data } from 'lucid-cardano';
import { DmlError } from '../errors.js';
import type { RoundCommitment, RoundKey } from '../round/index.js';
import type { ObjectGrant } from '../storage/index.js';

/**
 * What a party writes into the head during a round, as the inline datum of the output that holds
 * its signal token (SPEC, "A round inside the head"):
 *
 * - the **delta commitment** `Constr 0 [B cohortId, I epoch, I round, B party, B deltaHash,
 *   B storageKey (UTF-8), I sampleCount, I bytes, I lossMicro, I accuracyMicro
 *   (, B readGrantUrl (UTF-8), I readGrantExpiresUnixSeconds)]`: with the read grant, 12 fields
 *   (the owner's time-limited read link of the delta, which peers follow); without, 10;
 * - the **acknowledgement** `Constr 1 [B cohortId, I epoch, I round, B party, B aggregateHash,
 *   B signature]`, the party's Hydra-key signature of the training snapshot;
 * - the **carry-over** `Constr 2 [B cohortId, I epoch, I round, B party, B globalAdapterHash,
 *   B previousAggregateHash, B storageKey (UTF-8), I bytes, B readGrantUrl (UTF-8),
 *   I readGrantExpiresUnixSeconds]`, posted by every party at the start of an epoch after the
 *   first (`round` is the epoch's first round): the global adapter it starts from, the previous
 *   round's aggregate hash (as layer 1 records it) it was derived with, and a read grant of the
 *   sealed adapter, through which a newcomer adopts it (design_docs/node.md, "Epochs after the first").
 *
 * Plutus Data has no floats: loss and accuracy travel in millionths.
 */
export interface DeltaCommitmentDatum extends RoundKey, RoundCommitment {
  readonly kind: 'commitment';
  /**
   * The owner's time-limited read link of the delta (a presigned S3 GET, or a signed `file:`
   * grant of a local folder store): how peers read it. Carried whole in the datum (a presigned
   * URL is 0.5-1 KB; a layer-2 transaction may be up to the ledger's 16 KB), so a peer needs
   * nothing but the head to read every delta of the round. Whole seconds.
   */
  readonly readGrant?: ObjectGrant;
}

export interface RoundAcknowledgementDatum {
  readonly kind: 'acknowledgement';
  readonly cohortId: string;
  readonly epoch: number;
  readonly round: number;
  readonly party: string;
  readonly aggregateHash: string;
  readonly signature: string;
}

export interface CarryOverDatum {
  readonly kind: 'carry-over';
  readonly cohortId: string;
  readonly epoch: number;
  /** The epoch's first round: the adapter is the global adapter that round trains from. */
  readonly round: number;
  readonly party: string;
  readonly globalAdapterHash: string;
  /** The aggregate hash of round `round - 1`, as the cohort's state on layer 1 holds it. */
  readonly previousAggregateHash: string;
  /** Where the sealed adapter is stored (content key) and its sealed size. */
  readonly storageKey: string;
  readonly bytes: number;
  readonly readGrant: ObjectGrant;
}

export type RoundDatum = DeltaCommitmentDatum | RoundAcknowledgementDatum | CarryOverDatum;

const MICRO = 1_000_000;
const micro = (x: number, what: string): bigint => {
  if (!Number.isFinite(x) || x < 0)
    throw new DmlError('BAD_DATUM', `${what} must be a finite number >= 0, got ${x}`);
  return BigInt(Math.round(x * MICRO));
};
const nat = (x: number, what: string): bigint => {
  if (!Number.isSafeInteger(x) || x < 0)
    throw new DmlError('BAD_DATUM', `${what} must be a natural number, got ${x}`);
  return BigInt(x);
};
const hexOf = (x: string, what: string): string => {
  if (!/^([0-9a-f]{2})*$/.test(x)) throw new DmlError('BAD_DATUM', `${what} must be lowercase hex`);
  return x;
};

const grantExpirySeconds = (expiresAt: string): number => {
  const ms = Date.parse(expiresAt);
  if (!Number.isFinite(ms))
    throw new DmlError('BAD_DATUM', `readGrant.expiresAt is not a date: ${expiresAt}`);
  return Math.floor(ms / 1000);
};

/** The round datum as CBOR hex. */
export const encodeRoundDatum = (d: RoundDatum): string => {
  const head = [
    hexOf(d.cohortId, 'cohortId'),
    nat(d.epoch, 'epoch'),
    nat(d.round, 'round'),
    hexOf(d.party, 'party'),
  ];
  if (d.kind === 'commitment')
    return Data.to(
      new Constr(0, [
        ...head,
        hexOf(d.deltaHash, 'deltaHash'),
        Buffer.from(d.storageKey, 'utf8').toString('hex'),
        nat(d.sampleCount, 'sampleCount'),
        nat(d.bytes, 'bytes'),
        micro(d.metrics.loss, 'loss'),
        micro(d.metrics.accuracy, 'accuracy'),
        ...(d.readGrant
          ? [
              Buffer.from(d.readGrant.url, 'utf8').toString('hex'),
              nat(grantExpirySeconds(d.readGrant.expiresAt), 'readGrant.expiresAt'),
            ]
          : []),
      ]),
    );
  if (d.kind === 'carry-over')
    return Data.to(
      new Constr(2, [
        ...head,
        hexOf(d.globalAdapterHash, 'globalAdapterHash'),
        hexOf(d.previousAggregateHash, 'previousAggregateHash'),
        Buffer.from(d.storageKey, 'utf8').toString('hex'),
        nat(d.bytes, 'bytes'),
        Buffer.from(d.readGrant.url, 'utf8').toString('hex'),
        nat(grantExpirySeconds(d.readGrant.expiresAt), 'readGrant.expiresAt'),
      ]),
    );
  return Data.to(
    new Constr(1, [...head, hexOf(d.aggregateHash, 'aggregateHash'), hexOf(d.signature, 'signature')]),
  );
};

/** Reads a round datum; undefined for any other datum (outputs that are not ours). */
export const decodeRoundDatum = (cborHex: string): RoundDatum | undefined => {
  let data: unknown;
  try {
    data = Data.from(cborHex);
  } catch {
    return undefined;
  }
  if (!(data instanceof Constr)) return undefined;
  const f = data.fields as unknown[];
  const isBytes = (x: unknown): x is string => typeof x === 'string';
  const isInt = (x: unknown): x is bigint => typeof x === 'bigint';
  const [cohortId, epoch, round, party] = f;
  if (!isBytes(cohortId) || !isInt(epoch) || !isInt(round) || !isBytes(party)) return undefined;
  const head = { cohortId, epoch: Number(epoch), round: Number(round), party };
  if (data.index === 0 && (f.length === 10 || f.length === 12)) {
    const [, , , , deltaHash, storageKey, sampleCount, bytes, loss, accuracy, grantUrl, grantExpires] = f;
    if (!isBytes(deltaHash) || !isBytes(storageKey) || !isInt(sampleCount) || !isInt(bytes)) return undefined;
    if (!isInt(loss) || !isInt(accuracy)) return undefined;
    if (f.length === 12 && (!isBytes(grantUrl) || !isInt(grantExpires))) return undefined;
    const readGrant =
      f.length === 12 && Number.isSafeInteger(Number(grantExpires))
        ? {
            url: Buffer.from(grantUrl as string, 'hex').toString('utf8'),
            expiresAt: new Date(Number(grantExpires) * 1000).toISOString(),
          }
        : undefined;
    if (f.length === 12 && !readGrant) return undefined;
    return {
      kind: 'commitment',
      ...head,
      deltaHash,
      storageKey: Buffer.from(storageKey, 'hex').toString('utf8'),
      sampleCount: Number(sampleCount),
      bytes: Number(bytes),
      metrics: { loss: Number(loss) / MICRO, accuracy: Number(accuracy) / MICRO },
      ...(readGrant ? { readGrant } : {}),
    };
  }
  if (data.index === 1 && f.length === 6) {
    const [, , , , aggregateHash, signature] = f;
    if (!isBytes(aggregateHash) || !isBytes(signature)) return undefined;
    return { kind: 'acknowledgement', ...head, aggregateHash, signature };
  }
  if (data.index === 2 && f.length === 10) {
    const [, , , , globalAdapterHash, previousAggregateHash, storageKey, bytes, grantUrl, grantExpires] = f;
    if (!isBytes(globalAdapterHash) || !isBytes(previousAggregateHash) || !isBytes(storageKey))
      return undefined;
    if (!isInt(bytes) || !isBytes(grantUrl) || !isInt(grantExpires)) return undefined;
    if (!Number.isSafeInteger(Number(grantExpires))) return undefined;
    return {
      kind: 'carry-over',
      ...head,
      globalAdapterHash,
      previousAggregateHash,
      storageKey: Buffer.from(storageKey, 'hex').toString('utf8'),
      bytes: Number(bytes),
      readGrant: {
        url: Buffer.from(grantUrl, 'hex').toString('utf8'),
        expiresAt: new Date(Number(grantExpires) * 1000).toISOString(),
      },
    };
  }
  return undefined;
};
