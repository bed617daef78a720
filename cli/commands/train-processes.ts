// Test support for the end-to-end tests of `dml train run`: commands run in the test's process and
// parties' processes of their own, every wait bounded so that a hang fails naming what it waited
// for, with the output it had.
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevnetLedger, startDevnetServer, type DevnetServer } from '../../offchain/index.js';
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

export interface TrainDevnetOptions {
  /** The temporary folder's name prefix, e.g. `dml-train-epochs-`. */
  readonly prefix: string;
  /** The cohort's shared storage passphrase (MY_ENCRYPTION_PASSPHRASE of every command). */
  readonly passphrase: string;
  /** Key folders made with `dml keys new` and funded with 100 ada each, in this order. */
  readonly parties: readonly string[];
  /** More environment for every command and process (e.g. DML_BUS). */
  readonly env?: Record<string, string>;
  /** A party's hydra-node settings (DML_HYDRA_URL), asked at each command: heads come and go. */
  readonly hydraEnv: (party: string) => Record<string, string>;
}

/** A devnet (ledger and its server) in a temporary folder, with funded parties and their processes. */
export interface TrainDevnet {
  readonly home: string;
  readonly ledger: DevnetLedger;
  readonly env: Record<string, string>;
  /** A party's key folder. */
  keys(party: string): string;
  /** `dml ARGV` in this process with the devnet's environment. */
  run(argv: string[], extraEnv?: Record<string, string>): ReturnType<typeof runDml>;
  /** `dml --json --keys <party> ARGV` with the party's Hydra settings; must exit 0; its JSON result. */
  ok<T = Record<string, unknown>>(party: string, argv: string[]): Promise<T>;
  /** `dml --keys <party> train run --plan PLAN EXTRA`, a process of its own (output in `<home>/<party>-N.log`). */
  startTrainRun(
    party: string,
    plan: string,
    extra?: readonly string[],
    extraEnv?: Record<string, string>,
  ): DmlProcess;
  /** Every process started, in order. */
  readonly processes: readonly DmlProcess[];
  /** Kills what still runs, stops the server and the ledger, removes the folder (kept with DML_KEEP_TEST_HOME=1). */
  close(): Promise<void>;
}

export const openTrainDevnet = async (o: TrainDevnetOptions): Promise<TrainDevnet> => {
  const home = await mkdtemp(join(tmpdir(), o.prefix));
  let ledger: DevnetLedger | undefined;
  let server: DevnetServer | undefined;
  const processes: DmlProcess[] = [];
  const close = async () => {
    for (const p of processes)
      if (p.process.exitCode === null && p.process.signalCode === null) p.process.kill('SIGKILL');
    await bounded(
      "the parties' processes to end after SIGKILL",
      Promise.all(processes.map((p) => p.exited)),
      30,
    );
    await server?.close();
    ledger?.close();
    if (process.env.DML_KEEP_TEST_HOME !== '1') await rm(home, { recursive: true, force: true });
  };
  try {
    ledger = await DevnetLedger.open(join(home, 'devnet'));
    server = await startDevnetServer(ledger);
    const env = {
      DML_HOME: home,
      DML_DEVNET_URL: server.url,
      MY_ENCRYPTION_PASSPHRASE: o.passphrase,
      ...o.env,
    };
    const keys = (party: string) => join(home, party);
    const run = (argv: string[], extraEnv: Record<string, string> = {}) =>
      runDml(argv, { ...env, ...extraEnv });
    const ok = async <T = Record<string, unknown>>(party: string, argv: string[]): Promise<T> => {
      const result = await run(['--json', '--keys', keys(party), ...argv], o.hydraEnv(party));
      if (result.code !== 0) throw new Error(`dml ${argv.join(' ')} -> ${result.code}: ${result.stderr}`);
      return JSON.parse(result.stdout) as T;
    };
    for (const party of o.parties)
      for (const argv of [
        ['keys', 'new'],
        ['devnet', 'fund', '--ada', '100'],
      ]) {
        const result = await run(['--keys', keys(party), ...argv]);
        if (result.code !== 0)
          throw new Error(`${party}: dml ${argv.join(' ')} -> ${result.code}: ${result.stderr}`);
      }
    const startTrainRun = (
      party: string,
      plan: string,
      extra: readonly string[] = [],
      extraEnv: Record<string, string> = {},
    ) => {
      const child = startDml(
        ['--keys', keys(party), 'train', 'run', '--plan', plan, ...extra],
        { ...env, ...o.hydraEnv(party), ...extraEnv },
        join(home, `${party}-${processes.length + 1}.log`),
      );
      processes.push(child);
      return child;
    };
    return { home, ledger, env, keys, run, ok, startTrainRun, processes, close };
  } catch (error) {
    await close();
    throw error;
  }
};
