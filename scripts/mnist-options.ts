/**
 * The options of scripts/mnist-results.ts, parsed and checked before anything is loaded or
 * trained: a mistake (`--splits foo`, `--rounds x`, an unknown flag) is a `DmlError` with code
 * MNIST_OPTION, which the script prints as one line on stderr (exit code 2, no stack trace).
 * The values stay strings, as given (they are written to the JSON results as the run's settings
 * and compared by `--merge`).
 */
import { parseArgs } from 'node:util';
import { AGGREGATION_RULE_KINDS, DmlError, parseDeltaValueEncoding } from '../offchain/index.js';

export const MNIST_OPTIONS = {
  cohorts: { type: 'string', default: '2,4,10' },
  parties: { type: 'string' },
  rounds: { type: 'string', default: '10' },
  'local-steps': { type: 'string', default: '50' },
  batch: { type: 'string', default: '64' },
  'shard-size': { type: 'string', default: '5500' },
  'test-size': { type: 'string', default: '10000' },
  splits: { type: 'string', default: 'iid,dirichlet' },
  hidden: { type: 'string', default: '256' },
  rank: { type: 'string', default: '16' },
  alpha: { type: 'string', default: '32' },
  lr: { type: 'string', default: '3e-3' },
  'pretrain-steps': { type: 'string', default: '600' },
  rule: { type: 'string', default: 'ffa-lora' },
  'outer-lr': { type: 'string', default: '1' },
  'outer-momentum': { type: 'string', default: '0' },
  poison: { type: 'string', default: '0' },
  seed: { type: 'string', default: '1' },
  json: { type: 'string' },
  model: { type: 'string', default: 'mlp' },
  base: { type: 'string' },
  workers: { type: 'string', default: '1' },
  alone: { type: 'string', default: 'true' },
  'alone-parties': { type: 'string' },
  'robust-rules': { type: 'string', default: 'fedavg,median,trimmed-mean,krum' },
  'eval-every': { type: 'string', default: '1' },
  merge: { type: 'string' },
  help: { type: 'boolean', default: false },
  'delta-encoding': { type: 'string', default: 'f32' },
  honest: { type: 'string', default: 'true' },
  rescore: { type: 'string' },
  dimensions: { type: 'string' },
} as const;

const bad = (message: string, hint?: string): DmlError =>
  new DmlError('MNIST_OPTION', message, hint === undefined ? {} : { hint });

const integerAtLeast = (flag: string, value: string, min: number): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min)
    throw bad(`--${flag} ${value} is not an integer of at least ${min}`);
  return n;
};

const positive = (flag: string, value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0) || !Number.isFinite(n))
    throw bad(`--${flag} ${value} is not a positive number`);
  return n;
};

const oneOf = (flag: string, value: string, allowed: readonly string[]): void => {
  if (!allowed.includes(value)) throw bad(`--${flag} ${value} is not one of ${allowed.join(', ')}`);
};

/** Parses and checks the command line (without `node` and the script); throws `DmlError` MNIST_OPTION. */
export const parseMnistOptions = (argv: readonly string[]) => {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: MNIST_OPTIONS }));
  } catch (error) {
    // node's parseArgs: an unknown flag, a flag without its value, a stray positional
    // (its message may run over several lines: the first one says what is wrong)
    const message = (error as { message?: unknown } | null)?.message;
    throw bad((typeof message === 'string' ? message : String(error)).split('\n')[0]!, 'see --help');
  }
  if (values.help || values.merge !== undefined) return values;
  const cohorts =
    values.cohorts === 'none' ? [] : values.cohorts.split(',').map((k) => integerAtLeast('cohorts', k, 1));
  const parties = values.parties === undefined ? undefined : integerAtLeast('parties', values.parties, 1);
  if (parties === undefined && cohorts.length === 0)
    throw bad('--cohorts none needs --parties n (the number of alone runs)');
  const maxParties = parties ?? Math.max(...cohorts);
  if (cohorts.some((k) => k > maxParties))
    throw bad(`--parties ${maxParties} is smaller than the largest cohort (${Math.max(...cohorts)})`);
  for (const flag of [
    'rounds',
    'local-steps',
    'batch',
    'shard-size',
    'hidden',
    'rank',
    'pretrain-steps',
    'workers',
    'eval-every',
  ] as const)
    integerAtLeast(flag, values[flag], 1);
  integerAtLeast('seed', values.seed, 0);
  if (integerAtLeast('test-size', values['test-size'], 1) > 10_000)
    throw bad(`--test-size ${values['test-size']} is more than the 10,000 test images`);
  if (maxParties * Number(values['shard-size']) > 55_000)
    throw bad(
      `${maxParties} parties of --shard-size ${values['shard-size']} need more than the 55,000 private images`,
    );
  const poison = integerAtLeast('poison', values.poison, 0);
  if (poison > 0 && poison * 2 >= maxParties)
    throw bad(`--poison ${poison} is not a minority of the ${maxParties} parties`);
  positive('alpha', values.alpha);
  positive('lr', values.lr);
  positive('outer-lr', values['outer-lr']);
  const momentum = Number(values['outer-momentum']);
  if (values['outer-momentum'].trim() === '' || !(momentum >= 0 && momentum < 1))
    throw bad(`--outer-momentum ${values['outer-momentum']} is not in [0, 1)`);
  for (const split of values.splits.split(',')) oneOf('splits', split, ['iid', 'dirichlet']);
  oneOf('model', values.model, ['mlp', 'cnn']);
  oneOf('rule', values.rule, AGGREGATION_RULE_KINDS);
  for (const rule of values['robust-rules'].split(',')) oneOf('robust-rules', rule, AGGREGATION_RULE_KINDS);
  oneOf('alone', values.alone, ['true', 'false']);
  if (
    values['alone-parties'] !== undefined &&
    integerAtLeast('alone-parties', values['alone-parties'], 1) > maxParties
  )
    throw bad(`--alone-parties ${values['alone-parties']} is more than the ${maxParties} parties`);
  oneOf('honest', values.honest, ['true', 'false']);
  if (values.dimensions !== undefined) integerAtLeast('dimensions', values.dimensions, 1);
  parseDeltaValueEncoding(values['delta-encoding']); // a DmlError BAD_FLAG of its own
  return values;
};
