import {
  type AggregationRule,
  type CohortTransition,
  type Delta,
  type DeltaValueEncoding,
  type DmlEventData,
  type ObjectGrant,
  type StoredDmlEvent,
  aggregateDeltas,
  decodeDelta,
  flagDissimilarDeltas,
  deltaEncodingOf,
  openSealedObject,
  slashShares,
  storageSha256Hex,
  verifyStoredContent,
} from '../../offchain/index.js';
import {
  type DirectionVerdict,
  judgeDirections,
  renderDirectionVerdictLine,
  renderDirectionVerdictSummary,
} from '../direction-verdict.js';
import { escrowLedgerProjection, ledgerBalances, ledgerTotals } from '../escrow-ledger.js';
import { belongsToCohort } from '../replay.js';
import type { AuditFinding } from './audit-finding.js';
import { parseAggregationRuleName } from './aggregation-rule-name.js';
import { checkTrainingSnapshots } from './verify-snapshots.js';
import { checkLogAgainstChain } from './verify-chain.js';
import { checkRoundStarts } from './verify-starts.js';

export type { AuditFinding, AuditFindingKind } from './audit-finding.js';

export interface AuditReport {
  readonly cohortId: string;
  readonly ok: boolean;
  readonly checked: {
    readonly events: number;
    readonly deltas: number;
    readonly aggregates: number;
    readonly closes: number;
    readonly slashes: number;
    /** Training-snapshot signatures checked (recorded by parties and carried by closes/contests). */
    readonly signatures: number;
    /** Layer-1 transitions of the cohort read from the chain and checked against the log (when given). */
    readonly chainTransitions?: number;
  };
  readonly findings: readonly AuditFinding[];
  /**
   * Evidence, not a finding (it never changes `ok`): each recomputed round's similarity of every
   * delta with the leave-one-out median of the others (`flagDissimilarDeltas`), and over all the
   * rounds the verdict on each party's direction (`judgeDirections`: Stouffer's z of the rounds'
   * similarity x sqrt(dimensions); flagged when no better than a random direction or pointing
   * away, with "not enough evidence" when an honest party could not tell either).
   */
  readonly directions: AuditDirections;
}

/** The auditor's direction evidence: per round and party, and the verdict over the rounds. */
export interface AuditDirections extends DirectionVerdict {
  readonly perRound: ReadonlyArray<{
    readonly epoch: number;
    readonly round: number;
    /** Floats of one delta: the z of a similarity is similarity x sqrt(dimensions). */
    readonly dimensions: number;
    readonly parties: ReadonlyArray<{
      readonly partyId: string;
      readonly similarity: number;
      readonly z: number;
    }>;
  }>;
}

/** The direction evidence of recomputed rounds (in log order of their first aggregate). */
export const auditDirections = (
  rounds: ReadonlyArray<{
    readonly epoch: number;
    readonly round: number;
    readonly contributions: Parameters<typeof flagDissimilarDeltas>[0];
  }>,
): AuditDirections => {
  const perRound: Array<AuditDirections['perRound'][number]> = [];
  for (const { epoch, round, contributions } of rounds) {
    if (contributions.length === 0) continue;
    let judged: ReturnType<typeof flagDissimilarDeltas>;
    try {
      judged = flagDissimilarDeltas(contributions);
    } catch {
      continue; // deltas of different shapes: the aggregate's own check reports the round
    }
    const dimensions = judged[0]!.dimensions;
    perRound.push({
      epoch,
      round,
      dimensions,
      parties: judged.map(({ partyId, similarity }) => {
        const s = Math.min(1, Math.max(-1, similarity));
        return { partyId, similarity: s, z: s * Math.sqrt(dimensions) };
      }),
    });
  }
  return {
    ...judgeDirections(perRound.map((r) => r.parties.map(({ partyId, z }) => ({ partyId, z })))),
    perRound,
  };
};

