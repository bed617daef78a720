/**
 * JSON with bigints, for the devnet's journal and its HTTP API: lucid's values (assets,
 * protocol parameters, rewards) are bigints, which JSON cannot hold. A bigint is written as
 * `{"$bigint":"123"}` and read back as `123n`; nothing else changes.
 */
export const toDevnetJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));

export const fromDevnetJson = <T = unknown>(text: string): T =>
  JSON.parse(text, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      const big = (v as { $bigint?: unknown }).$bigint;
      if (keys.length === 1 && typeof big === 'string' && /^-?\d+$/.test(big)) return BigInt(big);
    }
    return v;
  }) as T;
