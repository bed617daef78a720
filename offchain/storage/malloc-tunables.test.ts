import { describe, expect, it } from '@jest/globals';
import { mallocKeepsFreedBuffers, withDmlMallocTunables } from './malloc-tunables.js';

describe('mallocKeepsFreedBuffers', () => {
  const MiB = 1024 * 1024;

  it("says yes under dml's settings, also after a user's own settings", () => {
    expect(mallocKeepsFreedBuffers(withDmlMallocTunables(), MiB)).toBe(true);
    expect(mallocKeepsFreedBuffers(withDmlMallocTunables('glibc.malloc.arena_max=2'), MiB)).toBe(true);
  });

  it("says no under glibc's defaults or settings that give freed memory back", () => {
    expect(mallocKeepsFreedBuffers(undefined, MiB)).toBe(false);
    expect(mallocKeepsFreedBuffers('', MiB)).toBe(false);
    // buffers of 1 MiB mmapped (threshold below them), or the heap trimmed past 128 KiB
    expect(mallocKeepsFreedBuffers(withDmlMallocTunables('glibc.malloc.mmap_threshold=131072'), MiB)).toBe(
      false,
    );
    expect(mallocKeepsFreedBuffers(withDmlMallocTunables('glibc.malloc.trim_threshold=131072'), MiB)).toBe(
      false,
    );
    expect(mallocKeepsFreedBuffers('glibc.malloc.mmap_threshold=33554432', MiB)).toBe(false);
    expect(mallocKeepsFreedBuffers(withDmlMallocTunables(), 64 * MiB)).toBe(false);
  });
});
