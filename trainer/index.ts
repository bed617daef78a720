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
