// Test helpers of trainer/ (only *.test.ts files may import this).
export { machineHasAvx2Fma, nativeAddonBuilt, nativeAddonRequired } from './native-addon.js';
export { randomMnistImages, withRandomB } from './mnist-fixtures.js';
export {
  describeNativeDense,
  expectNativeCloseToWasm,
  nativeDenseAvailable,
  restoreDenseNativeAfterEach,
} from './native-dense.js';
