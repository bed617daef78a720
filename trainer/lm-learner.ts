import type { Delta, Learner } from '../offchain/index.js';
import { DmlError } from '../offchain/index.js';
import { asciiTypography, bitsPerByte, loadMobyDick, loadSotu, type Speech } from './byte-text.js';
import { sotuSpeechSplit, type SotuSpeechRole } from './sotu-split.js';
import { applyDelta, diffAdapters, initAdapters, trainableAdapterNames, type LoraSettings } from './mlp.js';
import type { Evaluation } from './mlp-engine.js';
import {
  type QuantizedTransformer,
  type Transformer,
  type TransformerShape,
  initTransformer,
  quantizeTransformer,
} from './transformer.js';
import {
  evaluateQloraTransformer,
  evaluateTransformer,
  trainQloraTransformer,
  type LmKernelChoice,
  trainTransformer,
  type TransformerTrainingSettings,
} from './transformer-engine.js';

/** The small transformer of the tests and the demo: builds in seconds. */
export const SMALL_LM_SHAPE: TransformerShape = {
  dModel: 32,
  layers: 1,
  heads: 2,
  context: 32,
  mlpRatio: 4,
  activation: 'gelu',
};

/** The documented bigger one (the shape of the PyTorch benchmark's step, bench/peers/lm_step.py). */
export const LM_SHAPE: TransformerShape = {
  dModel: 128,
  layers: 2,
  heads: 4,
  context: 128,
  mlpRatio: 4,
  activation: 'gelu',
};

/** Moby Dick cut in two: the first 95% to pretrain on, the rest held out. */
export const mobyDickSplit = async (): Promise<{ train: Uint8Array; heldOut: Uint8Array }> => {
  const moby = await loadMobyDick();
  const cut = Math.floor(moby.length * 0.95);
  return { train: moby.subarray(0, cut), heldOut: moby.subarray(cut) };
};

export interface LmPretraining {
  readonly steps: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly seed: number;
  /**
   * Asked after every chunk of 100 steps (with the steps done): true stops the pretraining there
   * (a time budget). The base is then exactly the one `steps: done` builds (the windows of a chunk
   * depend only on the seed and the steps before it, the learning rate is constant).
   */
  readonly stopAfter?: (done: number) => boolean;
}

/**
 * Pretrains a transformer in full precision on Moby Dick (AdamW, weight decay 0.01) and quantises
 * it: the QLoRA base. Returns both, and the held-out bits per byte of each.
 */
export const pretrainLmBase = async (
  shape: TransformerShape,
  o: LmPretraining,
  log: (line: string) => void = () => undefined,
): Promise<{
  fp32: Transformer;
  base: QuantizedTransformer;
  fp32BitsPerByte: number;
  nf4BitsPerByte: number;
  /** The steps run (fewer than `o.steps` when `stopAfter` said so). */
  steps: number;
}> => {
  const { train, heldOut } = await mobyDickSplit();
  let model = initTransformer(shape, o.seed);
  const chunk = Math.max(1, Math.min(o.steps, 100));
  let done = 0;
  while (done < o.steps) {
    const steps = Math.min(chunk, o.steps - done);
    const r = trainTransformer(model, train, {
      steps,
      batchSize: o.batchSize ?? 32,
      learningRate: o.learningRate ?? 3e-3,
      weightDecay: 0.01,
      seed: o.seed * 1009 + done,
    });
    model = r.model;
    done += steps;
    log(
      `pretraining: step ${done}/${o.steps}, training loss ${bitsPerByte(r.report.loss).toFixed(3)} bits/byte`,
    );
    if (done < o.steps && o.stopAfter?.(done)) {
      log(`pretraining: stopped after ${done} steps`);
      break;
    }
  }
  const base = quantizeTransformer(model);
  const evalBytes = { maxBytes: 20_000 };
  const fp32BitsPerByte = bitsPerByte(evaluateTransformer(model, heldOut, evalBytes).loss);
  const lora: LoraSettings = { rank: 1, alpha: 1, freezeA: true };
  const nf4BitsPerByte = bitsPerByte(
    evaluateQloraTransformer(base, initAdapters(base, lora, 1), lora, heldOut, evalBytes).loss,
  );
  return { fp32: model, base, fp32BitsPerByte, nf4BitsPerByte, steps: done };
};