/** The auditor's one I/O boundary: the stored objects, and how the log numbers its events. */
export interface AuditDeps {
  /**
   * The stored (sealed) bytes under `key`, or undefined when there is no such object. `committed`
   * names the committing party and the read grant it published (the auditor may read through it
   * while it lasts, and needs its own read access to the party's store after).
   */
  readonly fetchObject: (
    key: string,
    committed?: { readonly party: string; readonly readGrant?: ObjectGrant },
  ) => Promise<Uint8Array | undefined>;
  /** The cohort's shared passphrase for deltas. */
  readonly passphrase: string;
  /**
   * The log's global positions are dense (1, 2, 3, ...: SQLite, PostgreSQL), so a missing
   * position is a removed event. False for EventStoreDB, whose positions are byte offsets.
   */
  readonly densePositions: boolean;
  /**
   * The cohort's layer-1 transitions as a chain follower derived them from the chain's own
   * transactions (`followCohort`); when given, every `l1.*` event is checked against them.
   */
  readonly chain?: readonly CohortTransition[];
}

type Committed = { event: StoredDmlEvent; data: DmlEventData<'training.DeltaCommitted'> };
const roundKey = (epoch: number, round: number) => `${epoch}/${round}`;
const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));
const sortedList = (xs: readonly string[]) => [...xs].sort().join(',');

/** Removed events: holes in the log's positions and in each stream's versions. */
const checkNumbering = (log: readonly StoredDmlEvent[], cohortId: string, dense: boolean): AuditFinding[] => {
  const findings: AuditFinding[] = [];
  if (dense) {
    let expected = 1;
    for (const event of log) {
      if (event.position !== expected)
        findings.push({
          kind: 'log-gap',
          message: `the log jumps from position ${expected - 1} to ${event.position}: ${event.position - expected} event(s) removed`,
          position: event.position,
          expected: String(expected),
          found: String(event.position),
        });
      expected = event.position + 1;
    }
  }
  const streams = new Map<string, StoredDmlEvent[]>();
  for (const event of log) {
    const list = streams.get(event.stream) ?? [];
    list.push(event);
    streams.set(event.stream, list);
  }
  for (const [stream, events] of streams) {
    if (!events.some((e) => belongsToCohort(e, cohortId))) continue;
    let expected = 0;
    for (const event of [...events].sort((a, b) => a.streamVersion - b.streamVersion)) {
      if (event.streamVersion !== expected)
        findings.push({
          kind: 'stream-gap',
          message: `stream ${stream} jumps from version ${expected - 1} to ${event.streamVersion}`,
          position: event.position,
          expected: String(expected),
          found: String(event.streamVersion),
        });
      expected = event.streamVersion + 1;
    }
  }
  return findings;
};

/** (1) A committed delta: present, of the committed size, hashing to its commitment and key, opening, decoding. */
const checkDelta = async (
  c: Committed,
  deps: AuditDeps,
): Promise<{ delta?: Delta; findings: AuditFinding[] }> => {
  const { epoch, round, party, storageKey: key, deltaHash } = c.data;
  const at = { position: c.event.position, epoch, round, party, key };
  let bytes: Uint8Array | undefined;
  try {
    bytes = await deps.fetchObject(key, {
      party,
      ...(c.data.readGrant ? { readGrant: c.data.readGrant } : {}),
    });
  } catch (error) {
    return { findings: [{ kind: 'delta-missing', message: `cannot fetch: ${describe(error)}`, ...at }] };
  }
  if (!bytes) return { findings: [{ kind: 'delta-missing', message: 'no object under this key', ...at }] };
  const findings: AuditFinding[] = [];
  if (bytes.length !== c.data.bytes)
    findings.push({
      kind: 'delta-size',
      message: `the committed size is not the size of the stored object`,
      ...at,
      expected: `${c.data.bytes} bytes`,
      found: `${bytes.length} bytes`,
    });
  try {
    verifyStoredContent(bytes, key, deltaHash);
  } catch (error) {
    findings.push({
      kind: 'delta-hash',
      message: describe(error),
      ...at,
      expected: deltaHash,
      found: storageSha256Hex(bytes),
    });
    return { findings };
  }
  let plain: Uint8Array;
  try {
    plain = await openSealedObject(bytes, deps.passphrase, `object ${key}`);
  } catch (error) {
    findings.push({ kind: 'delta-decrypt', message: describe(error), ...at });
    return { findings };
  }
  try {
    return { delta: decodeDelta(plain), findings };
  } catch (error) {
    findings.push({ kind: 'delta-malformed', message: describe(error), ...at });
    return { findings };
  }
};

