import { readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { DmlError, type Delta, type Learner } from '../offchain/index.js';
import { loadQuantizedBase, saveQuantizedBase } from './base-file.js';
import { mnistPublicSplit, pretrainMnistBase } from './mnist-base.js';
import { mnistLearner, type MnistCohortSetup } from './mnist-learner.js';
import { loadMnist, selectImages } from './mnist.js';
import { initAdapters, type LoraSettings } from './mlp.js';
import { evaluateQlora } from './mlp-engine.js';

/**
 * The training plan of a cohort: what every party must agree on to train together and compute the
 * same aggregate, in one small JSON file handed to every party (it holds no secret). The base is a
 * file next to the plan, named and checked by its content hash; the shards are a rule over the
 * public MNIST package (a seeded permutation; party i of the cohort's member list takes the i-th
 * slice), so no data is shipped. The rounds are the cohort's terms on layer 1 (final round,
 * rounds per epoch), not the plan's: the chain already fixes them for everyone.
 */
export const TrainingPlanSchema = z.object({
  kind: z.literal('dml-training-plan'),
  version: z.literal(1),
  cohort: z.string().regex(/^[0-9a-f]{64}#\d{1,5}$/, 'a cohort id TXHASH#INDEX'),
  model: z.literal('mnist'),
  base: z.object({ file: z.string().min(1), hash: z.string().regex(/^[0-9a-f]{64}$/) }),
  seed: z.number().int().nonnegative(),
  lora: z.object({ rank: z.number().int().min(1).max(64) }),
  shards: z.object({
    rule: z.literal('iid'),
    size: z.number().int().min(1).max(20_000),
    validation: z.number().int().min(1).max(5_000),
    publicCount: z.number().int().min(100).max(20_000),
    order: z.literal('members'),
  }),
  aggregation: z.enum(['ffa-lora', 'fedavg', 'median']),
  /** How the parties send their deltas (the cohort's `deltaEncoding`); absent: f32. */
  deltaEncoding: z.enum(['f32', 'q8']).optional(),
  training: z.object({
    localSteps: z.number().int().min(1).max(100_000),
    batchSize: z.number().int().min(1).max(4096),
    learningRate: z.number().positive(),
  }),
});
export type TrainingPlan = z.infer<typeof TrainingPlanSchema>;

export interface WriteTrainingPlanOptions {
  readonly cohort: string;
  readonly out: string;
  readonly seed?: number;
  readonly rank?: number;
  readonly shardSize?: number;
  readonly validationSize?: number;
  readonly publicCount?: number;
  readonly pretrainSteps?: number;
  readonly hidden?: number;
  readonly localSteps?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  readonly aggregation?: TrainingPlan['aggregation'];
  readonly deltaEncoding?: 'f32' | 'q8';
}

/** Pretrains the MNIST base on the public images, writes it next to the plan, writes the plan. */
export const writeTrainingPlan = async (
  options: WriteTrainingPlanOptions,
): Promise<{ plan: TrainingPlan; baseFile: string }> => {
  const seed = options.seed ?? 1;
  const publicCount = options.publicCount ?? 2000;
  const { train } = await loadMnist();
  const { publicIdx } = mnistPublicSplit(seed, publicCount);
  const { base } = pretrainMnistBase(selectImages(train, publicIdx), {
    model: 'mlp',
    hidden: options.hidden ?? 128,
    steps: options.pretrainSteps ?? 150,
    seed,
  });
  const out = resolve(options.out);
  const baseFile = await saveQuantizedBase(dirname(out), 'mnist-base', base);
  const plan: TrainingPlan = {
    kind: 'dml-training-plan',
    version: 1,
    cohort: options.cohort,
    model: 'mnist',
    base: { file: basename(baseFile), hash: base.hash },
    seed,
    lora: { rank: options.rank ?? 8 },
    shards: {
      rule: 'iid',
      size: options.shardSize ?? 500,
      validation: options.validationSize ?? 300,
      publicCount,
      order: 'members',
    },
    aggregation: options.aggregation ?? 'ffa-lora',
    // written only for q8, so that an f32 plan is the file it always was
    ...(options.deltaEncoding === 'q8' ? { deltaEncoding: 'q8' as const } : {}),
    training: {
      localSteps: options.localSteps ?? 60,
      batchSize: options.batchSize ?? 64,
      learningRate: options.learningRate ?? 1e-2,
    },
  };
  await writeFile(out, JSON.stringify(plan, null, 2) + '\n');
  return { plan, baseFile };
};

/** Reads and checks a plan file; every problem is one line. */
export const readTrainingPlan = async (file: string): Promise<TrainingPlan> => {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new DmlError('PLAN_MISSING', `no training plan at ${file}`, {
      hint: 'write one with `dml train plan --cohort ID --out FILE` and give it to every party',
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DmlError('PLAN_INVALID', `${file} is not JSON`);
  }
  const parsed = TrainingPlanSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new DmlError('PLAN_INVALID', `${file}: ${issue.path.join('.') || '(plan)'}: ${issue.message}`, {
      hint: 'the model settings of a cohort come from its plan file (`dml train plan`)',
    });
  }
  return parsed.data;
};

/**
 * A party's side of the plan: the base (hash checked), its private shard and validation split
 * (slice `index` of the private images), the starting adapters every party derives alike.
 */
export const mnistPartyFromPlan = async (
  plan: TrainingPlan,
  planFile: string,
  index: number,
  parties: number,
): Promise<{ learner: Learner; startAdapters: Delta; setup: MnistCohortSetup }> => {
  const basePath = isAbsolute(plan.base.file)
    ? plan.base.file
    : join(dirname(resolve(planFile)), plan.base.file);
  let base;
  try {
    base = await loadQuantizedBase(basePath, plan.base.hash);
  } catch (error) {
    if (error instanceof DmlError) throw error;
    throw new DmlError('BASE_MISSING', `the plan's base file ${basePath} cannot be read`, {
      hint: 'copy it next to the plan file (it travels with the plan)',
    });
  }
  const { train, test: fullTest } = await loadMnist();
  const { privateIdx } = mnistPublicSplit(plan.seed, plan.shards.publicCount);
  const perParty = plan.shards.size + plan.shards.validation;
  if (perParty * parties > privateIdx.length)
    throw new DmlError(
      'PLAN_SHARDS',
      `${parties} shards of ${perParty} images do not fit in the private images`,
    );
  const own = privateIdx.subarray(index * perParty, (index + 1) * perParty);
  const shard = selectImages(train, own.subarray(0, plan.shards.size));
  const validation = selectImages(train, own.subarray(plan.shards.size));
  const lora: LoraSettings = { rank: plan.lora.rank, alpha: 2 * plan.lora.rank, freezeA: true };
  const startAdapters = initAdapters(base, lora, plan.seed + 1);
  const test = selectImages(
    fullTest,
    Int32Array.from({ length: 1000 }, (_, i) => i),
  );
  // mnistLearner reads slot `index` only: this party holds no one else's data
  const shards = Array.from({ length: parties }, () => shard);
  const validations = Array.from({ length: parties }, () => validation);
  const setup: MnistCohortSetup = {
    base,
    lora,
    startAdapters,
    shards,
    validations,
    test,
    baseAccuracy: evaluateQlora(base, startAdapters, lora, test).accuracy,
  };
  const learner = mnistLearner(setup, index, {
    steps: plan.training.localSteps,
    batchSize: plan.training.batchSize,
    learningRate: plan.training.learningRate,
    weightDecay: 0,
    seed: plan.seed * 7919,
  });
  return { learner, startAdapters, setup };
};
