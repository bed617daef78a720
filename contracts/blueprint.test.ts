import { describe, expect, it } from '@jest/globals';
import { Script, ScriptType } from '@harmoniclabs/plu-ts';
import { buildBlueprint } from './blueprint.js';
import { loadBlueprint, serializeBlueprint } from './blueprint-file.js';

describe('contracts/plutus.json (CIP-57 blueprint)', () => {
  const committed = loadBlueprint();

  it('has the CIP-57 shape: preamble, validators with redeemer, compiledCode and hash, definitions', () => {
    expect(committed.preamble.plutusVersion).toBe('v2');
    expect(committed.preamble.title).toBeTruthy();
    expect(committed.preamble.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(committed.validators.map((v) => v.title).sort()).toEqual(
      ['cohort_state.spend', 'cohort_token.mint', 'escrow.spend', 'membership.mint', 'slash.withdraw'].sort(),
    );
    for (const v of committed.validators) {
      expect(v.compiledCode).toMatch(/^[0-9a-f]+$/);
      expect(v.hash).toMatch(/^[0-9a-f]{56}$/);
      expect(v.redeemer.schema).toBeDefined();
      // The hash is the V2 script hash of the compiled code.
      expect(new Script(ScriptType.PlutusV2, Buffer.from(v.compiledCode, 'hex')).hash.toString()).toBe(
        v.hash,
      );
      for (const schema of [
        v.datum?.schema,
        v.redeemer.schema,
        ...(v.parameters ?? []).map((p) => p.schema),
      ]) {
        const ref = (schema as { $ref?: string } | undefined)?.$ref;
        if (ref) expect(committed.definitions[ref.replace('#/definitions/', '')]).toBeDefined();
      }
    }
  });

  it('matches a fresh build (run `npm run build:contracts` if this fails)', () => {
    expect(serializeBlueprint(buildBlueprint())).toBe(serializeBlueprint(committed));
  });
});
