import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  HydraClient,
  SqliteEventStore,
  decodeRoundDatum,
  partyStream,
  type StoredDmlEvent,
} from '../../offchain/index.js';
import { startDevnetHead, type DevnetHead } from '../devnet-head.js';
import { loadPartyWallet } from '../party-wallet.js';
import { bounded, openTrainDevnet, type DmlProcess, type TrainDevnet } from './train-processes.js';

/**
 * The crash-and-resume fault scenario, end to end (run by train.test.ts on the in-process bus and
 * by train.services.test.ts over Kafka): a devnet with a head for 3 parties (cohort created,
 * joined and the head opened with the ordinary commands), three `dml train run` child processes
 * (`node bin/dml.js`), 2 rounds; one party's process is SIGKILLed mid-round, at the moment the head
 * confirms its round-1 commitment, and restarted. Both rounds must complete with every party's
 * acknowledgement, the same aggregate everywhere, and exactly one commitment event per party and
 * round in the log.
 */

const PARTIES = ['a', 'b', 'c'] as const;

/** `dml train plan` flags for a model and shards small enough to train in seconds in a test. */
export const SMALL_MNIST_PLAN_FLAGS: readonly string[] = [
  '--shard-size',
  '64',
  '--validation-size',
  '64',
  '--public-count',
  '300',
  '--pretrain-steps',
  '10',
  '--hidden',
  '32',
  '--local-steps',
  '3',
  '--batch-size',
  '32',
];

export interface CrashScenarioOptions {
  /** Extra environment of every command and process (e.g. DML_BUS). */
  readonly env?: () => Record<string, string>;
  /** More checks once the epoch is done, given the cohort's policy and the parties' key hashes. */
  readonly after?: (done: { policy: string; parties: string[]; victim: string }) => Promise<void>;
}

