/**
 * A cohort of party processes running real training rounds on this machine, for the benchmarks
 * that time the whole system's round (bench/round.bench.ts, the system round of bench/ours.ts).
 *
 * Each party is a process of its own (bench/round-party.ts), as `dml train run` is: its round loop
 * (`PartyRoundLoop`) against its own node of the embedded Hydra head, its own AES-256-GCM sealed
 * folder store (peers read its deltas through signed grants), its own SQLite event log and the
 * MNIST learner. The head (a node per party: ledger, snapshot signatures, WebSocket API) runs in
 * the calling process on its own emulated layer 1, opened (Init, commits) before the rounds. Every
 * party reports its timeline; bench/round-timeline.ts turns them into the cohort's rounds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Delta,
  EmbeddedHydraHead,
  HydraClient,
  headKeyFromSeed,
  signCardanoTransaction,
  withDmlMallocTunables,
  type LucidEmulatorLayer1,
} from '../offchain/index.js';
import type { LabelledImages, LoraSettings, QuantizedMlp } from '../trainer/index.js';
import type { FromParty, PartyRoundSetup, ToParty } from './round-party.js';
import { cohortRounds, type CohortRound } from './round-timeline.js';

const PARTY_FILE = fileURLToPath(new URL('./round-party.ts', import.meta.url));

/** A party's process and what it said so far. */
export interface PartyProcess {
  readonly child: ChildProcess;
  output: string;
  readonly messages: FromParty[];
  wake?: () => void;
}

/** Fails naming what it waited for, with the parties' output, when `work` is not done in `seconds`. */
const bounded = async <T>(
  label: string,
  parties: readonly PartyProcess[],
  seconds: number,
  work: Promise<T>,
): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `party processes: ${label} not done after ${seconds} s\n${parties.map((p, i) => `party ${i}: ${p.output.slice(-2000)}`).join('\n')}`,
          ),
        ),
      seconds * 1000,
    );
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
};

