// The public face of trainer/: QLoRA with TensorFlow.js.
export {
  type Nf4Tensor,
  NF4_BLOCK_SIZE,
  NF4_CODEBOOK,
  NF4_SCALE_BLOCK_SIZE,
  dequantizeNf4,
  dequantizeNf4Into,
  nf4ByteSize,
  quantizeNf4,
} from './nf4.js';
export { type TrainerBackendName, TRAINER_BACKENDS, selectTrainerBackend } from './backend.js';
export {
  type LabelledImages,
  MNIST_CLASSES,
  MNIST_PIXELS,
  loadMnist,
  rangeImages,
  selectImages,
} from './mnist.js';
export { dirichletShards, iidShards } from './shards.js';
export { type Random, seededRandom } from './random.js';
export {
  type ConvFrontEnd,
  type ConvStage,
  type DenseLayer,
  type LoraSettings,
  type Mlp,
  type QuantizedLayer,
  type QuantizedMlp,
  applyDelta,
  diffAdapters,
  initAdapters,
  initCnn,
  initMlp,
  MNIST_CNN,
  convOutputShape,
  hashQuantizedBase,
  quantizeMlp,
  trainableAdapterNames,
} from './mlp.js';
export {
  type AdamWSettings,
  type DenseKernelChoice,
  DEFAULT_DENSE_KERNEL,
  denseKernelOf,
  type Evaluation,
  type LocalTrainingSettings,
  type TrainingReport,
  evaluateMlp,
  evaluateQlora,
  qloraLossAndGradients,
  trainMlp,
  trainQlora,
} from './mlp-engine.js';
export { type DeltaScore, scoreDeltas, trainLocalDelta } from './local-round.js';
export { type Examples, asExamples, imageExamples } from './examples.js';
export {
  type Speech,
  BYTE_VOCABULARY,
  bitsPerByte,
  loadMobyDick,
  loadSotu,
  sotuEra,
  textExamples,
} from './byte-text.js';
export {
  type MnistCohortOptions,
  type MnistCohortSetup,
  mnistLearner,
  mnistTestAccuracy,
  prepareMnistCohort,
} from './mnist-learner.js';
export { type MnistBaseModel, initMnistNetwork, mnistPublicSplit, pretrainMnistBase } from './mnist-base.js';
export {
  decodeQuantizedBase,
  encodeQuantizedBase,
  loadQuantizedBase,
  saveQuantizedBase,
} from './base-file.js';
export {
  type PartyDelta,
  type PartyJob,
  type PartyPool,
  createPartyPool,
  trainPartiesInOrder,
  trainPartiesInWorkers,
} from './party-pool.js';
export {
  type TrainingPlan,
  type WriteTrainingPlanOptions,
  TrainingPlanSchema,
  mnistPartyFromPlan,
  readTrainingPlan,
  writeTrainingPlan,
} from './mnist-plan.js';
export {
  type LayerNormParams,
  type QuantizedTransformer,
  type Transformer,
  type TransformerShape,
  TRANSFORMER_VOCABULARY,
  describeTransformerShape,
  initTransformer,
  quantizeTransformer,
  transformerLinearLayout,
  transformerParameterCount,
} from './transformer.js';
export {
  type LmKernelChoice,
  type TextEvaluationOptions,
  type TransformerTrainingSettings,
  DEFAULT_LM_KERNEL,
  lmKernelOf,
  dequantizeTransformer,
  evaluateQloraTransformer,
  evaluateTransformer,
  qloraTransformerLogits,
  qloraTransformerLossAndGradients,
  trainQloraTransformer,
  trainTransformer,
  transformerLogits,
} from './transformer-engine.js';
export {
  decodeQuantizedTransformer,
  encodeQuantizedTransformer,
  loadQuantizedTransformer,
  saveQuantizedTransformer,
} from './transformer-base-file.js';
export {
  GEMM_FULL,
  type TransformerKernelChoice,
  gemmPanelFloats,
  nativeTransformerKernel,
  transformerKernel,
  transformerKernelChoice,
  transformerKernelDescription,
  transformerKernelVariant,
} from './transformer-kernel.js';
export { denseKernelDescription } from './dense-kernel.js';
export {
  type LmCohortOptions,
  type LmCohortSetup,
  type LmEvaluationText,
  type LmLocalSettings,
  type LmParty,
  type LmPretraining,
  LM_SHAPE,
  SMALL_LM_SHAPE,
  lmHeldOut,
  lmLearner,
  mobyDickSplit,
  prepareLmCohort,
  pretrainLmBase,
  sotuEras,
  trainLmParty,
} from './lm-learner.js';
export {
  type SotuSpeechRole,
  type SotuSpeechSplit,
  type SotuSpeechSplitOptions,
  SOTU_SPLIT_PIECE_BYTES,
  sotuSpeechRoles,
  sotuSpeechSplit,
} from './sotu-split.js';
