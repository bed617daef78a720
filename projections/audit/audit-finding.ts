/** What the auditor checks; each finding is one of these. */
export type AuditFindingKind =
  | 'no-cohort'
  | 'log-gap'
  | 'stream-gap'
  | 'rule-unknown'
  | 'delta-missing'
  | 'delta-hash'
  | 'delta-decrypt'
  | 'delta-malformed'
  | 'delta-duplicate'
  | 'delta-size'
  | 'delta-encoding'
  | 'start-mismatch'
  | 'aggregate-rule'
  | 'aggregate-unverifiable'
  | 'aggregate-hash'
  | 'aggregate-contributors'
  | 'close-hash'
  | 'slash-no-epoch'
  | 'slash-voter'
  | 'slash-majority'
  | 'slash-shares'
  | 'snapshot-signature'
  | 'snapshot-hash'
  | 'snapshot-unsigned'
  | 'snapshot-unverifiable'
  | 'ledger'
  | 'chain-missing'
  | 'chain-mismatch'
  | 'chain-unlogged'
  | 'chain-unexplained';

/** One thing that does not check, with everything needed to find it. */
export interface AuditFinding {
  readonly kind: AuditFindingKind;
  readonly message: string;
  readonly position?: number;
  readonly epoch?: number;
  readonly round?: number;
  readonly party?: string;
  readonly key?: string;
  readonly expected?: string;
  readonly found?: string;
}
