import { existsSync, readFileSync } from 'node:fs';

/** Whether this machine can run the native addon: Linux on x86-64 with AVX2 and FMA. */
export const machineHasAvx2Fma = (): boolean => {
  if (process.platform !== 'linux' || process.arch !== 'x64') return false;
  const flags =
    readFileSync('/proc/cpuinfo', 'utf8')
      .match(/^flags\s*:(.*)$/m)?.[1]
      ?.split(/\s+/) ?? [];
  return flags.includes('avx2') && flags.includes('fma');
};

/** In CI (CI or DML_REQUIRE_NATIVE set), `npm ci`'s postinstall must have built the addon. */
export const nativeAddonRequired = Boolean(process.env.CI || process.env.DML_REQUIRE_NATIVE);

/** Whether `npm run build:native` (or `npm ci`'s postinstall) left the addon's file. */
export const nativeAddonBuilt = existsSync(
  new URL('../native/build/transformer_kernel.node', import.meta.url),
);
