import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DmlError } from '../offchain/index.js';
import type { ReproductionInputs, ReproductionStep } from './reproduce-plan.js';

/** What the runner keeps in `<dir>/state.json` of each finished step: a rerun skips it. */
export interface FinishedStep {
  readonly finishedAt: string;
  readonly seconds: number;
  readonly command: string;
  /** For a base-building step: which base, its path and hash. */
  readonly base?: { readonly kind: 'mnist-base' | 'lm-base'; readonly path: string; readonly hash: string };
}

export interface ReproductionState {
  readonly version: 1;
  readonly profile: string;
  readonly steps: Record<string, FinishedStep>;
}

const STATE_FILE = 'state.json';

export const readReproductionState = async (dir: string, profile: string): Promise<ReproductionState> => {
  let text: string;
  try {
    text = await readFile(join(dir, STATE_FILE), 'utf8');
  } catch {
    return { version: 1, profile, steps: {} };
  }
  const state = JSON.parse(text) as ReproductionState;
  if (state.profile !== profile)
    throw new DmlError(
      'REPRODUCE_PROFILE',
      `${dir} holds a ${state.profile} reproduction, not ${profile}: use another --out folder`,
    );
  return state;
};

/** Written whole or not at all (a temporary file renamed over the old one): a crash loses no finished step. */
const saveState = async (dir: string, state: ReproductionState): Promise<void> => {
  const tmp = join(dir, `${STATE_FILE}.tmp`);
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, join(dir, STATE_FILE));
};

/** The base a base-building step printed: `"path": ...` and `"hash": ...` (mnist-base) or `file ...` / `hash ...` (lm-base). */
export const baseFromOutput = (stdout: string): { path: string; hash: string } | undefined => {
  const path = /^file (\S+)$/m.exec(stdout)?.[1] ?? /"path": "([^"]+)"/.exec(stdout)?.[1];
  const hash = /^hash ([0-9a-f]{64})$/m.exec(stdout)?.[1] ?? /"hash": "([0-9a-f]{64})"/.exec(stdout)?.[1];
  return path && hash ? { path, hash } : undefined;
};

export const inputsOf = (dir: string, state: ReproductionState): ReproductionInputs => {
  const built = (kind: 'mnist-base' | 'lm-base') =>
    Object.values(state.steps).find((s) => s.base?.kind === kind)?.base?.path;
  const mnist = built('mnist-base');
  const lm = built('lm-base');
  return { dir, ...(mnist ? { mnistBase: mnist } : {}), ...(lm ? { lmBase: lm } : {}) };
};

export interface RunStepsOptions {
  readonly dir: string;
  readonly profile: string;
  /** How a step is started: the tsx binary and the scripts folder. */
  readonly tsx: string;
  readonly scriptsDir: string;
  readonly cwd: string;
  /** Progress lines (the runner's and each child's stderr, prefixed by its step). */
  readonly progress: (line: string) => void;
}

/**
 * Runs the steps not finished yet, in order, each a child process whose stdout goes to
 * `<dir>/<id>.out` and stderr to `<dir>/<id>.log` (and, line by line, to `progress`); a finished
 * step is recorded in `<dir>/state.json` and skipped by a rerun. A step that fails stops the run
 * with a DmlError naming it and its log; what finished before is kept.
 */
export const runReproductionSteps = async (
  steps: readonly ReproductionStep[],
  options: RunStepsOptions,
): Promise<ReproductionState> => {
  const { dir } = options;
  await mkdir(dir, { recursive: true });
  let state = await readReproductionState(dir, options.profile);
  for (const [n, step] of steps.entries()) {
    const tag = `[${n + 1}/${steps.length}] ${step.id}`;
    if (state.steps[step.id]) {
      options.progress(`${tag}: done before (${state.steps[step.id]!.finishedAt}), skipped`);
      continue;
    }
    let args: string[];
    try {
      args = step.args(inputsOf(dir, state));
    } catch (error) {
      throw new DmlError(
        'REPRODUCE_ORDER',
        `${step.id}: ${error instanceof Error ? error.message : String(error)}`,
        {
          hint: 'run the steps before it first (drop --only, or include them)',
        },
      );
    }
    const command = [
      ...Object.entries(step.env ?? {}).map(([k, v]) => `${k}=${v}`),
      'npx tsx',
      `scripts/${step.script}`,
      ...args,
    ].join(' ');
    options.progress(
      `${tag}: ${step.title}${step.recordedCpu ? ` (recorded run: ${step.recordedCpu} of CPU)` : ''}`,
    );
    options.progress(`${tag}: ${command}`);
    const started = Date.now();
    const stdout = await runChild(step, args, tag, options);
    const printed = step.builds ? baseFromOutput(stdout) : undefined;
    const base = step.builds && printed ? { kind: step.builds, ...printed } : undefined;
    if (step.builds && !base)
      throw new DmlError(
        'REPRODUCE_NO_BASE',
        `${step.id} printed no base path and hash: see ${join(dir, `${step.id}.out`)}`,
      );
    if (base && step.expectedHash && base.hash !== step.expectedHash)
      options.progress(
        `${tag}: the base's hash is ${base.hash}, not the recorded ${step.expectedHash}: another machine's floats ` +
          `(the figures that follow may differ from design_docs/trainer.md's in the last decimals)`,
      );
    const finished: FinishedStep = {
      finishedAt: new Date().toISOString(),
      seconds: Math.round((Date.now() - started) / 1000),
      command,
      ...(base ? { base } : {}),
    };
    state = { ...state, steps: { ...state.steps, [step.id]: finished } };
    await saveState(dir, state);
    options.progress(`${tag}: done in ${finished.seconds} s`);
  }
  return state;
};

/** The scripts stamp their log lines with the time; the progress line has its own. */
const withoutClock = (line: string): string => line.replace(/^\d\d:\d\d:\d\d /, '');

const runChild = (
  step: ReproductionStep,
  args: string[],
  tag: string,
  options: RunStepsOptions,
): Promise<string> =>
  new Promise((resolve, reject) => {
    const env = { ...process.env, ...step.env };
    delete env.NODE_OPTIONS; // a test runner's flags are not the scripts'
    const child = spawn(options.tsx, [join(options.scriptsDir, step.script), ...args], {
      cwd: options.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = createWriteStream(join(options.dir, `${step.id}.out`));
    const log = createWriteStream(join(options.dir, `${step.id}.log`));
    let stdout = '';
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      out.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      log.write(d);
      const lines = (pending + d.toString()).split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line.length > 0) options.progress(`${tag}: ${withoutClock(line)}`);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (pending.length > 0) options.progress(`${tag}: ${withoutClock(pending)}`);
      out.end();
      log.end(() => {
        if (code === 0) resolve(stdout);
        else
          reject(
            new DmlError(
              'REPRODUCE_STEP_FAILED',
              `${step.id} ended with ${signal ?? `exit code ${code}`}: see ${join(options.dir, `${step.id}.log`)}`,
              { hint: 'fix the cause and run the same command again: finished steps are kept' },
            ),
          );
      });
    });
  });