/** State of the Union eras: `count` consecutive year ranges with about equal bytes each. */
export const sotuEras = (
  speeches: readonly Speech[],
  count: number,
): Array<{ label: string; from: number; to: number; text: Uint8Array; speeches: Speech[] }> => {
  const total = speeches.reduce((s, x) => s + x.text.length, 0);
  const groups: Speech[][] = Array.from({ length: count }, () => []);
  let seen = 0;
  for (const s of speeches) {
    // by the middle of the speech's bytes: consecutive speeches, about total/count bytes per era
    groups[Math.min(count - 1, Math.floor(((seen + s.text.length / 2) * count) / total))]!.push(s);
    seen += s.text.length;
  }
  const eras = groups.map((group) => {
    if (group.length === 0) throw new DmlError('LM_ERAS', `not enough speeches for ${count} eras`);
    const from = group[0]!.year;
    const to = group[group.length - 1]!.year;
    return {
      label: `${from}-${to}`,
      from,
      to,
      text: new Uint8Array(Buffer.concat(group.map((x) => Buffer.from(x.text)))),
      speeches: group,
    };
  });
  return eras;
};

export interface LmCohortOptions {
  readonly parties: number;
  readonly seed?: number;
  /** A prebuilt base (else one is pretrained here with `shape` and `pretrainSteps`). */
  readonly base?: QuantizedTransformer;
  readonly shape?: TransformerShape;
  readonly pretrainSteps?: number;
  readonly rank?: number;
  /** LoRA's alpha (the adapters' scale is alpha / rank; default 2 x rank). */
  readonly alpha?: number;
  /** Private training bytes per party (its era's text; default: 90% of the era). */
  readonly trainBytes?: number;
  /**
   * Where a party's `trainBytes` of private text lie in its era: `start` (default) from the era's
   * first byte; `end`, the bytes just before its held-out text, so that both come from the same
   * speeches' time (the held-out text is then the continuation of the private text).
   */
  readonly trainAt?: 'start' | 'end';
  /**
   * How each era is cut into private, validation and held-out text. `era-end` (default, the first
   * experiments'): the held-out text is the era's last `heldOutBytes`, the validation text the bytes
   * just before, the private text where `trainAt` says. `speeches`: every speech of the era gets one
   * role by a seeded rule and each text is 512-byte pieces spread across its speeches
   * (`sotuSpeechSplit`, trainer/sotu-split.ts); `trainAt` does not apply.
   */
  readonly split?: 'era-end' | 'speeches';
  /** The seed of the `speeches` split (default 1), the same for every era. */
  readonly splitSeed?: number;
  /** `ascii`: every speech through `asciiTypography` first (default `as-is`). */
  readonly typography?: 'as-is' | 'ascii';
  /** Held-out bytes per party (default 4,000), from the end of its era. */
  readonly heldOutBytes?: number;
  /**
   * Validation bytes per party (default 0): the bytes just before its held-out text, never trained
   * on, to choose settings (rank, alpha, learning rate) on text other than the reported held-out
   * text. The private text then ends (`trainAt: 'end'`) or is cut (`start`) before them.
   */
  readonly validationBytes?: number;
  /**
   * The engine of the held-out and validation evaluations (default: as for training, `lmKernelOf`):
   * `tfjs` reproduces the figures printed before the wasm evaluation existed bit for bit.
   */
  readonly evaluationKernel?: LmKernelChoice;
  readonly log?: (line: string) => void;
}

export interface LmParty {
  readonly era: string;
  readonly train: Uint8Array;
  /** The bytes between the private text and the held-out text (empty unless `validationBytes`). */
  readonly validation: Uint8Array;
  readonly heldOut: Uint8Array;
  /** Under the `speeches` split: the speeches (`year name`) of each role. */
  readonly speeches?: Readonly<Record<SotuSpeechRole, readonly string[]>>;
}

/** Which of a party's texts an evaluation reads: the reported held-out text or the validation text. */
export type LmEvaluationText = 'held-out' | 'validation';

/** The language-model side of a cohort: the NF4 base, the starting adapters, each party's era. */
export interface LmCohortSetup {
  readonly base: QuantizedTransformer;
  readonly lora: LoraSettings;
  readonly startAdapters: Delta;
  readonly parties: readonly LmParty[];
  /** Held-out bits per byte of the base (starting adapters) on each party's text. */
  readonly baseBitsPerByte: readonly number[];
  /** The engine of `lmHeldOut` (undefined: as for training). */
  readonly evaluationKernel?: LmKernelChoice;
}

/**
 * One era of SOTU speeches per party (text the base never saw: it was pretrained on Moby Dick);
 * a party trains on the start of its era and holds out the end.
 */
