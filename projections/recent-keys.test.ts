import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { RecentKeys } from './recent-keys.js';

describe('RecentKeys', () => {
  it('returns a string equal to the key given, the first copy seen while it is remembered', () => {
    const keys = new RecentKeys(2);
    const a = ['ab', 'c'].join('');
    const a2 = ['a', 'bc'].join('');
    expect(keys.get(a)).toBe('abc');
    expect(keys.get(a2)).toBe('abc');
    expect(keys.get('x')).toBe('x');
    expect(keys.get('y')).toBe('y'); // 'abc' forgotten (capacity 2): still an equal string
    expect(keys.get(a2)).toBe('abc');
  });

  it('property: any sequence of keys comes back unchanged, whatever the capacity', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 3 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 20 }),
        (xs, n) => {
          const keys = new RecentKeys(n);
          expect(xs.map((x) => keys.get(x))).toEqual(xs);
        },
      ),
      { numRuns: 200 },
    );
  });
});
