/**
 * glibc's allocator settings a party's process runs with (`bin/dml.js` starts itself again with
 * them; the storage benchmark runs under them too). glibc reads GLIBC_TUNABLES only when a process
 * starts. Without them glibc may give the memory of the cipher's 1 MiB output buffers back to
 * the kernel between puts (its heap is trimmed past 128 KiB free by default, and the thresholds
 * adapt), and the next 64 MiB seal faults up to ~16,000 fresh pages in: 0-100 ms of system time
 * per put, depending on the process's state (design_docs/storage.md, "Where the rest of the CPU
 * went" and "The launcher, ..."). With them, buffers up to 32 MiB come from the heap and up to
 * 256 MiB of free heap is kept.
 */
export const DML_MALLOC_TUNABLES: ReadonlyArray<readonly [string, string]> = [
  ['glibc.malloc.mmap_threshold', '33554432'],
  ['glibc.malloc.trim_threshold', '268435456'],
];

/** `current` (a GLIBC_TUNABLES value, maybe empty) with each of our settings it does not name. */
export const withDmlMallocTunables = (current = ''): string => {
  const entries = current.split(':').filter((entry) => entry.length > 0);
  const named = new Set(entries.map((entry) => entry.split('=')[0]));
  const added = DML_MALLOC_TUNABLES.filter(([name]) => !named.has(name)).map(([n, v]) => `${n}=${v}`);
  return [...entries, ...added].join(':');
};

/**
 * Does glibc, started with `tunables` (a GLIBC_TUNABLES value), keep freed buffers of `bytes` in
 * its heap instead of giving them back to the kernel: buffers of that size served from the heap
 * (mmap threshold above it) and a trim threshold of 64 MiB or more? Then freeing 64 MiB of
 * them at once costs no page faults at the next use (`bin/dml.js`'s settings say yes).
 */
export const mallocKeepsFreedBuffers = (tunables: string | undefined, bytes: number): boolean => {
  const value = (name: string): number => {
    const entry = (tunables ?? '').split(':').find((e) => e.split('=')[0] === name);
    return entry === undefined ? Number.NaN : Number(entry.slice(entry.indexOf('=') + 1));
  };
  return (
    value('glibc.malloc.mmap_threshold') > bytes && value('glibc.malloc.trim_threshold') >= 64 * 1024 * 1024
  );
};
