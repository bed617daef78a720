import { afterAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteCheckpointStore, SqliteEventStore } from '../offchain/index.js';
import { withinBound } from '../offchain/testing/index.js';
import { replayProjections, startLiveProjections } from './replay.js';

const WRITER = fileURLToPath(new URL('./fixtures/sigkill-writer.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'dml-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** Every wait of this test is bounded (the CI machine is slow; a hang must name what it waited for). */
const BOUND_MS = 120_000;

/** Starts the writer; resolves `reached(n)` once it has printed n committed batches. */
const startWriter = (file: string, max: number) => {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', WRITER, file, String(max)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lines = 0;
  let stderr = '';
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    lines += chunk.toString().split('\n').filter(Boolean).length;
    for (const w of waiting.filter((w) => lines >= w.n)) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exitedUnbounded = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const bounded = <T>(promise: Promise<T>, what: string) =>
    withinBound(promise, BOUND_MS, what, {
      detail: () => `${lines} batches printed; stderr: ${stderr}`,
      onTimeout: () => child.kill('SIGKILL'),
    });
  return {
    child,
    exited: () => bounded(exitedUnbounded, `the writer's exit (${max} batches)`),
    stderr: () => stderr,
    reached: (n: number) =>
      bounded(
        Promise.race([
          new Promise<void>((resolve) => (lines >= n ? resolve() : waiting.push({ n, resolve }))),
          exitedUnbounded.then(({ code }) => {
            throw new Error(`writer exited (${code}) before ${n} batches: ${stderr}`);
          }),
        ]),
        `the writer's batch ${n}`,
      ),
  };
};

describe('SQLite event log under SIGKILL', () => {
  it('keeps whole batches only, no gap, no duplicate; live folds equal a rebuild from zero', async () => {
    const file = join(dir, 'events.sqlite');
    // live projections in this process follow the log (they cannot hear the other process: they poll)
    const reader = new SqliteEventStore(file);
    const checkpoints = new SqliteCheckpointStore(reader.db);
    let live = await startLiveProjections(reader, checkpoints, { saveEvery: 50, pollIntervalMs: 10 });

    // The killed writers have no end (a writer that ran ahead of this process's reading of its
    // output, as on a loaded machine, must still be killed mid-stream, never run out of batches);
    // the last one completes the log to a known end past whatever they wrote.
    for (const killAfter of [40, 90]) {
      const writer = startWriter(file, Infinity);
      await writer.reached(killAfter);
      writer.child.kill('SIGKILL');
      const { signal } = await writer.exited();
      expect(signal).toBe('SIGKILL');
      // the reader restarts too, from its checkpoint
      await live.stop();
      live = await startLiveProjections(reader, checkpoints, { saveEvery: 50, pollIntervalMs: 10 });
    }
    const written = (await reader.readAll()).reduce(
      (most, e) => Math.max(most, Number(/^batch-(\d+)-of-/.exec(e.correlationId ?? '')?.[1] ?? -1) + 1),
      0,
    );
    const TOTAL = Math.max(400, written + 50);
    const last = startWriter(file, TOTAL);
    const { code } = await last.exited();
    expect(`${code} ${last.stderr()}`).toBe('0 ');

    const head = await reader.headPosition();
    await withinBound(
      live.subscription.reached(head),
      BOUND_MS,
      `the live projections reaching position ${head}`,
    );
    const liveStates = live.current();
    await live.stop();

    const all = await reader.readAll();
    // no gap: positions are 1..N
    expect(all.map((e) => e.position)).toEqual(all.map((_, i) => i + 1));
    // streams are dense
    const versions = new Map<string, number>();
    for (const e of all) {
      expect(e.streamVersion).toBe((versions.get(e.stream) ?? -1) + 1);
      versions.set(e.stream, e.streamVersion);
    }
    // every batch is whole, present exactly once, and batches are in order
    const batches = new Map<number, { size: number; count: number }>();
    for (const e of all) {
      const [, b, size] = /^batch-(\d+)-of-(\d+)$/.exec(e.correlationId ?? '')!;
      const entry = batches.get(Number(b)) ?? { size: Number(size), count: 0 };
      entry.count++;
      batches.set(Number(b), entry);
    }
    expect([...batches.keys()]).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    for (const [b, { size, count }] of batches) expect(`${b}: ${count}`).toBe(`${b}: ${size}`);
    expect(new Set(all.map((e) => e.eventId)).size).toBe(all.length);
    // the projections that were live equal the projections rebuilt from zero
    const rebuilt = await replayProjections(reader);
    expect(rebuilt.position).toBe(head);
    expect(liveStates).toEqual(rebuilt.states);
    const ledgers = Object.values(rebuilt.states.escrowLedger.state.cohorts);
    expect(ledgers.length).toBeGreaterThan(4);
    expect(ledgers.map((l) => l.outcome)).toContain('Premature');
    for (const l of ledgers) expect(l.anomalies).toEqual([]);
    await reader.close();
  });
});
