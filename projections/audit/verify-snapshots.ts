import { type StoredDmlEvent, ed25519Verify, trainingSnapshotMessage } from '../../offchain/index.js';
import type { AuditFinding } from './audit-finding.js';

const HEX_ID = /^([0-9a-f]{2}){1,64}$/;
const roundKey = (epoch: number, round: number) => `${epoch}/${round}`;
const snapshotObject = (epoch: number, round: number) => `training-snapshot(epoch ${epoch}, round ${round})`;

/**
 * (7) Training snapshots. Every round that has an aggregate must be signed by every party of its
 * epoch (when something relies on it: a close or contest names it, or a later round started):
 * the party's Hydra key (from its `l1.PartyJoined`) over `trainingSnapshotMessage(cohortId,
 * epoch, round, aggregateHash)`, where the hash is the aggregate the auditor recomputed (or, when it
 * could not, the one recorded). Signatures come from `training.SnapshotSigned` events and from the
 * `signatures` a close or contest carried (in the order of the epoch's parties); every one present
 * must verify, and a party with no signature of a round is named.
 *
 * `aggregates` maps `epoch/round` to the hash the snapshot must carry.
 */
export const checkTrainingSnapshots = (
  events: readonly StoredDmlEvent[],
  cohortId: string,
  aggregates: ReadonlyMap<string, string>,
): { findings: AuditFinding[]; signatures: number } => {
  const findings: AuditFinding[] = [];
  const hydraKeys = new Map<string, string>();
  const epochParties = new Map<number, readonly string[]>();
  for (const e of events) {
    if (e.type === 'l1.PartyJoined') hydraKeys.set(e.data.party, e.data.hydraKey);
    if (e.type === 'l1.EpochStarted') epochParties.set(e.data.epoch, e.data.parties);
  }
  const hasSignatures = events.some(
    (e) =>
      e.type === 'training.SnapshotSigned' ||
      ((e.type === 'l1.HeadClosed' || e.type === 'l1.HeadContested') && e.data.signatures !== undefined),
  );
  if (!HEX_ID.test(cohortId)) {
    if (aggregates.size > 0 || hasSignatures)
      findings.push({
        kind: 'snapshot-unverifiable',
        message: `the cohort id ${cohortId} is not the hex policy id a training snapshot signs: no signature can be checked`,
      });
    return { findings, signatures: 0 };
  }

  let signatures = 0;
  /** Parties with a valid signature (or a signature at all) per round. */
  const valid = new Map<string, Set<string>>();
  const tried = new Map<string, Set<string>>();
  const mark = (map: Map<string, Set<string>>, key: string, party: string) =>
    map.set(key, (map.get(key) ?? new Set()).add(party));

  /** Checks one signature; pushes a finding and returns false when it does not verify. */
  const check = (
    at: { position: number; epoch: number; round: number; party: string },
    signedHash: string,
    signature: string,
  ): boolean => {
    signatures++;
    const where = { ...at, key: snapshotObject(at.epoch, at.round) };
    mark(tried, roundKey(at.epoch, at.round), at.party);
    const parties = epochParties.get(at.epoch);
    if (parties && !parties.includes(at.party)) {
      findings.push({
        kind: 'snapshot-signature',
        message: `${at.party} signed but is not a party of epoch ${at.epoch}`,
        ...where,
        expected: parties.join(','),
        found: at.party,
      });
      return false;
    }
    const hydraKey = hydraKeys.get(at.party);
    if (!hydraKey) {
      findings.push({
        kind: 'snapshot-unverifiable',
        message: `the log holds no Hydra key of ${at.party} (no l1.PartyJoined)`,
        ...where,
      });
      return false;
    }
    const message = trainingSnapshotMessage({
      cohortId,
      epoch: at.epoch,
      round: at.round,
      aggregateHash: signedHash,
    });
    if (!ed25519Verify(Buffer.from(hydraKey, 'hex'), message, Buffer.from(signature, 'hex'))) {
      findings.push({
        kind: 'snapshot-signature',
        message: `the signature does not verify with the Hydra key of ${at.party} over (cohort, epoch ${at.epoch}, round ${at.round}, ${signedHash})`,
        ...where,
        expected: `a signature by Hydra key ${hydraKey}`,
        found: signature,
      });
      return false;
    }
    mark(valid, roundKey(at.epoch, at.round), at.party);
    return true;
  };

  for (const e of events) {
    if (e.type === 'training.SnapshotSigned') {
      const { epoch, round, party, aggregateHash, signature } = e.data;
      const expected = aggregates.get(roundKey(epoch, round));
      if (expected !== aggregateHash) {
        signatures++;
        mark(tried, roundKey(epoch, round), party);
        findings.push({
          kind: 'snapshot-hash',
          message:
            expected === undefined
              ? 'a training snapshot of a round that has no aggregate'
              : 'the signed snapshot carries another aggregate than the round’s',
          position: e.position,
          epoch,
          round,
          party,
          key: snapshotObject(epoch, round),
          expected: expected ?? '(no aggregate)',
          found: aggregateHash,
        });
        continue;
      }
      check({ position: e.position, epoch, round, party }, aggregateHash, signature);
    }
    if ((e.type === 'l1.HeadClosed' || e.type === 'l1.HeadContested') && e.data.signatures) {
      const { epoch, round, aggregateHash, signatures: carried } = e.data;
      const parties = epochParties.get(epoch);
      if (!parties || carried.length !== parties.length) {
        findings.push({
          kind: 'snapshot-signature',
          message: parties
            ? `${e.type} carries ${carried.length} signature(s) for the ${parties.length} parties of epoch ${epoch}`
            : `${e.type} carries signatures for epoch ${epoch}, which no l1.EpochStarted names`,
          position: e.position,
          epoch,
          round,
          key: snapshotObject(epoch, round),
          expected: String(parties?.length ?? '(no epoch)'),
          found: String(carried.length),
        });
        continue;
      }
      // the hash a close carries is checked against the recomputed aggregate by the close check
      parties.forEach((party, i) =>
        check({ position: e.position, epoch, round, party }, aggregateHash, carried[i]!),
      );
    }
  }

  // A round the parties left unsigned (they refused a poisoned aggregate, or one went silent) is
  // not a fault in itself: only a round something relies on must carry every signature, i.e. one
  // a close or contest names, or one a later round was started from.
  let lastStarted = -1;
  const named = new Set<string>();
  for (const e of events) {
    if (e.type === 'training.RoundStarted') lastStarted = Math.max(lastStarted, e.data.round);
    if (e.type === 'l1.HeadClosed' || e.type === 'l1.HeadContested')
      named.add(roundKey(e.data.epoch, e.data.round));
  }
  for (const [key, hash] of aggregates) {
    const [epoch, round] = key.split('/').map(Number) as [number, number];
    if (round >= lastStarted && !named.has(key)) continue;
    const parties = epochParties.get(epoch);
    if (!parties) {
      findings.push({
        kind: 'snapshot-unverifiable',
        message: `no l1.EpochStarted names the parties of epoch ${epoch}, so the signers of its snapshots are unknown`,
        epoch,
        round,
        key: snapshotObject(epoch, round),
      });
      continue;
    }
    for (const party of parties)
      if (!valid.get(key)?.has(party) && !tried.get(key)?.has(party))
        findings.push({
          kind: 'snapshot-unsigned',
          message: `${party} did not sign the training snapshot of this round`,
          epoch,
          round,
          party,
          key: snapshotObject(epoch, round),
          expected: `a signature of ${hash}`,
          found: '(none)',
        });
  }
  return { findings, signatures };
};
