import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withDmlMallocTunables } from '../offchain/index.js';

/**
 * bin/dml.js starts itself again with glibc's allocator settings (GLIBC_TUNABLES) when they are
 * missing. A preloaded probe (fixtures/launcher-probe.cjs) reports what each of the two processes
 * sees and, in the relaunched one, exits, kills itself, echoes stdin or waits for a signal.
 */
const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..');
const PROBE = join(here, 'fixtures', 'launcher-probe.cjs');
const OURS = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456';
const BOUND_MS = 60_000;

interface Seen {
  pid: number;
  ppid: number;
  tunables: string | null;
  marker: string | null;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seen: Seen[];
}

/** Runs `node bin/dml.js ARGS` with the probe; every wait is bounded and names what it waited for. */
const dml = async (
  args: string[],
  env: Record<string, string | undefined>,
  options: { input?: string; whenReady?: (pid: number, seen: () => Promise<Seen[]>) => Promise<void> } = {},
): Promise<Run> => {
  const dir = await mkdtemp(join(tmpdir(), 'dml-launcher-'));
  const out = join(dir, 'seen.jsonl');
  const seen = async (): Promise<Seen[]> =>
    (await readFile(out, 'utf8').catch(() => ''))
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Seen);
  const base = { ...process.env };
  delete base.GLIBC_TUNABLES;
  delete base.DML_MALLOC_TUNED;
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'dml.js'), ...args], {
    cwd: ROOT,
    env: { ...base, NODE_OPTIONS: `--require ${PROBE}`, PROBE_OUT: out, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(options.input ?? '');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  try {
    if (options.whenReady) {
      const started = Date.now();
      while (!stdout.includes('ready')) {
        if (Date.now() - started > BOUND_MS)
          throw new Error(`the relaunched dml never said "ready"; stdout ${stdout}, stderr ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await options.whenReady(child.pid!, seen);
    }
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(`node bin/dml.js ${args.join(' ')} did not exit; stdout ${stdout}, stderr ${stderr}`),
            ),
          BOUND_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    await new Promise((resolve) => setImmediate(resolve)); // the last output events
    return { ...result, stdout, stderr, seen: await seen() };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('bin/dml.js: the allocator settings', () => {
  it('uses the settings of offchain/storage/malloc-tunables.ts', () => {
    expect(withDmlMallocTunables()).toBe(OURS);
    expect(withDmlMallocTunables('glibc.malloc.arena_max=2')).toBe(`glibc.malloc.arena_max=2:${OURS}`);
  });

  it('runs dml in a child that sees GLIBC_TUNABLES, and passes on its exit code and output', async () => {
    const run = await dml(['--bogus'], {});
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe("error: unknown option '--bogus'");
    expect(run.seen).toHaveLength(2);
    const [launcher, child] = run.seen as [Seen, Seen];
    expect(launcher).toMatchObject({ tunables: null, marker: null });
    expect(child).toMatchObject({ tunables: OURS, marker: '1', ppid: launcher.pid });
  });

  it('passes on an exit code, stdin, stdout and stderr', async () => {
    expect((await dml([], { PROBE_ACTION: 'exit', PROBE_CODE: '7' })).code).toBe(7);
    const echoed = await dml([], { PROBE_ACTION: 'echo' }, { input: 'hello\n' });
    expect(echoed).toMatchObject({ code: 0, stdout: 'child read: hello\n', stderr: 'child stderr\n' });
  });

  it('dies of the signal that killed the child', async () => {
    const run = await dml([], { PROBE_ACTION: 'kill', PROBE_SIGNAL: 'SIGTERM' });
    expect(run).toMatchObject({ code: null, signal: 'SIGTERM' });
  });

  it('passes a signal it receives on to the child', async () => {
    const run = await dml(
      [],
      { PROBE_ACTION: 'wait' },
      { whenReady: async (pid) => void process.kill(pid, 'SIGTERM') },
    );
    expect(run.code).toBe(43); // the child's SIGTERM handler's exit code
  });

  it('takes the child down when it is killed with SIGKILL (no orphan)', async () => {
    let childPid = 0;
    const run = await dml(
      [],
      { PROBE_ACTION: 'wait' },
      {
        whenReady: async (pid, seen) => {
          childPid = (await seen()).find((s) => s.marker === '1')!.pid;
          process.kill(pid, 'SIGKILL');
        },
      },
    );
    expect(run.signal).toBe('SIGKILL');
    const started = Date.now();
    while (alive(childPid)) {
      if (Date.now() - started > BOUND_MS)
        throw new Error(`the relaunched dml ${childPid} outlived its launcher`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  it("extends a user's GLIBC_TUNABLES, keeps the user's own values, and starts once when complete", async () => {
    const extended = await dml([], {
      GLIBC_TUNABLES: 'glibc.malloc.arena_max=2',
      PROBE_ACTION: 'exit',
      PROBE_CODE: '0',
    });
    expect(extended.seen[1]?.tunables).toBe(`glibc.malloc.arena_max=2:${OURS}`);

    const own = await dml([], {
      GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=1048576',
      PROBE_ACTION: 'exit',
      PROBE_CODE: '0',
    });
    expect(own.seen[1]?.tunables).toBe(
      'glibc.malloc.mmap_threshold=1048576:glibc.malloc.trim_threshold=268435456',
    );

    const complete = await dml(['--bogus'], { GLIBC_TUNABLES: OURS });
    expect(complete.code).toBe(2);
    expect(complete.seen).toHaveLength(1); // no second process
    expect(complete.seen[0]).toMatchObject({ tunables: OURS, marker: null });
  });
});
