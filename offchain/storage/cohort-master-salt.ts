import { createHash } from 'node:crypto';

const DOMAIN = 'qlora-dml/v1/store-master-salt\0';

/**
 * The master salt of every party's delta store in a cohort (sealed-object format version 2):
 * the first 16 bytes of SHA-256 over a domain tag and the cohort id. The cohort's parties share
 * the passphrase, so one salt for all their stores costs a passphrase guesser nothing more than
 * per-store salts did (one store's objects already test a guess), and it is still a different
 * salt for every cohort; what it saves is one scrypt per peer when a party first opens its
 * peers' deltas (9 in a 10-party cohort's first round).
 */
export const cohortMasterSalt = (cohortId: string): Uint8Array =>
  new Uint8Array(createHash('sha256').update(DOMAIN).update(cohortId, 'utf8').digest().subarray(0, 16));