/**
 * Checks one cohort's history. `log` is the whole log in position order (other cohorts' events
 * are used only to check the numbering); the result lists every finding, never throws for a fault
 * in the data.
 */
export const verifyCohort = async (
  log: readonly StoredDmlEvent[],
  cohortId: string,
  deps: AuditDeps,
): Promise<AuditReport> => {
  const findings: AuditFinding[] = [];
  const events = log.filter((e) => belongsToCohort(e, cohortId));
  const checked: { -readonly [K in keyof AuditReport['checked']]: AuditReport['checked'][K] } = {
    events: events.length,
    deltas: 0,
    aggregates: 0,
    closes: 0,
    slashes: 0,
    signatures: 0,
  };
  if (events.length === 0)
    return {
      cohortId,
      ok: false,
      checked,
      findings: [{ kind: 'no-cohort', message: `the log holds no event of cohort ${cohortId}` }],
      directions: auditDirections([]),
    };

  // (6) numbering
  findings.push(...checkNumbering(log, cohortId, deps.densePositions));

  // (7) the log's layer-1 history against the chain's
  if (deps.chain) {
    findings.push(...checkLogAgainstChain(events, cohortId, deps.chain));
    checked.chainTransitions = deps.chain.length;
  }

  // the cohort's rule and delta encoding
  let ruleName: string | undefined;
  let rule: AggregationRule | undefined;
  let encoding: DeltaValueEncoding = 'f32';
  for (const e of events)
    if (e.type === 'l1.CohortCreated') {
      ruleName = e.data.params.aggregation;
      encoding = e.data.params.deltaEncoding ?? 'f32';
      try {
        rule = parseAggregationRuleName(ruleName);
      } catch (error) {
        findings.push({
          kind: 'rule-unknown',
          message: describe(error),
          position: e.position,
          found: ruleName,
        });
      }
    }

  // (1) deltas
  const rounds = new Map<string, { party: string; sampleCount: number; delta?: Delta }[]>();
  for (const e of events) {
    if (e.type !== 'training.DeltaCommitted') continue;
    const { epoch, round, party, sampleCount } = e.data;
    const list = rounds.get(roundKey(epoch, round)) ?? [];
    if (list.some((x) => x.party === party)) {
      findings.push({
        kind: 'delta-duplicate',
        message: 'a second delta of this party in this round',
        position: e.position,
        epoch,
        round,
        party,
        key: e.data.storageKey,
      });
      continue;
    }
    const { delta, findings: found } = await checkDelta({ event: e, data: e.data }, deps);
    checked.deltas++;
    findings.push(...found);
    // a delta sent in another encoding than the cohort's: a finding, but still used (it is a valid
    // delta, and the parties aggregated what they decoded)
    if (delta && deltaEncodingOf(delta) !== encoding)
      findings.push({
        kind: 'delta-encoding',
        message: `a ${deltaEncodingOf(delta)} delta in a cohort whose deltas are ${encoding}`,
        position: e.position,
        epoch,
        round,
        party,
        key: e.data.storageKey,
        expected: encoding,
        found: deltaEncodingOf(delta),
      });
    list.push({ party, sampleCount, ...(delta ? { delta } : {}) });
    rounds.set(roundKey(epoch, round), list);
  }

  // every party starts a round from one global adapter (after an epoch's first: the carry-over)
  findings.push(...checkRoundStarts(events, cohortId));

  // (2) aggregates, recomputed with the parties' own aggregation code
  const computed = new Map<string, string>();
  const judgedRounds: Array<Parameters<typeof auditDirections>[0][number]> = [];
  for (const e of events) {
    if (e.type !== 'training.AggregateComputed') continue;
    checked.aggregates++;
    const { epoch, round, aggregateHash, contributors } = e.data;
    const at = { position: e.position, epoch, round };
    if (ruleName !== undefined && e.data.rule !== ruleName)
      findings.push({
        kind: 'aggregate-rule',
        message: `aggregate computed with rule ${e.data.rule}, the cohort's rule is ${ruleName}`,
        ...at,
        expected: ruleName,
        found: e.data.rule,
      });
    const deltas = rounds.get(roundKey(epoch, round)) ?? [];
    const committedParties = deltas.map((d) => d.party);
    if (sortedList(committedParties) !== sortedList(contributors))
      findings.push({
        kind: 'aggregate-contributors',
        message: 'the contributors are not the parties that committed a delta in this round',
        ...at,
        expected: sortedList(committedParties),
        found: sortedList(contributors),
      });
    const usable = deltas.filter((d) => d.delta);
    if (!rule || usable.length === 0 || usable.length !== deltas.length) {
      findings.push({
        kind: 'aggregate-unverifiable',
        message: !rule
          ? 'the cohort has no aggregation rule the auditor knows'
          : `${deltas.length - usable.length} of ${deltas.length} committed delta(s) failed their checks`,
        ...at,
        found: aggregateHash,
      });
      continue;
    }
    let hash: string;
    const contributions = usable.map((d) => ({
      partyId: d.party,
      sampleCount: d.sampleCount,
      delta: d.delta!,
    }));
    try {
      hash = aggregateDeltas(rule, contributions).hash;
    } catch (error) {
      findings.push({
        kind: 'aggregate-unverifiable',
        message: describe(error),
        ...at,
        found: aggregateHash,
      });
      continue;
    }
    if (!computed.has(roundKey(epoch, round))) judgedRounds.push({ epoch, round, contributions });
    computed.set(roundKey(epoch, round), hash);
    if (hash !== aggregateHash)
      findings.push({
        kind: 'aggregate-hash',
        message: `the recomputed ${ruleName} aggregate differs from the one recorded by ${e.data.computedBy}`,
        ...at,
        party: e.data.computedBy,
        expected: hash,
        found: aggregateHash,
      });
  }

  // (7) training snapshots: each round's aggregate signed by every party of the epoch
  const snapshotHashes = new Map<string, string>();
  for (const e of events)
    if (e.type === 'training.AggregateComputed') {
      const key = roundKey(e.data.epoch, e.data.round);
      snapshotHashes.set(key, computed.get(key) ?? e.data.aggregateHash);
    }
  const snapshots = checkTrainingSnapshots(events, cohortId, snapshotHashes);
  checked.signatures = snapshots.signatures;
  findings.push(...snapshots.findings);

  // (3) closes and contests carry the aggregate of their round; (4) slashes; (5) the ledger
  let parties: readonly string[] | undefined;
  let ledger = escrowLedgerProjection.initial;
  for (const e of events) {
    ledger = escrowLedgerProjection.evolve(ledger, e);
    if (e.type === 'l1.EpochStarted') parties = e.data.parties;
    if (e.type === 'l1.HeadClosed' || e.type === 'l1.HeadContested') {
      checked.closes++;
      const { epoch, round, aggregateHash } = e.data;
      const expected = computed.get(roundKey(epoch, round));
      if (expected !== aggregateHash)
        findings.push({
          kind: 'close-hash',
          message:
            expected === undefined
              ? `${e.type} names round ${round}, whose aggregate the auditor could not compute`
              : `${e.type} carries another aggregate than the one computed for round ${round}`,
          position: e.position,
          epoch,
          round,
          party: e.type === 'l1.HeadClosed' ? e.data.closedBy : e.data.contestedBy,
          expected: expected ?? '(none)',
          found: aggregateHash,
        });
    }
    if (e.type === 'l1.PartySlashed') {
      checked.slashes++;
      const { accused, voters, amount, shares } = e.data;
      const at = { position: e.position, party: accused };
      if (!parties) {
        findings.push({ kind: 'slash-no-epoch', message: 'a slash before any epoch started', ...at });
        continue;
      }
      const others = parties.filter((p) => p !== accused);
      if (!parties.includes(accused))
        findings.push({
          kind: 'slash-voter',
          message: `accused ${accused} is not a party of the epoch`,
          ...at,
        });
      if (voters.includes(accused))
        findings.push({ kind: 'slash-voter', message: 'the accused voted on its own slash', ...at });
      if (new Set(voters).size !== voters.length)
        findings.push({
          kind: 'slash-voter',
          message: 'a party voted twice',
          ...at,
          found: voters.join(','),
        });
      for (const v of voters)
        if (!parties.includes(v))
          findings.push({ kind: 'slash-voter', message: `voter ${v} is not a party of the epoch`, ...at });
      const valid = new Set(voters.filter((v) => others.includes(v)));
      if (valid.size * 2 <= others.length)
        findings.push({
          kind: 'slash-majority',
          message: `${valid.size} valid vote(s) of ${others.length} other parties is not a strict majority`,
          ...at,
          expected: `> ${others.length / 2}`,
          found: String(valid.size),
        });
      const sum = shares.reduce((s, x) => s + BigInt(x.amount), 0n);
      const rule = slashShares(BigInt(amount), voters).map((s) => `${s.party}:${s.amount}`);
      const given = [...shares]
        .sort((a, b) => (a.party < b.party ? -1 : 1))
        .map((s) => `${s.party}:${s.amount}`);
      if (sum !== BigInt(amount) || rule.join(',') !== given.join(','))
        findings.push({
          kind: 'slash-shares',
          message: `the shares (sum ${sum}) are not the contract's split of ${amount}`,
          ...at,
          expected: rule.join(','),
          found: given.join(','),
        });
    }
  }
  const cohortLedger = ledger.cohorts[cohortId];
  if (cohortLedger) {
    for (const anomaly of cohortLedger.anomalies)
      findings.push({ kind: 'ledger', message: `escrow ledger anomaly ${anomaly}` });
    if (!ledgerBalances(cohortLedger)) {
      const t = ledgerTotals(cohortLedger);
      findings.push({
        kind: 'ledger',
        message: 'the escrow ledger does not balance (deposited = in escrow + paid out)',
        expected: String(t.deposited),
        found: String(t.inEscrow + t.paidOut),
      });
    }
  }

  return {
    cohortId,
    ok: findings.length === 0,
    checked,
    findings,
    directions: auditDirections(judgedRounds),
  };
};

