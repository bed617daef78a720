import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Speech } from './byte-text.js';
import { loadSotu } from './byte-text.js';
import { sotuEras } from './lm-learner.js';
import { SOTU_SPLIT_PIECE_BYTES, sotuSpeechRoles, sotuSpeechSplit } from './sotu-split.js';

// speech s is made of pieces of 8 bytes [s, k, 0, 0, 0, 0, 0, 0] (k its piece), plus a tail of 3 bytes
const PIECE = 8;
const speechesOf = (pieces: readonly number[]): Speech[] =>
  pieces.map((n, s) => {
    const text = new Uint8Array(n * PIECE + 3).fill(255);
    for (let k = 0; k < n; k++) text.set([s, k, 0, 0, 0, 0, 0, 0], k * PIECE);
    return { year: 1900 + s, name: `S${s}`, text };
  });
/** The (speech, piece) of every whole piece of a text, and the length of a short last piece. */
const piecesIn = (text: Uint8Array): Array<[number, number]> => {
  const out: Array<[number, number]> = [];
  for (let at = 0; at < text.length; at += PIECE) {
    expect(text[at + 2]).toBe(0);
    out.push([text[at]!, text[at + 1]!]);
  }
  return out;
};
const key = ([s, k]: [number, number]): string => `${s}/${k}`;

describe('sotuSpeechRoles: one role per speech, 1/5 held out, 1/5 validation, 3/5 private', () => {
  it('deals a seeded shuffle in fives', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 200 }), fc.integer({ min: 0, max: 1e6 }), (n, seed) => {
        const roles = sotuSpeechRoles(n, seed);
        expect(roles).toHaveLength(n);
        const count = (r: string) => roles.filter((x) => x === r).length;
        expect(count('held-out')).toBe(Math.ceil(n / 5));
        expect(count('validation')).toBe(Math.ceil((n - 1) / 5));
        expect(count('private')).toBe(n - Math.ceil(n / 5) - Math.ceil((n - 1) / 5));
        expect(sotuSpeechRoles(n, seed)).toEqual(roles);
      }),
    );
    expect(sotuSpeechRoles(60, 1)).not.toEqual(sotuSpeechRoles(60, 2));
  });
});

describe('sotuSpeechSplit: private, validation and held-out text spread across the speeches', () => {
  it('takes whole pieces from the role speeches, in turns, disjoint across roles, of the sizes asked', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 3, maxLength: 30 }),
        fc.integer({ min: 0, max: 1e6 }),
        fc.integer({ min: 1, max: 40 }),
        (sizes, seed, ask) => {
          const speeches = speechesOf(sizes);
          const roles = sotuSpeechRoles(speeches.length, seed);
          const held = speeches.filter((_, i) => roles[i] === 'held-out');
          const heldPieces = held.reduce((n, s) => n + Math.floor(s.text.length / PIECE), 0);
          const privatePieces = speeches
            .filter((_, i) => roles[i] === 'private')
            .reduce((n, s) => n + Math.floor(s.text.length / PIECE), 0);
          const heldOutBytes = Math.min(ask, heldPieces) * PIECE - 3; // a short last piece
          const split = sotuSpeechSplit(speeches, {
            seed,
            heldOutBytes,
            validationBytes: 0,
            pieceBytes: PIECE,
          });
          expect(split.heldOut.length).toBe(heldOutBytes);
          expect(split.validation.length).toBe(0);
          // no private size: every whole piece of every private speech
          expect(split.train.length).toBe(privatePieces * PIECE);
          const h = piecesIn(split.heldOut);
          const p = piecesIn(split.train);
          // each piece belongs to a speech of its role, is a real whole piece, and appears once
          for (const [s, k] of h) {
            expect(roles[s]).toBe('held-out');
            expect(k).toBeLessThan(sizes[s]!);
          }
          for (const [s] of p) expect(roles[s]).toBe('private');
          expect(new Set(h.map(key)).size).toBe(h.length);
          expect(new Set(p.map(key)).size).toBe(p.length);
          // in turns: no speech gives a second piece before every speech of the role gave one
          const per = new Map<number, number>();
          for (const [s] of h) per.set(s, (per.get(s) ?? 0) + 1);
          const counts = held.map((s) => per.get(s.year - 1900) ?? 0);
          const total = held.map((s) => Math.floor(s.text.length / PIECE));
          for (const a of counts.keys())
            for (const b of counts.keys())
              if (counts[b]! < total[b]!) expect(counts[a]!).toBeLessThanOrEqual(counts[b]! + 1);
          // in speech and position order
          const order = h.map(([s, k]) => s * 100 + k);
          expect([...order].sort((a, b) => a - b)).toEqual(order);
          expect(split.speeches['held-out']).toEqual(held.map((s) => `${s.year} ${s.name}`));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the held-out text depends on the seed only; more private bytes only add pieces', () => {
    const speeches = speechesOf([9, 4, 7, 12, 3, 8, 10, 6, 5, 11, 9, 7]);
    const at = (privateBytes: number, validationBytes: number) =>
      sotuSpeechSplit(speeches, {
        seed: 3,
        privateBytes,
        validationBytes,
        heldOutBytes: 40,
        pieceBytes: PIECE,
      });
    const small = at(80, 0);
    const big = at(240, 16);
    expect(Buffer.from(small.heldOut).equals(Buffer.from(big.heldOut))).toBe(true);
    expect(big.validation.length).toBe(16);
    const bigPieces = new Set(piecesIn(big.train).map(key));
    for (const piece of piecesIn(small.train)) expect(bigPieces.has(key(piece))).toBe(true);
    expect(small.train.length).toBe(80);
    expect(() => at(10_000, 0)).toThrow(/private text of 10000 bytes asked/);
    const other = sotuSpeechSplit(speeches, {
      seed: 4,
      validationBytes: 0,
      heldOutBytes: 40,
      pieceBytes: PIECE,
    });
    expect(Buffer.from(other.heldOut).equals(Buffer.from(small.heldOut))).toBe(false);
  });

  it('on the SOTU eras: 4,000 held-out bytes from 8 speeches of 512-byte pieces, real text of the speeches', async () => {
    const eras = sotuEras(await loadSotu(), 4);
    for (const era of eras) {
      const split = sotuSpeechSplit(era.speeches, {
        seed: 1,
        privateBytes: 32_000,
        validationBytes: 4000,
        heldOutBytes: 4000,
      });
      expect([split.train.length, split.validation.length, split.heldOut.length]).toEqual([
        32_000, 4000, 4000,
      ]);
      const roles = Object.values(split.speeches).flat();
      expect(new Set(roles).size).toBe(era.speeches.length);
      // every held-out piece is a 512-byte-aligned piece of one held-out speech
      const held = era.speeches.filter((s) => split.speeches['held-out'].includes(`${s.year} ${s.name}`));
      const from = new Set<number>();
      for (let at = 0; at < split.heldOut.length; at += SOTU_SPLIT_PIECE_BYTES) {
        const piece = Buffer.from(split.heldOut.subarray(at, at + SOTU_SPLIT_PIECE_BYTES));
        const i = held.findIndex((s) => {
          const found = Buffer.from(s.text).indexOf(piece);
          return found >= 0 && found % SOTU_SPLIT_PIECE_BYTES === 0;
        });
        expect(i).toBeGreaterThanOrEqual(0);
        from.add(i);
      }
      expect(from.size).toBe(Math.min(8, held.length));
    }
  });
});
