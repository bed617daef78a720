import type { CohortTransition, DmlEventType, StoredDmlEvent } from '../../offchain/index.js';
import type { AuditFinding } from './audit-finding.js';

/** Which chain transition each `l1.*` event of the log claims. */
const KIND_OF: Partial<Record<DmlEventType, CohortTransition['kind']>> = {
  'l1.CohortCreated': 'created',
  'l1.PartyJoined': 'joined',
  'l1.EpochStarted': 'epochStarted',
  'l1.HeadClosed': 'closed',
  'l1.HeadContested': 'contested',
  'l1.HeadFinalized': 'finalized',
  'l1.PartySlashed': 'slashed',
  'l1.DepositClaimed': 'claimed',
  'l1.DepositRefunded': 'refunded',
};

type Field = readonly [name: string, logged: unknown, onChain: unknown];

const list = (xs: readonly string[]) => xs.join(',');
const sortedList = (xs: readonly string[]) => [...xs].sort().join(',');
const amounts = (xs: ReadonlyArray<{ party: string; amount: bigint | string }>) =>
  [...xs]
    .map((x) => `${x.party}:${String(x.amount)}`)
    .sort()
    .join(',');

/**
 * What the log must record of a transition: its own kind; a finalize into the next epoch also
 * starts that epoch (the log's `l1.EpochStarted` of the new head names the same transaction).
 */
const claimsOf = (t: CohortTransition): Array<CohortTransition['kind']> =>
  t.kind === 'finalized' && t.next ? ['finalized', 'epochStarted'] : [t.kind];

/** A finalize into the next epoch, seen as the start of that epoch. */
const asEpochStart = (t: CohortTransition): CohortTransition | undefined =>
  t.kind === 'finalized' && t.next
    ? { txId: t.txId, slot: t.slot, kind: 'epochStarted', epoch: t.next.epoch, parties: t.next.parties }
    : undefined;

/** The fields an event states about its transaction, next to what the chain shows. */
const fieldsOf = (event: StoredDmlEvent, t: CohortTransition): Field[] => {
  // The event's data was validated against its schema when it was stored; read it as a record.
  const d = event.data as unknown as Record<string, never>;
  const fields: Field[] = [['slot', d['slot'], t.slot]];
  switch (t.kind) {
    case 'created': {
      const params = d['params'] as { minDeposit: string; contestationPeriodMs: number; rounds: number };
      fields.push(
        ['minimum deposit', params.minDeposit, String(t.state.terms.minDeposit)],
        ['contestation period', params.contestationPeriodMs, Number(t.state.terms.contestationPeriod)],
        ['final round', params.rounds, Number(t.state.terms.finalRound)],
      );
      break;
    }
    case 'joined':
      fields.push(['party', d['party'], t.party], ['Hydra key', d['hydraKey'], t.hydraKey]);
      fields.push(['deposit', d['deposit'], String(t.deposit)]);
      break;
    case 'epochStarted':
      fields.push(['epoch', d['epoch'], t.epoch], ['parties', list(d['parties']), list(t.parties)]);
      break;
    case 'closed':
    case 'contested': {
      const by = t.kind === 'closed' ? d['closedBy'] : d['contestedBy'];
      fields.push(
        ['epoch', d['epoch'], t.epoch],
        ['round', d['round'], t.round],
        ['aggregate hash', d['aggregateHash'], t.aggregateHash],
        [t.kind === 'closed' ? 'closer' : 'contester', by, t.by.includes(by) ? by : list(t.by)],
        ['deadline', d['deadline'], new Date(t.deadline).toISOString()],
      );
      const signatures = d['signatures'] as readonly string[] | undefined;
      if (signatures !== undefined) fields.push(['signatures', list(signatures), list(t.signatures)]);
      break;
    }
    case 'finalized':
      fields.push(['epoch', d['epoch'], t.epoch], ['outcome', d['outcome'], t.outcome]);
      break;
    case 'slashed':
      fields.push(
        ['accused', d['accused'], t.accused],
        ['voters', sortedList(d['voters']), sortedList(t.voters)],
        ['amount', d['amount'], String(t.amount)],
        ['returned deposits', amounts(d['returned']), amounts(t.returned)],
      );
      break;
    case 'claimed':
    case 'refunded':
      fields.push(['party', d['party'], t.party], ['amount', d['amount'], String(t.amount)]);
      break;
    case 'unexplained':
      break;
  }
  return fields;
};

/**
 * The log against the chain: every `l1.*` event of the cohort must name a transaction that the
 * chain holds for this cohort, of the transition it claims, with the same facts (slot, parties,
 * amounts, rounds, hashes, deadlines, signatures); and every transition the chain shows must be
 * in the log. `transitions` come from `followCohort` over the chain's own transactions, so a
 * party that wrote a false or partial history into the log is caught here.
 */
export const checkLogAgainstChain = (
  events: readonly StoredDmlEvent[],
  cohortId: string,
  transitions: readonly CohortTransition[],
): AuditFinding[] => {
  const findings: AuditFinding[] = [];
  const byTx = new Map(transitions.map((t) => [t.txId, t]));
  const logged = new Set<string>();
  for (const event of events) {
    const claimed = KIND_OF[event.type];
    if (!claimed) continue;
    const data = event.data as { cohortId?: string; txId?: string };
    if (data.cohortId !== cohortId || data.txId === undefined) continue;
    const at = { position: event.position, key: data.txId };
    const onChain = byTx.get(data.txId);
    const t = claimed === 'epochStarted' && onChain ? (asEpochStart(onChain) ?? onChain) : onChain;
    if (!t) {
      findings.push({
        kind: 'chain-missing',
        message: `${event.type} names transaction ${data.txId}, which does not touch this cohort on chain`,
        ...at,
      });
      continue;
    }
    logged.add(`${t.txId} ${claimed}`);
    if (t.kind !== claimed) {
      findings.push({
        kind: 'chain-mismatch',
        message: `${event.type} names a transaction that is a ${t.kind} on chain`,
        ...at,
        expected: t.kind,
        found: claimed,
      });
      continue;
    }
    for (const [name, fromLog, fromChain] of fieldsOf(event, t))
      if (String(fromLog) !== String(fromChain))
        findings.push({
          kind: 'chain-mismatch',
          message: `${event.type}: the ${name} in the log is not what the chain shows`,
          ...at,
          expected: String(fromChain),
          found: String(fromLog),
        });
  }
  for (const t of transitions) {
    const missing = claimsOf(t).filter((kind) => !logged.has(`${t.txId} ${kind}`));
    if (missing.length === 0) continue;
    // A transition the log records under another kind was reported as a mismatch already.
    if ([...logged].some((l) => l.startsWith(`${t.txId} `)) && missing.length === claimsOf(t).length)
      continue;
    findings.push(
      t.kind === 'unexplained'
        ? {
            kind: 'chain-unexplained',
            message: `transaction ${t.txId} (slot ${t.slot}) touches the cohort in a way the contracts do not allow: ${t.reason}`,
            key: t.txId,
          }
        : {
            kind: 'chain-unlogged',
            message: `the chain shows a ${missing.join(' and ')} in transaction ${t.txId} (slot ${t.slot}) that the log does not record`,
            key: t.txId,
          },
    );
  }
  return findings;
};
