/**
 * Bytes a party uploads per round (its delta, encoded and sealed as its store holds it) against
 * sending full FP32 weights (the original experiment's way), for the two models at the shapes of
 * the results, with the delta sent as f32 and as q8. The bytes depend on the shapes only, not on
 * the values, so seeded random adapters stand in for trained ones. Rows for bench/trainer.bench.ts;
 * run alone: `npx tsx bench/delta-upload-bytes.ts`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type Delta,
  type DeltaValueEncoding,
  EncryptedContentStore,
  LocalFolderStore,
  encodeDelta,
  makeDelta,
  withDeltaEncoding,
} from '../offchain/index.js';
import {
  type LoraSettings,
  MNIST_CNN,
  initAdapters,
  initCnn,
  initTransformer,
  quantizeMlp,
  quantizeTransformer,
  transformerParameterCount,
} from '../trainer/index.js';

type Row = { name: string; value: number; unit: string; backend?: string; note?: string };

/** A FFA-LoRA delta: every B of the adapters (A is frozen and never sent), seeded random values. */
const ffaDelta = (adapters: Delta): Delta => {
  let s = 12345;
  const next = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  return makeDelta(
    adapters.tensors
      .filter((t) => t.name.endsWith('.lora_B'))
      .map((t) => ({ ...t, values: t.values.map(() => next() * 1e-2) })),
  );
};

export const deltaUploadRows = async (): Promise<Row[]> => {
  const lmShape = { dModel: 64, layers: 2, heads: 4, context: 64, mlpRatio: 4, activation: 'gelu' } as const;
  const lmLora: LoraSettings = { rank: 16, alpha: 32, freezeA: true };
  const lmBase = quantizeTransformer(initTransformer(lmShape, 1));
  const cnn = initCnn(MNIST_CNN, [128, 10], 1);
  const cnnLora: LoraSettings = { rank: 128, alpha: 128, freezeA: true };
  const models = [
    {
      label: 'LM d 64, 2 layers, 4 heads, context 64, FFA-LoRA r 16',
      delta: ffaDelta(initAdapters(lmBase, lmLora, 2)),
      fullBytes: 4 * transformerParameterCount(lmShape),
    },
    {
      label: 'MNIST CNN (3x3x16, 3x3x32, 1568-128-10), FFA-LoRA r 128',
      delta: ffaDelta(initAdapters(quantizeMlp(cnn), cnnLora, 2)),
      fullBytes: 4 * cnn.layers.reduce((n, l) => n + l.weight.length + l.bias.length, 0),
    },
  ];
  const dir = await mkdtemp(join(tmpdir(), 'dml-bench-upload-'));
  const folder = await LocalFolderStore.open(dir);
  try {
    // the store a party seals its deltas with (a cheap scrypt: the key costs time, not bytes)
    const store = new EncryptedContentStore(folder, {
      prefix: 'deltas/bench',
      passphrase: 'bench',
      scrypt: { log2N: 10, r: 1, p: 1 },
    });
    const rows: Row[] = [];
    for (const m of models) {
      const floats = m.delta.tensors.reduce((n, t) => n + t.values.length, 0);
      for (const encoding of ['f32', 'q8'] as DeltaValueEncoding[]) {
        const bytes = encodeDelta(withDeltaEncoding(m.delta, encoding));
        const sealed = (await store.put(bytes)).size;
        rows.push({
          name: `bytes uploaded per round, ${m.label}, ${encoding} delta, sealed`,
          value: sealed,
          unit: 'bytes',
          note:
            `${floats} values, encoded ${bytes.length} bytes, sealed ${sealed}; full FP32 weights ` +
            `${m.fullBytes} bytes: ${(m.fullBytes / sealed).toFixed(1)}x fewer`,
        });
        rows.push({
          name: `upload ratio, full FP32 weights / sealed delta, ${m.label}, ${encoding}`,
          value: m.fullBytes / sealed,
          unit: 'x',
          note: encoding === 'q8' && m.label.startsWith('LM') ? 'target >= 20x for the language model' : '',
        });
      }
    }
    return rows;
  } finally {
    await folder.close();
    await rm(dir, { recursive: true, force: true });
  }
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  for (const row of await deltaUploadRows()) console.log(JSON.stringify(row));