/** One line per finding: kind, where, what. */
export const renderAuditFinding = (f: AuditFinding): string => {
  const where = [
    f.position !== undefined ? `#${f.position}` : '',
    f.epoch !== undefined ? `epoch ${f.epoch}` : '',
    f.round !== undefined ? `round ${f.round}` : '',
    f.party ? `party ${f.party}` : '',
    f.key ? `object ${f.key}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const values =
    f.expected !== undefined || f.found !== undefined
      ? ` (expected ${f.expected ?? '?'}, found ${f.found ?? '?'})`
      : '';
  return `${f.kind}${where ? ` [${where}]` : ''}: ${f.message}${values}`;
};

export const renderAuditSummary = (r: AuditReport): string =>
  `verified: ${r.checked.deltas} deltas, ${r.checked.aggregates} aggregates, ${r.checked.signatures} snapshot signatures, ${r.checked.slashes} slashes` +
  (r.checked.chainTransitions === undefined
    ? '; layer-1 events not checked against a chain'
    : `, ${r.checked.chainTransitions} layer-1 transitions against the chain`);

/**
 * The direction evidence in a few lines: one per flagged party (verdict, z, rounds), then one
 * summary line. Evidence for the cohort to weigh, not a finding.
 */
export const renderAuditDirections = (
  r: AuditReport,
  name: (party: string) => string = (party) => party,
): string =>
  [
    ...r.directions.parties
      .filter((p) => p.flagged)
      .map((p) => `direction flag: ${renderDirectionVerdictLine(p, name)}`),
    renderDirectionVerdictSummary(r.directions),
  ].join('\n');
