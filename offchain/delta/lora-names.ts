/**
 * Naming of LoRA adapter tensors in a delta: `<layer>.lora_A` has shape [r, in] and
 * `<layer>.lora_B` has shape [out, r]; the layer's update is (alpha/r) B A.
 */
export const LORA_A_SUFFIX = '.lora_A';
export const LORA_B_SUFFIX = '.lora_B';

export const isLoraA = (name: string): boolean => name.endsWith(LORA_A_SUFFIX);
export const isLoraB = (name: string): boolean => name.endsWith(LORA_B_SUFFIX);
export const loraLayerOf = (name: string): string =>
  name.endsWith(LORA_A_SUFFIX) || name.endsWith(LORA_B_SUFFIX) ? name.slice(0, -LORA_A_SUFFIX.length) : name;
