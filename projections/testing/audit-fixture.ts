import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  type DmlEventData,
  type DmlEventType,
  EncryptedContentStore,
  LocalFolderStore,
  type NewDmlEvent,
  SqliteEventStore,
  aggregateDeltas,
  cohortStream,
  createEvent,
  ed25519PublicKeyOfSeed,
  encodeDelta,
  flagDissimilarDeltas,
  makeDelta,
  withDeltaEncoding,
  partyStream,
  signTrainingSnapshot,
  slashShares,
} from '../../offchain/index.js';

/**
 * A small, coherent cohort written through the real stores, for the auditor's tests: 3 parties,
 * 2 rounds of fedavg over tiny deltas sealed into a local folder, a close, a premature end and a
 * slash of the last party by the others. Options break one rule each, or size the cohort
 * (`parties`, `rounds`, `deltaValues`: see `directionDeltas` for honest and poisoned deltas).
 */
export interface AuditFixtureOptions {
  /** The folder: the event log is `<dir>/events.sqlite`, the objects live in `<dir>/storage`. */
  readonly dir: string;
  readonly passphrase: string;
  /** Voters of the slash (default: both other parties). */
  readonly slashVoters?: (parties: readonly string[]) => string[];
  /** Record a wrong aggregate hash for the last round. */
  readonly wrongAggregate?: boolean;
  /** This party (index) signs this round's snapshot with another party's Hydra key. */
  readonly forgedSignature?: { round: number; party: number };
  /** This party (index) records no signature of this round's snapshot. */
  readonly missingSignature?: { round: number; party: number };
  /** This party's (index) commitment of this round states a size one byte larger than stored. */
  readonly misstatedBytes?: { round: number; party: number };
  /** The cohort's delta encoding (default f32). */
  readonly deltaEncoding?: 'f32' | 'q8';
  /** A party that sends its delta of a round in the other encoding. */
  readonly offEncoding?: { round: number; party: number };
  /** Publish a read grant with each commitment, signed at `signedAt` for `expiresInSeconds`. */
  readonly readGrants?: { readonly signedAt: Date; readonly expiresInSeconds: number };
  /** Parties (default 3; the last one is slashed by all the others unless `slashVoters` says). */
  readonly parties?: number;
  /** Rounds (default 2; the close carries the last one). */
  readonly rounds?: number;
  /**
   * Each party's delta of a round, as the values of one tensor `layer.lora_B` (default: four
   * values of a tensor `layer.lora_A`, `[i, round, -i, 0.5]`). `parties` are the sorted ids.
   */
  readonly deltaValues?: (round: number, party: number) => Float32Array;
  /**
   * Each party records a `ContributionScored` of every other party's delta each round, with the
   * delta's similarity and dimensions as `flagDissimilarDeltas` gives them (as the node does).
   */
  readonly recordScores?: boolean;
}

