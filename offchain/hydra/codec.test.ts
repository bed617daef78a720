import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { decodeHydraClientInput, decodeHydraServerMessage, encodeHydraClientInput } from './codec.js';
import { HYDRA_CLIENT_INPUT_TAGS, HYDRA_SERVER_OUTPUT_TAGS, type HydraClientInput } from './messages.js';
import { HYDRA_API_DIR, loadHydraApiValidator } from './testing/api-schema.js';

const samplesOf = (folder: string): Array<{ file: string; index: number; sample: unknown; text: string }> => {
  const dir = new URL(`${folder}/`, HYDRA_API_DIR);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .flatMap((file) => {
      const { samples } = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { samples: unknown[] };
      return samples.map((sample, index) => ({ file, index, sample, text: JSON.stringify(sample) }));
    });
};

describe('hydra codec against the 1.3.0 samples', () => {
  const outputs = samplesOf('ServerOutput');
  const inputs = samplesOf('ClientInput');

  it('finds samples', () => {
    expect(outputs.length).toBeGreaterThanOrEqual(32);
    expect(inputs.length).toBeGreaterThanOrEqual(10);
  });

  it.each(outputs.map((s) => [`${s.file}[${s.index}]`, s] as const))(
    'decodes server output %s',
    (_name, s) => {
      const decoded = decodeHydraServerMessage(s.text);
      if (decoded.kind !== 'output') throw new Error(`${s.file}: ${JSON.stringify(decoded).slice(0, 400)}`);
      expect(decoded.output.tag).toBe(s.file.replace(/\.json$/, ''));
      // Loose objects keep every field: re-encoding gives the same JSON.
      expect(JSON.parse(JSON.stringify(decoded.output))).toEqual(JSON.parse(s.text));
    },
  );

  it.each(inputs.map((s) => [`${s.file}[${s.index}]`, s] as const))(
    'round-trips client input %s',
    (_name, s) => {
      const decoded = decodeHydraClientInput(s.text);
      if (!decoded.ok) throw new Error(`${s.file}: ${decoded.reason}`);
      expect(decoded.input.tag).toBe(s.file.replace(/\.json$/, ''));
      expect(JSON.parse(encodeHydraClientInput(decoded.input))).toEqual(JSON.parse(s.text));
    },
  );

  it('knows every tag that has a sample', () => {
    for (const s of outputs) expect(HYDRA_SERVER_OUTPUT_TAGS).toContain(s.file.replace(/\.json$/, ''));
    for (const s of inputs) expect(HYDRA_CLIENT_INPUT_TAGS).toContain(s.file.replace(/\.json$/, ''));
  });

  it('every client input sample validates against api.yaml', () => {
    const api = loadHydraApiValidator();
    for (const s of inputs)
      expect([s.file, api.check(s.file.replace(/\.json$/, ''), s.sample)]).toEqual([s.file, null]);
  });
});

describe('hydra codec on bad input', () => {
  it('keeps malformed JSON as malformed, never throws', () => {
    const decoded = decodeHydraServerMessage('{"tag": "HeadIsOpen", ');
    expect(decoded.kind).toBe('malformed');
  });

  it('keeps an unknown tag raw', () => {
    const decoded = decodeHydraServerMessage('{"tag":"SomethingNew","x":1}');
    expect(decoded).toEqual({ kind: 'unknown-tag', tag: 'SomethingNew', raw: { tag: 'SomethingNew', x: 1 } });
  });

  it('reports a known tag with a wrong shape as invalid, with the field', () => {
    const decoded = decodeHydraServerMessage('{"tag":"TxValid","headId":"00","transactionId":"zz"}');
    expect(decoded.kind).toBe('invalid');
    if (decoded.kind === 'invalid') expect(decoded.problem).toContain('transactionId');
  });

  it('refuses to encode an input of the wrong shape', () => {
    expect(() => encodeHydraClientInput({ tag: 'NewTx' } as unknown as HydraClientInput)).toThrow(
      /transaction/,
    );
    expect(decodeHydraClientInput('nope').ok).toBe(false);
    expect(decodeHydraClientInput('{"tag":"Dance"}').ok).toBe(false);
  });
});

describe('api.yaml validator', () => {
  it('rejects an output that misses a required field and accepts a complete one', () => {
    const api = loadHydraApiValidator();
    const open = { tag: 'HeadIsOpen', headId: '00', utxo: {}, seq: 1, timestamp: '2026-01-01T00:00:00Z' };
    expect(api.check('HeadIsOpen', open)).toBeNull();
    expect(api.check('HeadIsOpen', { ...open, utxo: undefined })).toMatch(/utxo/);
    expect(
      api.check('HeadIsOpen', { ...open, utxo: { 'not-a-txin': { address: 'a', value: {} } } }),
    ).not.toBeNull();
  });
});
