import { describe, expect, it } from '@jest/globals';
import { withinBound } from './within-bound.js';

describe('withinBound', () => {
  it('gives the value of a promise that settles in time, and its rejection', async () => {
    await expect(withinBound(Promise.resolve(7), 1000, 'seven')).resolves.toBe(7);
    await expect(withinBound(Promise.reject(new Error('no')), 1000, 'a refusal')).rejects.toThrow('no');
  });

  it('fails naming what it waited for, with the detail, after running onTimeout', async () => {
    let killed = false;
    const never = new Promise<void>(() => {});
    await expect(
      withinBound(never, 20, 'the writer saying "ready"', {
        detail: () => `stderr: boom (killed ${killed})`,
        onTimeout: () => (killed = true),
      }),
    ).rejects.toThrow('the writer saying "ready" did not happen within 0.02 s; stderr: boom (killed true)');
    expect(killed).toBe(true);
  });
});
