import { describe, expect, it } from '@jest/globals';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDmlError } from '../offchain/index.js';
import { runBounded } from '../offchain/testing/index.js';
import { parseMnistOptions } from './mnist-options.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BOUND_MS = 120_000;

const optionError = (argv: string[]): string => {
  try {
    parseMnistOptions(argv);
  } catch (error) {
    if (isDmlError(error)) return `${error.code}: ${error.message}`;
    throw error;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
};

describe('parseMnistOptions', () => {
  it('keeps the values of a good command line as given, with the defaults', () => {
    const o = parseMnistOptions(['--model', 'cnn', '--rank', '128', '--lr', '2e-3', '--cohorts', '10']);
    expect(o.rank).toBe('128');
    expect(o.lr).toBe('2e-3');
    expect(o.splits).toBe('iid,dirichlet');
    expect(parseMnistOptions(['--cohorts', 'none', '--parties', '10']).cohorts).toBe('none');
    expect(parseMnistOptions(['--poison', '3', '--cohorts', '10', '--honest', 'false']).honest).toBe('false');
  });

  it('names the flag and the value of each mistake', () => {
    expect(optionError(['--splits', 'foo'])).toBe('MNIST_OPTION: --splits foo is not one of iid, dirichlet');
    expect(optionError(['--rounds', 'x'])).toBe('MNIST_OPTION: --rounds x is not an integer of at least 1');
    expect(optionError(['--local-steps', '2.5'])).toContain('--local-steps 2.5');
    expect(optionError(['--lr=-1'])).toBe('MNIST_OPTION: --lr -1 is not a positive number');
    expect(optionError(['--lr', '-1'])).toBe("MNIST_OPTION: Option '--lr' argument is ambiguous.");
    expect(optionError(['--rule', 'mean'])).toContain('--rule mean is not one of fedavg, ffa-lora');
    expect(optionError(['--cohorts', '2,x'])).toContain('--cohorts x');
    expect(optionError(['--cohorts', 'none'])).toContain('needs --parties');
    expect(optionError(['--cohorts', '10', '--parties', '4'])).toContain('smaller than the largest cohort');
    expect(optionError(['--cohorts', '10', '--poison', '5'])).toContain('not a minority');
    expect(optionError(['--cohorts', '11'])).toContain('more than the 55,000 private images');
    expect(optionError(['--test-size', '20000'])).toContain('10,000 test images');
    expect(optionError(['--outer-momentum', '1'])).toContain('[0, 1)');
    expect(optionError(['--cohorts', '2', '--alone-parties', '3'])).toContain('more than the 2 parties');
    expect(optionError(['--bogus'])).toContain("Unknown option '--bogus'");
    expect(optionError(['--delta-encoding', 'f16'])).toContain('f16');
  });
});

describe('scripts/mnist-results.ts with a bad option', () => {
  it('prints one line on stderr, no stack trace, and exits with code 2', async () => {
    const { code, stdout, stderr } = await runBounded(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'scripts', 'mnist-results.ts'), '--splits', 'foo'],
      { cwd: ROOT, boundMs: BOUND_MS },
    );
    expect({ code, stdout, stderr }).toEqual({
      code: 2,
      stdout: '',
      stderr: 'mnist-results: --splits foo is not one of iid, dirichlet\n',
    });
  }, 150_000);
});
