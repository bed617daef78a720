import {
  type HydraNormalised,
  type HydraRawOutput,
  hydraNormalisedSchema,
  hydraRawOutputSchema,
} from './catalogue.js';
import { type CreateEventOptions, EventValidationError, type NewDmlEvent, createEvent } from './envelope.js';

/**
 * Our own small reading of a hydra-node server output (the full codec lives with the Hydra
 * client). We keep the raw message as it arrived (checked to be JSON with a tag) and extract the
 * few fields that the head-lifecycle projection and the auditor use.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (o: Obj, k: string): string => (typeof o[k] === 'string' ? (o[k] as string) : '');
const num = (o: Obj, k: string): number => (typeof o[k] === 'number' ? (o[k] as number) : -1);
const keysOf = (v: unknown): string[] => (isObj(v) ? Object.keys(v) : []);

const normalise = (raw: HydraRawOutput): unknown => {
  const o = raw as Obj;
  const headId = str(o, 'headId');
  switch (raw.tag) {
    case 'HeadIsInitializing':
      return {
        kind: raw.tag,
        headId,
        parties: Array.isArray(o.parties)
          ? o.parties.map((p) => (isObj(p) ? str(p, 'vkey') : ''))
          : undefined,
      };
    case 'Committed':
      return {
        kind: raw.tag,
        headId,
        party: isObj(o.party) ? str(o.party, 'vkey') : '',
        utxoRefs: keysOf(o.utxo),
      };
    case 'HeadIsOpen':
    case 'HeadIsFinalized':
      return { kind: raw.tag, headId, utxoCount: keysOf(o.utxo).length };
    case 'HeadIsAborted':
    case 'ReadyToFanout':
      return { kind: raw.tag, headId };
    case 'TxValid':
      return { kind: raw.tag, headId, txId: str(o, 'transactionId') };
    case 'TxInvalid': {
      const tx = isObj(o.transaction) ? o.transaction : {};
      const err = isObj(o.validationError) ? o.validationError : {};
      return { kind: raw.tag, headId, txId: str(tx, 'txId'), reason: str(err, 'reason') };
    }
    case 'SnapshotConfirmed': {
      const snapshot = isObj(o.snapshot) ? o.snapshot : {};
      const signatures = isObj(o.signatures) ? o.signatures : {};
      return {
        kind: raw.tag,
        headId,
        snapshotNumber: num(snapshot, 'number'),
        txCount: Array.isArray(snapshot.confirmed) ? snapshot.confirmed.length : 0,
        signed: Array.isArray(signatures.multiSignature) ? signatures.multiSignature.length : 0,
      };
    }
    case 'HeadIsClosed':
    case 'HeadIsContested':
      return {
        kind: raw.tag,
        headId,
        snapshotNumber: num(o, 'snapshotNumber'),
        contestationDeadline: str(o, 'contestationDeadline'),
      };
    case 'CommandFailed': {
      const input = isObj(o.clientInput) ? str(o.clientInput, 'tag') : '';
      return { kind: raw.tag, ...(headId ? { headId } : {}), command: input || 'unknown' };
    }
    default:
      return { kind: 'Other', tag: raw.tag, ...(headId ? { headId } : {}) };
  }
};

const issuesOf = (error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }) =>
  error.issues.map((i) => `${i.path.length ? i.path.map(String).join('.') : '(message)'}: ${i.message}`);

/** Reads one server output (a parsed JSON object); throws EventValidationError naming the field. */
export const normaliseHydraOutput = (
  message: unknown,
): { raw: HydraRawOutput; normalised: HydraNormalised } => {
  const raw = hydraRawOutputSchema.safeParse(message);
  if (!raw.success) throw new EventValidationError('hydra.OutputReceived', issuesOf(raw.error));
  const normalised = hydraNormalisedSchema.safeParse(normalise(raw.data));
  if (!normalised.success)
    throw new EventValidationError(
      'hydra.OutputReceived',
      issuesOf(normalised.error).map((m) => `${raw.data.tag} ${m}`),
    );
  return { raw: raw.data, normalised: normalised.data };
};

/**
 * The event for one server output. Its time is the node's timestamp when the output has one
 * (a TimedServerOutput), else the time of reading.
 */
export const hydraOutputEvent = (
  cohortId: string,
  message: unknown,
  options: CreateEventOptions = {},
): NewDmlEvent => {
  const { raw, normalised } = normaliseHydraOutput(message);
  const stamped = typeof raw.timestamp === 'string' && !Number.isNaN(Date.parse(raw.timestamp));
  return createEvent(
    'hydra.OutputReceived',
    { cohortId, raw, normalised },
    {
      ...(stamped && options.occurredAt === undefined ? { occurredAt: new Date(raw.timestamp!) } : {}),
      ...options,
    },
  );
};
