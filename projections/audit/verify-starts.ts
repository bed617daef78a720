import type { StoredDmlEvent } from '../../offchain/index.js';
import type { AuditFinding } from './audit-finding.js';

/** Who logged a RoundStarted: the party of a party stream, else the stream's name. */
const starterOf = (event: StoredDmlEvent, cohortId: string): string => {
  const prefix = `party-${cohortId}-`;
  return event.stream.startsWith(prefix) ? event.stream.slice(prefix.length) : event.stream;
};

/**
 * Every party of a round starts it from one global adapter: the `training.RoundStarted` events
 * of one (epoch, round) name one hash. In an epoch after the first this is the carry-over: the
 * newcomer's start (adopted from a peer's carry-over) must be the continuing parties' own. A
 * party that logged another start is named, with the start most parties logged as the expected
 * one (on a tie, the one logged first).
 */
export const checkRoundStarts = (events: readonly StoredDmlEvent[], cohortId: string): AuditFinding[] => {
  type Start = { position: number; party: string; epoch: number; round: number; hash: string };
  const byRound = new Map<string, Start[]>();
  for (const e of events)
    if (e.type === 'training.RoundStarted') {
      const { epoch, round, globalAdapterHash: hash } = e.data;
      const key = `${epoch}/${round}`;
      const start = { position: e.position, party: starterOf(e, cohortId), epoch, round, hash };
      byRound.set(key, [...(byRound.get(key) ?? []), start]);
    }
  const findings: AuditFinding[] = [];
  for (const starts of byRound.values()) {
    const count = new Map<string, number>();
    for (const s of starts) count.set(s.hash, (count.get(s.hash) ?? 0) + 1);
    if (count.size < 2) continue;
    // Map keeps first-logged order, so a tie goes to the hash logged first
    const [expected] = [...count.entries()].reduce((best, next) => (next[1] > best[1] ? next : best));
    for (const s of starts)
      if (s.hash !== expected)
        findings.push({
          kind: 'start-mismatch',
          message: 'this party started the round from another global adapter than the other parties',
          position: s.position,
          epoch: s.epoch,
          round: s.round,
          party: s.party,
          expected,
          found: s.hash,
        });
  }
  return findings;
};
