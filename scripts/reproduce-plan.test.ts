import { describe, expect, it } from '@jest/globals';
import { type ReproductionProfile, reproductionSteps } from './reproduce-plan.js';

const inputs = { dir: '/out', mnistBase: '/out/bases/m.dmlbase', lmBase: '/out/bases/l.dmlbase' };
const flag = (args: string[], name: string): string | undefined => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};

describe.each<ReproductionProfile>(['full', 'quick'])('the %s reproduction plan', (profile) => {
  const steps = reproductionSteps(profile);

  it('has unique step ids, and reads only files that an earlier step writes', () => {
    expect(new Set(steps.map((s) => s.id)).size).toBe(steps.length);
    const written = new Set<string>();
    for (const step of steps) {
      const args = step.args(inputs);
      const reads = [flag(args, '--merge'), flag(args, '--rescore')].filter((x) => x !== undefined).join(',');
      for (const file of reads.split(',').filter((f) => f.length > 0))
        expect({ step: step.id, reads: file, written: written.has(file) }).toEqual({
          step: step.id,
          reads: file,
          written: true,
        });
      const json = flag(args, '--json');
      if (json) written.add(json);
    }
  });

  it('gives every base-using step the base built before it, and fails plainly without one', () => {
    const firstUse = { mnistBase: 'mnist-base', lmBase: 'lm-base' } as const;
    for (const step of steps) {
      const base = flag(step.args(inputs), '--base');
      if (base === undefined) continue;
      const which = base === inputs.mnistBase ? 'mnistBase' : 'lmBase';
      const builder = steps.findIndex((s) => s.id === firstUse[which]);
      expect({ step: step.id, after: steps.indexOf(step) > builder }).toEqual({ step: step.id, after: true });
      expect(() => step.args({ dir: '/out' })).toThrow(/base: its step has not run/);
    }
  });

  it("runs every step on the recorded runs' kernels: the MNIST steps' products and the LM's kernel in wasm", () => {
    for (const step of steps)
      expect({ step: step.id, env: step.env }).toEqual({
        step: step.id,
        env: step.script.startsWith('mnist-') ? { DML_DENSE_NATIVE: '0' } : { DML_LM_NATIVE: '0' },
      });
  });

  it('writes everything under the output folder', () => {
    for (const step of steps)
      for (const a of step.args(inputs).flatMap((x) => x.split(',')))
        if (a.startsWith('/')) expect(a.startsWith('/out/')).toBe(true);
  });
});

describe('the full plan', () => {
  it("repeats the recorded runs' settings (design_docs/trainer.md)", () => {
    const byId = new Map(reproductionSteps('full').map((s) => [s.id, s.args(inputs).join(' ')]));
    expect(byId.get('mnist-base')).toContain('--model cnn --hidden 128 --steps 3000 --shifts 2');
    expect(byId.get('mnist-iid-10')).toContain(
      '--rank 128 --alpha 128 --lr 2e-3 --workers 2 --local-steps 70 --rounds 10 --splits iid --cohorts 10',
    );
    expect(byId.get('mnist-robust-median')).toContain('--poison 3 --honest false --robust-rules median');
    expect(byId.get('lm-speeches')).toContain(
      '--split speeches --validation-bytes 8000 --eval-bytes 8000 --rounds 40 --local-steps 25 --rank 16 --lr 1e-2 --train-bytes 32000',
    );
  });
});
