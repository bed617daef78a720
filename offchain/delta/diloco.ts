import { DmlError } from '../errors.js';
import { makeDelta, type Delta } from './delta-format.js';

export interface NesterovOuterSettings {
  /** Outer learning rate (DiLoCo uses 0.7). */
  readonly learningRate: number;
  /** Momentum (DiLoCo uses 0.9). */
  readonly momentum: number;
}

/**
 * DiLoCo's outer optimiser (Douillard et al. 2023), written on deltas (delta = local - global,
 * the negative of DiLoCo's pseudo-gradient): v' = mu v + d; update = lr (d + mu v').
 * With mu = 0 and lr = 1 the update is the averaged delta itself. `velocity` is null at round 1.
 * Float64 per coordinate, rounded to float32: bit-exact everywhere.
 */
export const nesterovOuterStep = (
  averaged: Delta,
  velocity: Delta | null,
  settings: NesterovOuterSettings,
): { update: Delta; velocity: Delta } => {
  const { learningRate: lr, momentum: mu } = settings;
  if (!Number.isFinite(lr) || lr <= 0 || !Number.isFinite(mu) || mu < 0 || mu >= 1)
    throw new DmlError('AGGREGATE_OUTER', `bad outer optimiser settings lr=${lr} momentum=${mu}`);
  const updates = averaged.tensors.map((t, ti) => {
    const v = velocity?.tensors[ti];
    if (velocity && (!v || v.name !== t.name || v.values.length !== t.values.length))
      throw new DmlError('AGGREGATE_OUTER', `outer velocity does not match tensor ${t.name}`);
    const nv = new Float32Array(t.values.length);
    const up = new Float32Array(t.values.length);
    for (let j = 0; j < nv.length; j++) {
      const d = t.values[j]!;
      nv[j] = mu * (v ? v.values[j]! : 0) + d;
      up[j] = lr * (d + mu * nv[j]!);
    }
    return {
      u: { name: t.name, shape: [...t.shape], values: up },
      v: { name: t.name, shape: [...t.shape], values: nv },
    };
  });
  return { update: makeDelta(updates.map((x) => x.u)), velocity: makeDelta(updates.map((x) => x.v)) };
};
