import { DmlError } from '../offchain/index.js';
import type { Speech } from './byte-text.js';
import { seededRandom, shuffleInPlace, type Random } from './random.js';

/** The size of the pieces a role's text is made of (a multiple of every context in use: 32, 64, 128). */
export const SOTU_SPLIT_PIECE_BYTES = 512;

/** What a speech of an era is used for under the speeches split. */
export type SotuSpeechRole = 'held-out' | 'validation' | 'private';

export interface SotuSpeechSplitOptions {
  /** The split's seed (the same for every era: one rule for every party). */
  readonly seed: number;
  /** Private bytes (default: every piece of every private speech). */
  readonly privateBytes?: number;
  /** Validation bytes (0: none). */
  readonly validationBytes: number;
  readonly heldOutBytes: number;
  /** Piece size (default `SOTU_SPLIT_PIECE_BYTES`). */
  readonly pieceBytes?: number;
}

export interface SotuSpeechSplit {
  readonly train: Uint8Array;
  readonly validation: Uint8Array;
  readonly heldOut: Uint8Array;
  /** The speeches (`year name`) of each role, in year order. */
  readonly speeches: Readonly<Record<SotuSpeechRole, readonly string[]>>;
}

/**
 * The role of each of an era's speeches: a seeded shuffle of the speeches, then every fifth one
 * (positions 0, 5, 10, ... of the shuffled order) is held out, the next one (1, 6, 11, ...) is for
 * validation, and the other three of every five are private. So about 1/5, 1/5 and 3/5 of the
 * speeches, drawn from across the era, and no speech is in two roles.
 */
export const sotuSpeechRoles = (count: number, seed: number): SotuSpeechRole[] => {
  const order = Array.from({ length: count }, (_, i) => i);
  shuffleInPlace(order, seededRandom(seed));
  const roles = new Array<SotuSpeechRole>(count);
  order.forEach((speech, k) => {
    roles[speech] = k % 5 === 0 ? 'held-out' : k % 5 === 1 ? 'validation' : 'private';
  });
  return roles;
};

/**
 * `bytes` of text (all of it when undefined) from the given speeches, spread across them: each
 * speech is cut into whole pieces of `piece` bytes (its last partial piece is dropped), the order
 * of each speech's pieces and of the speeches is shuffled, and the pieces are taken in turns (the
 * first piece of every speech, then the second of every speech that has one, ...) until there are
 * enough bytes. The pieces taken are concatenated in speech and position order and the text is
 * cut at `bytes` (so the last piece may be short). Taking more bytes only adds pieces: the text of n bytes is made of the pieces of any
 * smaller size's text.
 */
const piecesOf = (
  speeches: readonly Speech[],
  bytes: number | undefined,
  piece: number,
  random: Random,
  role: SotuSpeechRole,
): Uint8Array => {
  const slots = speeches.map((s, index) => {
    const offsets = Array.from({ length: Math.floor(s.text.length / piece) }, (_, k) => k * piece);
    shuffleInPlace(offsets, random);
    return { index, offsets };
  });
  shuffleInPlace(slots, random);
  const available = slots.reduce((n, s) => n + s.offsets.length * piece, 0);
  const wanted = bytes ?? available;
  if (wanted > available)
    throw new DmlError(
      'LM_SPLIT',
      `${role} text of ${wanted} bytes asked, its ${speeches.length} speeches hold ${available} bytes in whole pieces of ${piece}`,
    );
  const taken: Array<{ index: number; offset: number }> = [];
  for (let turn = 0; taken.length * piece < wanted; turn++)
    for (const s of slots) {
      if (taken.length * piece >= wanted) break;
      const offset = s.offsets[turn];
      if (offset !== undefined) taken.push({ index: s.index, offset });
    }
  taken.sort((a, b) => a.index - b.index || a.offset - b.offset);
  const out = new Uint8Array(taken.length * piece);
  taken.forEach((t, k) => out.set(speeches[t.index]!.text.subarray(t.offset, t.offset + piece), k * piece));
  return out.subarray(0, wanted);
};

/**
 * The speeches split of one era (`speeches` in year order): each speech gets one role
 * (`sotuSpeechRoles`), and each role's text is pieces of 512 bytes spread across its speeches
 * (`piecesOf`). The held-out text depends only on the era and the seed (not on the private or
 * validation sizes); each role draws its pieces from its own seeded stream.
 */
export const sotuSpeechSplit = (speeches: readonly Speech[], o: SotuSpeechSplitOptions): SotuSpeechSplit => {
  const piece = o.pieceBytes ?? SOTU_SPLIT_PIECE_BYTES;
  if (!Number.isInteger(piece) || piece < 2) throw new DmlError('LM_SPLIT', `bad piece size ${piece}`);
  if (speeches.length < 3)
    throw new DmlError('LM_SPLIT', `an era of ${speeches.length} speeches cannot be split three ways`);
  const roles = sotuSpeechRoles(speeches.length, o.seed);
  const of = (role: SotuSpeechRole) => speeches.filter((_, i) => roles[i] === role);
  const text = (role: SotuSpeechRole, stream: number, bytes: number | undefined): Uint8Array =>
    bytes === 0
      ? new Uint8Array(0)
      : piecesOf(of(role), bytes, piece, seededRandom(o.seed * 7 + stream), role);
  const names = (role: SotuSpeechRole) => of(role).map((s) => `${s.year} ${s.name}`);
  return {
    heldOut: text('held-out', 1, o.heldOutBytes),
    validation: text('validation', 2, o.validationBytes),
    train: text('private', 3, o.privateBytes),
    speeches: { 'held-out': names('held-out'), validation: names('validation'), private: names('private') },
  };
};
