import { DmlError } from '../offchain/index.js';
import type { Evaluation } from './mlp-engine.js';
import { nextByteLossAndHits, WasmTransformerEngine, type WasmTransformerModel } from './transformer-wasm.js';
import type { Delta } from '../offchain/index.js';

/**
 * Evaluation of the byte-level transformer on a text (mean next-byte cross-entropy and next-byte
 * accuracy) on the wasm engine's forward pass (trainer/transformer-wasm.ts), the windows and the
 * counting of the TensorFlow.js evaluation (trainer/transformer-engine.ts, `evaluateWith`).
 */

/**
 * Where the evaluation windows start: consecutive non-overlapping windows of `window` bytes from
 * the text's first byte, each with the byte after it to predict, at most max(window, maxBytes)
 * predicted bytes in all.
 */
export const evaluationWindowStarts = (textLength: number, window: number, maxBytes: number): number[] => {
  const starts: number[] = [];
  for (
    let s = 0;
    s + window + 1 <= textLength && (starts.length + 1) * window <= Math.max(window, maxBytes);
    s += window
  )
    starts.push(s);
  return starts;
};

/** The evaluation's sums over columns (moved beside the engine, which calls it on the wasm path). */
export { nextByteLossAndHits };

export interface WasmEvaluationOptions {
  readonly maxBytes?: number;
  readonly batchSize?: number;
  readonly window?: number;
}

/**
 * Mean next-byte cross-entropy (nats) and next-byte accuracy of a model (an NF4 base with
 * `adapters`, or an FP32 model) over the text's evaluation windows, forward passes on one wasm
 * engine of `batchSize` windows (default 16). A last batch with fewer windows is filled up with
 * copies of its first window whose columns are not counted: every column of the forward pass
 * depends only on its own window (the products sum over features, LayerNorm and attention stay
 * inside a column or a window), so the counted columns are what a smaller batch would give.
 */
export const evaluateTransformerWasm = (
  what: WasmTransformerModel,
  adapters: Delta | undefined,
  text: Uint8Array,
  o: WasmEvaluationOptions = {},
): Evaluation => {
  const shape = what.kind === 'qlora' ? what.base.shape : what.model.shape;
  const t = o.window ?? shape.context;
  if (text.length < t + 2) throw new DmlError('TEXT_TOO_SHORT', `text of ${text.length} bytes, window ${t}`);
  const starts = evaluationWindowStarts(text.length, t, o.maxBytes ?? 20_000);
  const batch = Math.min(o.batchSize ?? 16, starts.length);
  const engine = new WasmTransformerEngine(what, batch, t);
  const sums = { lossSum: 0, hits: 0 };
  try {
    if (adapters) engine.setAdapters(adapters);
    for (let i = 0; i < starts.length; i += batch) {
      const chunk = starts.slice(i, i + batch);
      const filled = [...chunk, ...Array.from({ length: batch - chunk.length }, () => chunk[0]!)];
      // the engine loads the targets (text[s + j + 1]) with the windows
      engine.loadWindows(text, filled);
      engine.addNextByteLoss(chunk.length * t, sums);
    }
  } finally {
    engine.release();
  }
  const count = starts.length * t;
  return { loss: sums.lossSum / count, accuracy: sums.hits / count, count };
};
