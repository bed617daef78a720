import { Script, ScriptType, UPLCProgram, encodeUPLC, type Term, type PType } from '@harmoniclabs/plu-ts';

/**
 * A validator compiled for Plutus V2. plu-ts 0.9.0's `compile()` emits Plutus V3 only, so we
 * lower the term ourselves: UPLC without the V3 marker and without grouped applications (a V3
 * feature), wrapped in a UPLC 1.0.0 program, flat-encoded.
 *
 * `compiledCode` is the flat program wrapped once in a CBOR bytestring (the CIP-57 form and what
 * lucid-cardano takes as `script`); `hash` is the script hash, blake2b-224 of the language tag
 * 0x02 followed by that CBOR.
 */
export interface CompiledScript {
  readonly compiledCode: string;
  readonly hash: string;
  readonly size: number;
}

const cborBytes = (bytes: Uint8Array): Uint8Array => {
  const n = bytes.length;
  const header =
    n < 24
      ? [0x40 + n]
      : n < 256
        ? [0x58, n]
        : n < 65536
          ? [0x59, n >> 8, n & 0xff]
          : [0x5a, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(header.length + n);
  out.set(header, 0);
  out.set(bytes, header.length);
  return out;
};

const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Compile a term (build it fresh for every call: plu-ts caches the UPLC of a term). */
export const compileV2 = (term: Term<PType>): CompiledScript => {
  const uplc = (
    term as unknown as { toUPLC(dbn: number, options: object): ConstructorParameters<typeof UPLCProgram>[1] }
  ).toUPLC(0, { addMarker: false, delayHoists: false, uplcOptimizations: { groupApplications: false } });
  const flat = encodeUPLC(new UPLCProgram([1, 0, 0], uplc)).toBuffer().buffer;
  const wrapped = cborBytes(flat);
  const hash = new Script(ScriptType.PlutusV2, wrapped).hash.toString();
  return { compiledCode: toHex(wrapped), hash, size: wrapped.length };
};
