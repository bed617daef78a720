import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { shiftImage, shiftedCopies } from './mnist-augment.js';

const PIXELS = 784;
/** The definition, written independently: pixel (y, x) of the shifted image comes from (y - dy, x - dx). */
const reference = (image: Uint8Array, dy: number, dx: number): Uint8Array =>
  Uint8Array.from({ length: PIXELS }, (_, p) => {
    const y = Math.floor(p / 28) - dy;
    const x = (p % 28) - dx;
    return y >= 0 && y < 28 && x >= 0 && x < 28 ? image[y * 28 + x]! : 0;
  });

describe('MNIST shift augmentation', () => {
  it('shifts one image as its definition says, for any offset', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: PIXELS, maxLength: PIXELS }),
        fc.integer({ min: -30, max: 30 }),
        fc.integer({ min: -30, max: 30 }),
        (image, dy, dx) => {
          const out = new Uint8Array(PIXELS).fill(7);
          shiftImage(image, dy, dx, out);
          expect(out).toEqual(reference(image, dy, dx));
        },
      ),
    );
  });

  it('a pixel moves right and down by a positive shift', () => {
    const image = new Uint8Array(PIXELS);
    image[5 * 28 + 9] = 200;
    const out = new Uint8Array(PIXELS);
    shiftImage(image, 2, -1, out);
    expect(out[7 * 28 + 8]).toBe(200);
    expect(out.reduce((a, b) => a + b, 0)).toBe(200);
  });

  it('makes (2s+1)^2 copies offset by offset, labels kept, the unshifted set among them', () => {
    const count = 3;
    const images = Uint8Array.from({ length: count * PIXELS }, (_, i) => (i * 37) % 251);
    const labels = Uint8Array.from([4, 1, 9]);
    const set = { images, labels, count };
    const out = shiftedCopies(set, 1);
    expect(out.count).toBe(27);
    expect(out.images.length).toBe(27 * PIXELS);
    let k = 0;
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++)
        for (let i = 0; i < count; i++, k++) {
          expect(out.labels[k]).toBe(labels[i]);
          expect(out.images.subarray(k * PIXELS, (k + 1) * PIXELS)).toEqual(
            reference(images.subarray(i * PIXELS, (i + 1) * PIXELS), dy, dx),
          );
        }
    expect(shiftedCopies(set, 0)).toEqual(set);
    expect(() => shiftedCopies(set, -1)).toThrow(RangeError);
    expect(() => shiftedCopies(set, 1.5)).toThrow(RangeError);
  });
});