export const describeCrashAndResume = (label: string, scenario: CrashScenarioOptions = {}): void => {
  let devnet: TrainDevnet;
  let home: string;
  let head: DevnetHead;
  let cohort: string;
  let policy: string;
  let plan: string;

  const urlOf = (party: string) => head.state.parties.find((p) => p.keys === join(home, party))!.url;
  const run = (argv: string[], extraEnv: Record<string, string> = {}) => devnet.run(argv, extraEnv);
  const ok = <T = Record<string, unknown>>(party: string, argv: string[]) => devnet.ok<T>(party, argv);

  /** `dml train run`, a real process of its own; no peer is silent for 150 s unless something failed. */
  const startParty = (party: string, extra: string[] = []): DmlProcess =>
    devnet.startTrainRun(party, plan, ['--patience', '150', ...extra]);

  beforeAll(async () => {
    // one log and one object store on this machine; the parties share the cohort's passphrase
    devnet = await openTrainDevnet({
      prefix: 'dml-train-run-',
      passphrase: 'cohort passphrase 7f3a',
      parties: PARTIES,
      ...(scenario.env ? { env: scenario.env() } : {}),
      // the head opens once the parties exist; commands before it name no endpoint
      hydraEnv: (party): Record<string, string> => (head ? { DML_HYDRA_URL: urlOf(party) } : {}),
    });
    home = devnet.home;
    head = await startDevnetHead(devnet.ledger, {
      keyDirs: PARTIES.map((p) => join(home, p)),
      contestationPeriod: 30,
    });
    const created = await ok<{ cohort: string; policy: string }>('a', [
      'cohort',
      'create',
      '--final-round',
      '2',
      '--epoch-rounds',
      '2',
    ]);
    cohort = created.cohort;
    policy = created.policy;
    for (const party of PARTIES) await ok(party, ['cohort', 'join', '--cohort', cohort, '--deposit', '10']);
    await ok('a', ['cohort', 'start-epoch', '--cohort', cohort]);
    await ok('a', ['head', 'init']);
    for (const party of PARTIES) await ok(party, ['head', 'commit']);
    plan = join(home, 'plan.json');
    await ok('a', ['train', 'plan', '--cohort', cohort, '--out', plan, ...SMALL_MNIST_PLAN_FLAGS]);
  }, 180_000);

  afterAll(async () => {
    await head?.close();
    await devnet?.close();
  });

  const count = (events: StoredDmlEvent[], type: string, party: string, round: number) =>
    events.filter(
      (e) =>
        e.type === type &&
        (e.data as { round: number }).round === round &&
        ((e.data as { party?: string; computedBy?: string }).party ??
          (e.data as { computedBy?: string }).computedBy) === party,
    ).length;

  describe(`dml train run (${label}): three party processes, one killed mid-round and restarted`, () => {
    it('completes both rounds with every acknowledgement, one aggregate, one commitment per party and round', async () => {
      const wallets = await Promise.all(PARTIES.map((p) => loadPartyWallet(join(home, p))));
      const victim = wallets[2]!;
      // the test watches the head through c's endpoint: the moment its round-1 commitment is confirmed
      const watcher = new HydraClient({ ...hostPort(urlOf('c')), defaultTimeoutMs: 150_000 });
      await watcher.connect();
      const committed = watcher.waitFor('SnapshotConfirmed', (o) =>
        Object.values(o.snapshot.utxo ?? {}).some((out) => {
          const d = out.inlineDatumRaw ? decodeRoundDatum(out.inlineDatumRaw) : undefined;
          return d?.kind === 'commitment' && d.party === victim.pkh && d.round === 1;
        }),
      );
      const procs = PARTIES.map((p) => startParty(p, ['--poll', '1']));
      try {
        const early = procs.map((p) =>
          p.exited.then(() => Promise.reject(new Error('a party exited early'))),
        );
        await bounded(
          "the head's confirmation of c's round-1 commitment",
          Promise.race([committed, ...early]),
          300,
        ).catch((error: unknown) => {
          throw new Error(
            `${String(error)}\n${procs.map((p, i) => `--- ${PARTIES[i]}\n${p.stderr}`).join('\n')}`,
          );
        });
        for (const e of early) e.catch(() => undefined);
        procs[2]!.process.kill('SIGKILL');
        const killed = await procs[2]!.exited;
        expect(killed.signal).toBe('SIGKILL');
        const restarted = startParty('c', ['--poll', '1']);
        const outputs = [procs[0]!, procs[1]!, restarted];
        const results = await bounded(
          'the parties to finish both rounds',
          Promise.all(outputs.map((o) => o.exited)),
          300,
        ).catch((e: unknown) => {
          throw new Error(
            `${(e as Error).message}\n${outputs.map((o, i) => `--- ${PARTIES[i]}\n${o.stdout}\n${o.stderr}`).join('\n')}`,
          );
        });
        for (const [i, r] of results.entries())
          expect({ party: PARTIES[i], code: r.code, stderr: r.code === 0 ? '' : outputs[i]!.stderr }).toEqual(
            {
              party: PARTIES[i],
              code: 0,
              stderr: '',
            },
          );
        const done = outputs.map((o) =>
          /round (\d+) acknowledged by all 3 parties, aggregate ([0-9a-f]{64})/.exec(o.stdout),
        );
        expect(done.map((d) => d?.[1])).toEqual(['2', '2', '2']);
        expect(new Set(done.map((d) => d?.[2])).size).toBe(1);
        // progress lines: round, step, loss; the restarted party resumed in round 1
        expect(procs[0]!.stderr).toMatch(/round 1\/2: committed delta [0-9a-f]{12} \(\d+ B\), loss \d/);
        expect(restarted.stderr).toMatch(/round 1/);

        const log = new SqliteEventStore(join(home, 'events.sqlite'));
        try {
          for (const w of wallets) {
            const events = await log.readStream(partyStream(policy, w.pkh));
            for (const round of [1, 2]) {
              expect([w.pkh, round, count(events, 'training.DeltaCommitted', w.pkh, round)]).toEqual([
                w.pkh,
                round,
                1,
              ]);
              expect([w.pkh, round, count(events, 'training.SnapshotSigned', w.pkh, round)]).toEqual([
                w.pkh,
                round,
                1,
              ]);
              expect(count(events, 'training.AggregateComputed', w.pkh, round)).toBe(1);
            }
          }
          const all = await log.readAll();
          for (const round of [1, 2]) {
            const hashes = all
              .filter((e) => e.type === 'training.AggregateComputed' && e.data.round === round)
              .map((e) => (e.data as { aggregateHash: string }).aggregateHash);
            expect(hashes).toHaveLength(3);
            expect(new Set(hashes).size).toBe(1);
          }
        } finally {
          await log.close();
        }
        // the head holds every party's acknowledgement of the last round
        const utxo = await watcher.getSnapshotUtxo();
        const acks = Object.values(utxo)
          .map((out) => (out.inlineDatumRaw ? decodeRoundDatum(out.inlineDatumRaw) : undefined))
          .filter((d) => d?.kind === 'acknowledgement' && d.round === 2)
          .map((d) => d!.party)
          .sort();
        expect(acks).toEqual(wallets.map((w) => w.pkh).sort());
        await scenario.after?.({ policy, parties: wallets.map((w) => w.pkh), victim: victim.pkh });
      } finally {
        await watcher.disconnect();
      }
    }, 240_000);

    it('refuses in one line: an unknown cohort, a missing plan, a party not in the epoch', async () => {
      const other = join(home, 'plan-other.json');
      await writeFile(
        other,
        JSON.stringify({
          ...(JSON.parse(await readFile(plan, 'utf8')) as object),
          cohort: `${'0'.repeat(64)}#0`,
        }),
      );
      const unknown = await run(['--keys', join(home, 'a'), 'train', 'run', '--plan', other]);
      expect(unknown.stderr).toMatch(/unknown cohort/);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
      const missing = await run([
        '--keys',
        join(home, 'a'),
        'train',
        'run',
        '--plan',
        join(home, 'nope.json'),
      ]);
      expect(missing.stderr).toMatch(/no training plan/);
      expect(missing.code).toBe(1);
      expect((await run(['--keys', join(home, 'd'), 'keys', 'new'])).code).toBe(0);
      const outsider = await run(['--keys', join(home, 'd'), 'train', 'run', '--plan', plan]);
      expect(outsider.stderr).toMatch(/not a party of epoch 1/);
      expect(outsider.code).toBe(1);
    });
  });
};

const hostPort = (url: string) => {
  const m = /^ws:\/\/([^:]+):(\d+)/.exec(url)!;
  return { host: m[1]!, port: Number(m[2]) };
};
