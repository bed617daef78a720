// Test support for the end-to-end tests of `dml train run`: commands run in the test's process and
// parties' processes of their own, every wait bounded so that a hang fails naming what it waited
// for, with the output it had.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../main.js';
import { CapturedStream } from '../test-io.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** Fails naming the step when it has not finished in `seconds`: a hang shows as the step, not as the test's timeout. */
export const bounded = async <T>(label: string, work: Promise<T>, seconds = 180): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: not finished after ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
};

/** `dml ARGV` in this process (bounded), with its exit code and output. */
export const runDml = async (argv: string[], env: Record<string, string>) => {
  const stdout = new CapturedStream();
  const stderr = new CapturedStream();
  const code = await bounded(`dml ${argv.join(' ')}`, main(argv, { stdout, stderr, env })).catch(
    (e: unknown) => {
      throw new Error(`${(e as Error).message}\nstdout: ${stdout.text}\nstderr: ${stderr.text}`);
    },
  );
  return { code, stdout: stdout.text, stderr: stderr.text };
};

export interface DmlProcess {
  readonly process: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `node bin/dml.js ARGS`, a real process of its own, its output kept and written to
 * `logFile` as it comes (the folder a failed run leaves behind shows it).
 */
export const startDml = (args: string[], env: Record<string, string>, logFile: string): DmlProcess => {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'dml.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const handle: DmlProcess = {
    process: child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
  const take = (key: 'stdout' | 'stderr') => (d: Buffer) => {
    handle[key] += d.toString();
    appendFileSync(logFile, d);
  };
  child.stdout!.on('data', take('stdout'));
  child.stderr!.on('data', take('stderr'));
  return handle;
};

/** Fails naming the party and what it waited for, with its output, unless its output shows `pattern` in time. */
export const waitForOutput = async (
  party: string,
  child: DmlProcess,
  pattern: RegExp,
  seconds = 150,
): Promise<void> => {
  const seen = new Promise<void>((resolve, reject) => {
    const look = setInterval(() => {
      if (pattern.test(child.stdout + child.stderr)) {
        clearInterval(look);
        resolve();
      }
    }, 100);
    void child.exited.then((r) => {
      clearInterval(look);
      if (pattern.test(child.stdout + child.stderr)) resolve();
      else reject(new Error(`${party} exited (${r.code ?? r.signal}) before ${pattern}`));
    });
  });
  await bounded(`${party}'s output ${pattern}`, seen, seconds).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${party}: ${child.stdout}\n${child.stderr}`);
  });
};

/** The process's exit, bounded; a late one fails with the party's output. */
export const exitOf = (party: string, child: DmlProcess, seconds = 120) =>
  bounded(`${party}'s process to exit`, child.exited, seconds).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${party}: ${child.stdout}\n${child.stderr}`);
  });