export const prepareLmCohort = async (o: LmCohortOptions): Promise<LmCohortSetup> => {
  const seed = o.seed ?? 1;
  const base =
    o.base ??
    (await pretrainLmBase(o.shape ?? SMALL_LM_SHAPE, { steps: o.pretrainSteps ?? 300, seed }, o.log)).base;
  const rank = o.rank ?? 8;
  const lora: LoraSettings = { rank, alpha: o.alpha ?? 2 * rank, freezeA: true };
  const startAdapters = initAdapters(base, lora, seed + 1);
  const heldOutBytes = o.heldOutBytes ?? 4000;
  const validationBytes = o.validationBytes ?? 0;
  const speeches = (await loadSotu()).map((s) =>
    o.typography === 'ascii' ? { ...s, text: asciiTypography(s.text) } : s,
  );
  const eras = sotuEras(speeches, o.parties);
  if (o.split === 'speeches' && o.trainAt !== undefined)
    throw new DmlError('LM_SPLIT', 'trainAt applies to the era-end split only');
  const parties: LmParty[] = eras.map((era) => {
    if (o.split === 'speeches') {
      const s = sotuSpeechSplit(era.speeches, {
        seed: o.splitSeed ?? 1,
        ...(o.trainBytes ? { privateBytes: o.trainBytes } : {}),
        validationBytes,
        heldOutBytes,
      });
      return {
        era: era.label,
        train: s.train,
        validation: s.validation,
        heldOut: s.heldOut,
        speeches: s.speeches,
      };
    }
    const split = Math.max(era.text.length - heldOutBytes, Math.floor(era.text.length * 0.9));
    const privateEnd = split - validationBytes;
    if (privateEnd <= 0)
      throw new DmlError('LM_ERAS', `era ${era.label} is shorter than its validation text`);
    const size = o.trainBytes ? Math.min(privateEnd, o.trainBytes) : privateEnd;
    const train = era.text.subarray(
      o.trainAt === 'end' ? privateEnd - size : 0,
      o.trainAt === 'end' ? privateEnd : size,
    );
    return {
      era: era.label,
      train,
      validation: era.text.subarray(privateEnd, split),
      heldOut: era.text.subarray(split, split + heldOutBytes),
    };
  });
  const kernel = o.evaluationKernel ? { lmKernel: o.evaluationKernel } : {};
  return {
    base,
    lora,
    startAdapters,
    parties,
    baseBitsPerByte: parties.map((p) =>
      bitsPerByte(evaluateQloraTransformer(base, startAdapters, lora, p.heldOut, kernel).loss),
    ),
    ...(o.evaluationKernel ? { evaluationKernel: o.evaluationKernel } : {}),
  };
};

/**
 * Held-out loss (bits per byte) and next-byte accuracy of adapters on a party's held-out text (or,
 * with `on: 'validation'`, on its validation text).
 */
export const lmHeldOut = (
  setup: LmCohortSetup,
  party: number,
  adapters: Delta,
  on: LmEvaluationText = 'held-out',
): Evaluation => {
  const p = setup.parties[party]!;
  const text = on === 'validation' ? p.validation : p.heldOut;
  if (text.length < 2) throw new DmlError('LM_EVAL', `party ${party} has no ${on} text`);
  const e = evaluateQloraTransformer(
    setup.base,
    adapters,
    setup.lora,
    text,
    setup.evaluationKernel ? { lmKernel: setup.evaluationKernel } : {},
  );
  return { ...e, loss: bitsPerByte(e.loss) };
};

export type LmLocalSettings = Omit<TransformerTrainingSettings, 'windowStart'>;

/** A party's adapters after `settings.steps` steps from `global` on its own era. */
export const trainLmParty = (
  setup: LmCohortSetup,
  party: number,
  global: Delta,
  settings: LmLocalSettings,
): { adapters: Delta; delta: Delta; loss: number } => {
  const { adapters, report } = trainQloraTransformer(
    setup.base,
    global,
    setup.lora,
    setup.parties[party]!.train,
    settings,
  );
  return {
    adapters,
    delta: diffAdapters(adapters, global, trainableAdapterNames(setup.lora)),
    loss: bitsPerByte(report.loss),
  };
};

/**
 * A party's learner on the language model: H steps of AdamW on its era's text (`settings.steps`
 * windows batches from the global adapter); scores are held-out bits per byte of global + delta on
 * its own held-out text; the metrics are the training loss (bits per byte) and the held-out
 * next-byte accuracy of its local adapter.
 */
export const lmLearner = (setup: LmCohortSetup, party: number, settings: LmLocalSettings): Learner => {
  if (!setup.parties[party]) throw new DmlError('LM_PARTY', `no era for party ${party}`);
  const trainBytes = setup.parties[party]!.train.length;
  return {
    train: async (key, global) => {
      const { adapters, delta, loss } = trainLmParty(setup, party, global, {
        ...settings,
        seed: settings.seed + 1000 * key.epoch + key.round * 17 + party,
      });
      return {
        delta,
        sampleCount: trainBytes,
        metrics: { loss, accuracy: lmHeldOut(setup, party, adapters).accuracy },
      };
    },
    score: async (global, deltas) =>
      deltas.map(({ partyId, delta }) => {
        const e = lmHeldOut(setup, party, applyDelta(global, delta));
        return { partyId, loss: e.loss, accuracy: e.accuracy };
      }),
    advance: (global, update) => applyDelta(global, update),
  };
};
