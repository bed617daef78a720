// The public face of trainer/: QLoRA with TensorFlow.js.
export {};