export interface AuditFixture {
  readonly logFile: string;
  readonly storageRoot: string;
  readonly cohortId: string;
  readonly parties: readonly string[];
  /** Storage keys of the committed deltas, by `${round}/${party}`. */
  readonly keys: ReadonlyMap<string, string>;
  /** Each party's Hydra verification key (hex), by party. */
  readonly hydraKeys: ReadonlyMap<string, string>;
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

export const writeAuditFixture = async (options: AuditFixtureOptions): Promise<AuditFixture> => {
  // a cohort id is the hex policy id of its cohort token: it is what a training snapshot signs
  const cohortId = sha('audited cohort').slice(0, 56);
  const parties = Array.from({ length: options.parties ?? 3 }, (_, i) =>
    sha(`party ${i}`).slice(0, 56),
  ).sort();
  const roundNumbers = Array.from({ length: options.rounds ?? 2 }, (_, i) => i + 1);
  const lastRound = roundNumbers[roundNumbers.length - 1]!;
  const hydraSeeds = new Map(parties.map((p) => [p, Buffer.from(sha(`hydra seed ${p}`), 'hex')]));
  const hydraKeys = new Map(
    parties.map((p) => [p, Buffer.from(ed25519PublicKeyOfSeed(hydraSeeds.get(p)!)).toString('hex')]),
  );
  const is = (at: { round: number; party: number } | undefined, round: number, i: number) =>
    at !== undefined && at.round === round && at.party === i;
  const logFile = join(options.dir, 'events.sqlite');
  const storageRoot = join(options.dir, 'storage');
  const objects = await LocalFolderStore.open(storageRoot);
  const content = new EncryptedContentStore(objects, {
    prefix: 'deltas',
    passphrase: options.passphrase,
    scrypt: { log2N: 10, r: 1, p: 1 },
  });
  const log = new SqliteEventStore(logFile);
  let clock = Date.parse('2026-01-01T00:00:00Z');
  let slot = 100;
  const ev = <T extends DmlEventType>(type: T, data: DmlEventData<T>): NewDmlEvent =>
    createEvent(type, data, { occurredAt: new Date((clock += 1000)).toISOString() });
  const append = (stream: string, events: NewDmlEvent[]) =>
    log.append(stream, events, { expectedVersion: 'any' });
  const tx = (what: string) => ({ txId: sha(what), slot: slot++ });
  const cohort = cohortStream(cohortId);
  const keys = new Map<string, string>();
  const deposit = '5000000';

  await append(cohort, [
    ev('l1.CohortCreated', {
      cohortId,
      ...tx('create'),
      creator: parties[0]!,
      params: {
        model: 'tiny',
        rounds: Math.max(4, lastRound + 2),
        minDeposit: deposit,
        contestationPeriodMs: 60_000,
        aggregation: 'fedavg',
        loraRank: 2,
        ...(options.deltaEncoding === 'q8' ? { deltaEncoding: 'q8' as const } : {}),
      },
    }),
  ]);
  for (const party of parties)
    await append(cohort, [
      ev('l1.PartyJoined', {
        cohortId,
        ...tx(`join ${party}`),
        party,
        deposit,
        hydraKey: hydraKeys.get(party)!,
      }),
    ]);
  const headId = sha('head').slice(0, 32);
  await append(cohort, [ev('l1.EpochStarted', { cohortId, ...tx('epoch'), epoch: 1, headId, parties })]);

  let lastAggregate = '';
  for (const round of roundNumbers) {
    await append(cohort, [
      ev('training.RoundStarted', { cohortId, epoch: 1, round, globalAdapterHash: sha(`global ${round}`) }),
    ]);
    const contributions = [];
    for (const [i, party] of parties.entries()) {
      const cohortEncoding = options.deltaEncoding ?? 'f32';
      const other = cohortEncoding === 'f32' ? 'q8' : 'f32';
      const values = options.deltaValues?.(round, i);
      const delta = withDeltaEncoding(
        makeDelta([
          values
            ? { name: 'layer.lora_B', shape: [1, values.length], values }
            : { name: 'layer.lora_A', shape: [2, 2], values: Float32Array.from([i, round, -i, 0.5]) },
        ]),
        is(options.offEncoding, round, i) ? other : cohortEncoding,
      );
      const ref = await content.put(encodeDelta(delta));
      keys.set(`${round}/${party}`, ref.key);
      const readGrant = options.readGrants ? await content.share(ref.key, options.readGrants) : undefined;
      contributions.push({ partyId: party, sampleCount: 10 + i, delta });
      await append(partyStream(cohortId, party), [
        ev('training.DeltaCommitted', {
          cohortId,
          epoch: 1,
          round,
          party,
          deltaHash: ref.sha256,
          storageKey: ref.key,
          sampleCount: 10 + i,
          bytes: ref.size + (is(options.misstatedBytes, round, i) ? 1 : 0),
          metrics: { loss: 1 / round, accuracy: 0.5 },
          ...(readGrant ? { readGrant } : {}),
        }),
      ]);
    }
    const { hash } = aggregateDeltas({ kind: 'fedavg' }, contributions);
    if (options.recordScores) {
      const judged = flagDissimilarDeltas(contributions);
      for (const scorer of parties)
        await append(
          partyStream(cohortId, scorer),
          judged
            .filter((j) => j.partyId !== scorer)
            .map((j) =>
              ev('training.ContributionScored', {
                cohortId,
                epoch: 1,
                round,
                scorer,
                party: j.partyId,
                score: -1,
                metrics: {
                  loss: 1,
                  accuracy: 0.5,
                  similarity: Math.min(1, Math.max(-1, j.similarity)),
                  dimensions: j.dimensions,
                },
              }),
            ),
        );
    }
    lastAggregate = options.wrongAggregate && round === lastRound ? sha('not the aggregate') : hash;
    await append(cohort, [
      ev('training.AggregateComputed', {
        cohortId,
        epoch: 1,
        round,
        aggregateHash: lastAggregate,
        rule: 'fedavg',
        contributors: parties,
        computedBy: parties[0]!,
      }),
    ]);
    for (const [i, party] of parties.entries()) {
      if (is(options.missingSignature, round, i)) continue;
      const signer = is(options.forgedSignature, round, i) ? parties[(i + 1) % parties.length]! : party;
      const signature = signTrainingSnapshot(hydraSeeds.get(signer)!, {
        cohortId,
        epoch: 1,
        round,
        aggregateHash: lastAggregate,
      });
      await append(partyStream(cohortId, party), [
        ev('training.SnapshotSigned', {
          cohortId,
          epoch: 1,
          round,
          aggregateHash: lastAggregate,
          party,
          signature,
        }),
      ]);
    }
  }
  // the close carries the last round's snapshot, signed by every party (in the epoch's party order)
  const closeSignatures = parties.map((p) =>
    signTrainingSnapshot(hydraSeeds.get(p)!, {
      cohortId,
      epoch: 1,
      round: lastRound,
      aggregateHash: lastAggregate,
    }),
  );
  await append(cohort, [
    ev('l1.HeadClosed', {
      cohortId,
      ...tx('close'),
      epoch: 1,
      round: lastRound,
      aggregateHash: lastAggregate,
      closedBy: parties[0]!,
      deadline: new Date(clock + 60_000).toISOString(),
      scheduled: false,
      signatures: closeSignatures,
    }),
    ev('l1.HeadFinalized', { cohortId, ...tx('fanout'), epoch: 1, outcome: 'Premature' }),
  ]);
  const accused = parties[parties.length - 1]!;
  const voters = options.slashVoters?.(parties) ?? parties.filter((p) => p !== accused);
  await append(cohort, [
    ev('l1.PartySlashed', {
      cohortId,
      ...tx('slash'),
      accused,
      voters,
      amount: deposit,
      shares: slashShares(BigInt(deposit), voters).map((s) => ({ party: s.party, amount: String(s.amount) })),
      returned: [...voters].sort().map((party) => ({ party, amount: deposit })),
    }),
  ]);
  for (const party of parties.filter((p) => p !== accused && !voters.includes(p)))
    await append(cohort, [
      ev('l1.DepositRefunded', { cohortId, ...tx(`refund ${party}`), party, amount: deposit }),
    ]);
  await log.close();
  await objects.close();
  return { logFile, storageRoot, cohortId, parties, keys, hydraKeys };
};
