/**
 * Deltas of a cohort whose honest parties share a direction, for tests of the direction evidence:
 * each round draws a consensus direction c (standard normal coordinates); an honest party's
 * delta is c + `spread` x its own standard normal noise (late-training-like: mostly the party's
 * own minibatch noise); a `flip` party sends its honest delta sign-flipped and scaled by 5; a
 * `noise` party sends random normal values of its honest delta's norm. Seeded: the same deltas
 * every run.
 *
 * How many floats are enough: with spread s and m other parties, an honest delta's cosine with
 * the leave-one-out median of the others is about 1 / sqrt((1 + s^2)(1 + pi s^2 / (2 m))), 0.3
 * for s = 2 and m = 6, so a round scores z = 0.3 sqrt(D). The verdict flags the noise only when
 * a typical party's combined z over R rounds, 0.3 sqrt(D R), is at least 6, i.e. D R >= 400;
 * D = 512 and R = 3 give an honest combined z of ~11, eight standard deviations above the
 * threshold of 3, while noise scores a standard normal z (below 3 with probability 99.87%).
 */
export const directionDeltas = (options: {
  readonly dimensions: number;
  readonly flip?: readonly number[];
  readonly noise?: readonly number[];
  readonly spread?: number;
  readonly seed?: number;
}): ((round: number, party: number) => Float32Array) => {
  const { dimensions, flip = [], noise = [], spread = 2, seed = 1 } = options;
  const normals = (key: string): Float64Array => {
    // mulberry32 seeded by the key, then Box-Muller
    let h = seed >>> 0;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 2654435761) >>> 0;
    const next = () => {
      h = (h + 0x6d2b79f5) >>> 0;
      let t = h;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const out = new Float64Array(dimensions);
    for (let i = 0; i < dimensions; i++)
      out[i] = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    return out;
  };
  return (round, party) => {
    const c = normals(`consensus ${round}`);
    const own = normals(`party ${party} round ${round}`);
    const honest = c.map((x, i) => x + spread * own[i]!);
    if (flip.includes(party)) return Float32Array.from(honest, (x) => -5 * x);
    if (noise.includes(party)) {
      const r = normals(`noise ${party} round ${round}`);
      const norm = (v: Float64Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      const k = norm(honest) / norm(r);
      return Float32Array.from(r, (x) => x * k);
    }
    return Float32Array.from(honest);
  };
};
