import * as tf from '@tensorflow/tfjs';

/** AdamW's hyperparameters (PyTorch's defaults for the betas and epsilon). */
export interface AdamWSettings {
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
}

/**
 * One AdamW update of named variables in place (decoupled weight decay, bias-corrected moments,
 * as PyTorch's), step number `t` (1-based); `m` and `v` hold the moments of each name.
 */
export const adamwStep = (
  state: {
    readonly params: ReadonlyMap<string, tf.Variable>;
    readonly m: ReadonlyMap<string, tf.Variable>;
    readonly v: ReadonlyMap<string, tf.Variable>;
  },
  grads: ReadonlyMap<string, tf.Tensor>,
  settings: AdamWSettings,
  t: number,
): void => {
  const {
    learningRate: lr,
    weightDecay: wd,
    beta1: b1 = 0.9,
    beta2: b2 = 0.999,
    epsilon: eps = 1e-8,
  } = settings;
  const c1 = 1 - Math.pow(b1, t);
  const c2 = 1 - Math.pow(b2, t);
  tf.tidy(() => {
    for (const [name, g] of grads) {
      const p = state.params.get(name)!;
      const m = state.m.get(name)!;
      const v = state.v.get(name)!;
      m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
      v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
      const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), eps));
      // p * 1 is exact, so skipping the decay when it is 0 changes no bit.
      p.assign(tf.sub(wd === 0 ? p : tf.mul(p, 1 - lr * wd), tf.mul(update, lr)));
    }
  });
};
