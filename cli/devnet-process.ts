import { spawn } from 'node:child_process';
import { existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DevnetProvider, DmlError, type DevnetInfo } from '../offchain/index.js';

/**
 * The devnet as a background process: `dml devnet up` starts `dml devnet serve` detached, which
 * writes `devnet.pid` and `devnet.json` (its URL and, when it runs one, the embedded head's
 * endpoints) into the devnet folder once it listens, and removes both when it stops (SIGTERM
 * from `dml devnet down`, or SIGINT). Its output goes to `devnet.log` there.
 */
export const PID_FILE = 'devnet.pid';
export const STATE_FILE = 'devnet.json';
export const LOG_FILE = 'devnet.log';

export interface HeadEndpointState {
  readonly keys: string;
  readonly party: string;
  readonly url: string;
}

export interface DevnetState {
  readonly url: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly head?: { readonly contestationPeriod: number; readonly parties: readonly HeadEndpointState[] };
}

const BIN = fileURLToPath(new URL('../bin/dml.js', import.meta.url));

export const readDevnetState = (dir: string): DevnetState | undefined => {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DevnetState;
  } catch {
    return undefined;
  }
};

export const writeDevnetState = (dir: string, state: DevnetState): void => {
  writeFileSync(join(dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  writeFileSync(join(dir, PID_FILE), `${state.pid}\n`);
};

export const clearDevnetState = (dir: string): void => {
  rmSync(join(dir, STATE_FILE), { force: true });
  rmSync(join(dir, PID_FILE), { force: true });
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The pid of the running devnet of this folder, if one runs (a stale pid file is ignored). */
export const runningPid = (dir: string): number | undefined => {
  const file = join(dir, PID_FILE);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `dml devnet serve` in the background and waits until it answers. */
export const startDevnetProcess = async (
  dir: string,
  options: { port: string; args: readonly string[]; timeoutMs?: number; onWait?: (ms: number) => void },
): Promise<{ state: DevnetState; info: DevnetInfo }> => {
  const absolute = resolve(dir);
  const log = openSync(join(absolute, LOG_FILE), 'a');
  const child = spawn(process.execPath, [BIN, 'devnet', 'serve', ...options.args], {
    detached: true,
    stdio: ['ignore', log, log],
    // DML_MALLOC_TUNED: bin/dml.js runs the devnet in this very process (its pid is the one the
    // devnet records), instead of starting itself again with glibc's allocator settings
    env: { ...process.env, DML_DEVNET_DIR: absolute, DML_DEVNET_PORT: options.port, DML_MALLOC_TUNED: '1' },
  });
  child.unref();
  const started = Date.now();
  const timeout = options.timeoutMs ?? 60_000;
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  for (;;) {
    if (exited !== null)
      throw new DmlError('DEVNET_START_FAILED', `the devnet exited with code ${exited}`, {
        hint: `see ${join(absolute, LOG_FILE)}`,
      });
    const state = readDevnetState(absolute);
    if (state && state.pid === child.pid) {
      const info = await new DevnetProvider(state.url).info().catch(() => undefined);
      if (info) return { state, info };
    }
    if (Date.now() - started > timeout) {
      if (child.pid) process.kill(child.pid, 'SIGTERM');
      throw new DmlError('DEVNET_START_FAILED', `the devnet did not answer within ${timeout / 1000} s`, {
        hint: `see ${join(absolute, LOG_FILE)}`,
      });
    }
    options.onWait?.(Date.now() - started);
    await sleep(200);
  }
};

/** Stops the devnet of this folder (SIGTERM to its pid) and waits until it is gone. */
export const stopDevnetProcess = async (dir: string, timeoutMs = 30_000): Promise<number | undefined> => {
  const pid = runningPid(dir);
  if (pid === undefined) {
    clearDevnetState(dir);
    return undefined;
  }
  process.kill(pid, 'SIGTERM');
  const started = Date.now();
  while (alive(pid)) {
    if (Date.now() - started > timeoutMs)
      throw new DmlError(
        'DEVNET_STOP_FAILED',
        `the devnet (pid ${pid}) did not stop within ${timeoutMs / 1000} s`,
      );
    await sleep(100);
  }
  clearDevnetState(dir);
  return pid;
};