const startParty = (): PartyProcess => {
  const child = spawn(process.execPath, ['--import', 'tsx', PARTY_FILE, '--party'], {
    // the allocator settings `dml` runs a party's node with (bin/dml.js)
    env: { ...process.env, GLIBC_TUNABLES: withDmlMallocTunables(process.env.GLIBC_TUNABLES) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  const party: PartyProcess = { child, output: '', messages: [] };
  const keep = (d: Buffer) => (party.output += d.toString());
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('message', (m: FromParty) => {
    party.messages.push(m);
    party.wake?.();
  });
  child.once('exit', (code, signal) => {
    party.output += `\n[exited: ${signal ?? code}]`;
    party.wake?.();
  });
  return party;
};

/** The party's next message of `kind`; a failure or an exit before it is an error. */
const next = <K extends FromParty['kind']>(
  party: PartyProcess,
  kind: K,
): Promise<Extract<FromParty, { kind: K }>> =>
  new Promise((resolve, reject) => {
    const look = () => {
      const m = party.messages.shift();
      if (m?.kind === kind) {
        party.wake = undefined;
        resolve(m as Extract<FromParty, { kind: K }>);
      } else if (m?.kind === 'failed') reject(new Error(`a party failed: ${m.message}`));
      else if (m) reject(new Error(`a party said ${m.kind} where ${kind} was expected`));
      else if (party.child.exitCode !== null || party.child.signalCode !== null)
        reject(new Error(`a party exited before ${kind}: ${party.output.slice(-2000)}`));
      else party.wake = look;
    };
    look();
  });

const tell = (party: PartyProcess, message: ToParty) => party.child.send(message);

const exited = (p: PartyProcess) => p.child.exitCode !== null || p.child.signalCode !== null;

/** Asks every party to exit and waits for it (killing those still there after 30 s). */
export const stopPartyProcesses = async (parties: readonly PartyProcess[]): Promise<void> => {
  for (const p of parties) if (p.child.connected) tell(p, { kind: 'exit' });
  await bounded(
    'the party processes to exit',
    parties,
    30,
    Promise.all(
      parties.map((p) => (exited(p) ? undefined : new Promise((resolve) => p.child.once('exit', resolve)))),
    ),
  ).catch((error: unknown) => {
    for (const p of parties) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    throw error;
  });
};

/**
 * Starts `n` party processes and waits until each has loaded (its trainer backend chosen);
 * returns them and the backend they reported. On failure the started ones are stopped.
 */
export const startPartyProcesses = async (
  n: number,
  loadSeconds = 240,
): Promise<{ parties: PartyProcess[]; backend: string }> => {
  const parties = Array.from({ length: n }, startParty);
  try {
    const ups = await bounded(
      'the party processes to load',
      parties,
      loadSeconds,
      Promise.all(parties.map((p) => next(p, 'up'))),
    );
    return { parties, backend: ups[0]!.backend };
  } catch (error) {
    await stopPartyProcesses(parties).catch(() => {});
    throw error;
  }
};

/** A head of `n` parties opened on its own emulated layer 1: Init, each party's commit, open. */
const openHead = async (n: number) => {
  const paymentSeeds = Array.from({ length: n }, () => new Uint8Array(randomBytes(32)));
  const hydraSeeds = Array.from({ length: n }, () => new Uint8Array(randomBytes(32)));
  const users = paymentSeeds.map(headKeyFromSeed);
  const head = await EmbeddedHydraHead.start({
    parties: hydraSeeds,
    contestationPeriod: 60,
    accounts: users.map((u) => ({ address: u.address, lovelace: 100_000_000n })),
  });
  const clients = head.endpoints.map(
    (e) => new HydraClient({ host: e.host, port: e.port, backoff: { initialMs: 5, maxMs: 100 } }),
  );
  const stop = async () => {
    await Promise.all(clients.map((c) => c.disconnect()));
    await head.close();
  };
  try {
    await Promise.all(clients.map((c) => c.connect()));
    const layer1 = head.chain.layer1 as LucidEmulatorLayer1;
    const opened = clients.map((c) => c.awaitHeadIsOpen());
    await Promise.all([clients[0]!.init(), ...clients.slice(1).map((c) => c.waitFor('HeadIsInitializing'))]);
    for (const [i, client] of clients.entries()) {
      const utxo = Object.fromEntries(
        layer1
          .utxosAt(users[i]!.address)
          .map((u) => [
            `${u.txHash}#${u.outputIndex}`,
            { address: u.address, value: { lovelace: Number(u.assets['lovelace']) } },
          ]),
      );
      const draft = await client.draftCommit(utxo);
      const committed = client.waitFor('Committed', (o) => o.party.vkey === head.nodes[i]!.party);
      await client.submitL1Transaction({
        cborHex: signCardanoTransaction(draft.cborHex, users[i]!.privateKey),
      });
      await committed;
    }
    await Promise.all(opened);
  } catch (error) {
    await stop();
    throw error;
  }
  return { head, paymentSeeds, hydraSeeds, ids: users.map((u) => u.keyHash), stop };
};

/** What the parties of one cohort train: party i gets `shards[i]` and `validations[i]`. */
export interface CohortRoundsSetup {
  readonly base: QuantizedMlp;
  readonly lora: LoraSettings;
  readonly startAdapters: Delta;
  readonly shards: readonly LabelledImages[];
  readonly validations: readonly LabelledImages[];
  readonly training: PartyRoundSetup['training'];
  /** Rounds 1..rounds of one epoch. */
  readonly rounds: number;
  /** A folder for the parties' own folders (`cohort-N/party-I`: store, log, adapter files). */
  readonly home: string;
  /** Bounds: the parties' preparation (data received, store opened) and all the rounds. */
  readonly prepareSeconds: number;
  readonly roundsSeconds: number;
}

/** A party's outcome beside its timeline. */
export interface CohortPartyOutcome {
  readonly aggregateHash: string;
  /** Size of the sealed delta it stored in each round (bytes), round order. */
  readonly deltaBytes: readonly number[];
  /** The global adapter its last round advanced to, encoded. */
  readonly finalGlobal: Uint8Array;
}

export interface CohortRun {
  readonly rounds: CohortRound[];
  /** Party order. */
  readonly parties: CohortPartyOutcome[];
}

/**
 * Runs `setup.rounds` rounds with the first `setup.shards.length` of `parties` against a head
 * opened for them (not in the rounds' time), then closes the head. Every party must end the epoch
 * with the same aggregate, and store one delta per round.
 */
export const runCohortRounds = async (
  parties: readonly PartyProcess[],
  setup: CohortRoundsSetup,
): Promise<CohortRun> => {
  const n = setup.shards.length;
  if (parties.length < n) throw new Error(`${n} parties need as many processes, got ${parties.length}`);
  const head = await openHead(n);
  try {
    const cohortId = randomBytes(28).toString('hex');
    const passphrase = randomBytes(18).toString('base64url');
    const mine = parties.slice(0, n);
    const ready = mine.map((p) => next(p, 'ready'));
    mine.forEach((p, i) => {
      const endpoint = head.head.endpoints[i]!;
      const s: PartyRoundSetup = {
        index: i,
        cohortId,
        ids: head.ids,
        paymentSeed: head.paymentSeeds[i]!,
        hydraSeed: head.hydraSeeds[i]!,
        endpoint: { host: endpoint.host, port: endpoint.port },
        dir: join(setup.home, `cohort-${n}`, `party-${i + 1}`),
        passphrase,
        base: setup.base,
        lora: setup.lora,
        startAdapters: setup.startAdapters,
        shard: setup.shards[i]!,
        validation: setup.validations[i]!,
        training: setup.training,
        rounds: setup.rounds,
      };
      tell(p, { kind: 'round', setup: s });
    });
    await bounded(`the ${n} parties to prepare the round`, mine, setup.prepareSeconds, Promise.all(ready));
    const done = mine.map((p) => next(p, 'done'));
    for (const p of mine) tell(p, { kind: 'go' });
    const results = await bounded(
      `${setup.rounds} rounds of ${n} parties`,
      mine,
      setup.roundsSeconds,
      Promise.all(done),
    );
    const outcomes = new Set(results.map((r) => `${r.result} ${r.aggregateHash}`));
    if (outcomes.size !== 1 || results[0]!.result !== 'epoch-done')
      throw new Error(`${n} parties: the parties ended differently: ${[...outcomes].join('; ')}`);
    const partyOutcomes = results.map((r, i) => {
      const rounds = r.deltaBytes.map((d) => d.round);
      if (rounds.join() !== Array.from({ length: setup.rounds }, (_, k) => k + 1).join())
        throw new Error(`${n} parties: party ${i + 1} stored deltas in rounds ${rounds.join(', ')}`);
      return {
        aggregateHash: r.aggregateHash,
        deltaBytes: r.deltaBytes.map((d) => d.bytes),
        finalGlobal: r.finalGlobal,
      };
    });
    let rounds: CohortRound[];
    try {
      rounds = cohortRounds(results, setup.rounds);
    } catch (error) {
      throw new Error(`${n} parties: ${error instanceof Error ? error.message : String(error)}`);
    }
    return { rounds, parties: partyOutcomes };
  } finally {
    await head.stop();
  }
};
