import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { DML_EVENT_TYPES, EVENT_CATALOGUE } from './catalogue.js';
import { EventValidationError, cohortStream, createEvent, partyStream, validateEvent } from './envelope.js';
import { hydraOutputEvent, normaliseHydraOutput } from './hydra-output.js';
import { simulateCohortHistory } from './simulated-history.js';

// One sample of every server output of hydra-node 1.3.0 (from its API samples).
const samples = JSON.parse(
  readFileSync(new URL('./fixtures/hydra-server-outputs-1.3.0.json', import.meta.url), 'utf8'),
) as Record<string, Record<string, unknown>>;

describe('Hydra server outputs', () => {
  it('keeps every 1.3.0 output raw, with its tag, and normalises the lifecycle ones', () => {
    expect(Object.keys(samples).length).toBeGreaterThanOrEqual(30);
    for (const [tag, sample] of Object.entries(samples)) {
      const { raw, normalised } = normaliseHydraOutput(sample);
      expect(raw).toEqual(sample);
      expect(raw.tag).toBe(tag);
      const known = [
        'HeadIsInitializing',
        'Committed',
        'HeadIsOpen',
        'HeadIsAborted',
        'TxValid',
        'TxInvalid',
        'SnapshotConfirmed',
        'HeadIsClosed',
        'HeadIsContested',
        'ReadyToFanout',
        'HeadIsFinalized',
      ];
      expect(normalised.kind).toBe(known.includes(tag) ? tag : 'Other');
    }
  });

  it('extracts the fields the projections use', () => {
    const closed = normaliseHydraOutput(samples.HeadIsClosed).normalised;
    expect(closed).toEqual({
      kind: 'HeadIsClosed',
      headId: samples.HeadIsClosed!.headId,
      snapshotNumber: samples.HeadIsClosed!.snapshotNumber,
      contestationDeadline: samples.HeadIsClosed!.contestationDeadline,
    });
    const init = normaliseHydraOutput(samples.HeadIsInitializing).normalised;
    expect(init.kind === 'HeadIsInitializing' && init.parties.length).toBe(
      (samples.HeadIsInitializing!.parties as unknown[]).length,
    );
    const tx = normaliseHydraOutput(samples.TxValid).normalised;
    expect(tx).toEqual({
      kind: 'TxValid',
      headId: samples.TxValid!.headId,
      txId: samples.TxValid!.transactionId,
    });
  });

  it('takes the time of a timed output from the node', () => {
    const event = hydraOutputEvent('c1', {
      ...samples.ReadyToFanout,
      seq: 7,
      timestamp: '2026-03-01T10:00:00.123Z',
    });
    expect(event.occurredAt).toBe('2026-03-01T10:00:00.123Z');
    expect(event.type).toBe('hydra.OutputReceived');
  });

  it('rejects a malformed output, naming the field', () => {
    expect(() => normaliseHydraOutput({ headId: 'ab' })).toThrow(/tag: /);
    expect(() => normaliseHydraOutput({ tag: 'HeadIsClosed', headId: 'ab', snapshotNumber: 'x' })).toThrow(
      /HeadIsClosed snapshotNumber: /,
    );
    expect(() =>
      normaliseHydraOutput({ tag: 'TxValid', headId: 'ab', seq: -1, transactionId: 'cd' }),
    ).toThrow(EventValidationError);
  });
});

describe('event envelopes', () => {
  it('validates data at creation with a precise message', () => {
    const error = (() => {
      try {
        createEvent('l1.PartyJoined', {
          cohortId: 'c',
          txId: 'nothex',
          slot: 1,
          party: 'ab',
          deposit: '-5',
          hydraKey: 'cd',
        });
      } catch (e) {
        return e as EventValidationError;
      }
    })();
    expect(error).toBeInstanceOf(EventValidationError);
    expect(error!.code).toBe('EVENT_INVALID');
    expect(error!.issues).toEqual([
      expect.stringMatching(/^txId: .*32 bytes/),
      expect.stringMatching(/^deposit: .*decimal integer/),
    ]);
  });

  it('reads ContributionScored with and without the direction evidence in its metrics (v1, added in place)', () => {
    const base = { cohortId: 'c', epoch: 0, round: 1, scorer: 'aa', party: 'bb', score: -0.5 };
    // an event written before the fields existed, as stored: still valid, still version 1
    const old = createEvent('training.ContributionScored', {
      ...base,
      metrics: { loss: 0.5, accuracy: 0.9 },
    });
    expect(validateEvent(JSON.parse(JSON.stringify(old)))).toEqual(old);
    expect(old.schemaVersion).toBe(1);
    expect(createEvent('training.ContributionScored', base).data).toEqual(base);
    const now = createEvent('training.ContributionScored', {
      ...base,
      metrics: { loss: 0.5, accuracy: 0.9, similarity: -0.25, dimensions: 4096 },
    });
    expect(validateEvent(JSON.parse(JSON.stringify(now))).data).toMatchObject({
      metrics: {
        loss: 0.5,
        accuracy: 0.9,
        similarity: -0.25,
        dimensions: 4096,
      },
    });
    const bad = (metrics: Record<string, number>) => () =>
      createEvent('training.ContributionScored', {
        ...base,
        metrics: { loss: 0.5, accuracy: 0.9, ...metrics },
      });
    expect(bad({ similarity: 0.5 })).toThrow(/similarity and dimensions come together/);
    expect(bad({ dimensions: 10 })).toThrow(/similarity and dimensions come together/);
    expect(bad({ similarity: 1.5, dimensions: 10 })).toThrow(/metrics.similarity/);
    expect(bad({ similarity: 0.5, dimensions: 0 })).toThrow(/metrics.dimensions/);
  });

  it('carries causation and correlation from the causing event', () => {
    const cause = createEvent(
      'training.RoundStarted',
      { cohortId: 'c', epoch: 0, round: 1, globalAdapterHash: '00'.repeat(32) },
      { correlationId: 'round-1' },
    );
    const effect = createEvent(
      'training.AggregateComputed',
      {
        cohortId: 'c',
        epoch: 0,
        round: 1,
        aggregateHash: '11'.repeat(32),
        rule: 'mean',
        contributors: [],
        computedBy: 'aa',
      },
      { causedBy: cause },
    );
    expect(effect.causationId).toBe(cause.eventId);
    expect(effect.correlationId).toBe('round-1');
    expect(effect.schemaVersion).toBe(EVENT_CATALOGUE['training.AggregateComputed'].version);
  });

  it('refuses envelopes from outside with an unknown version, type or id', () => {
    const good = createEvent('l1.DepositClaimed', {
      cohortId: 'c',
      txId: 'ab'.repeat(32),
      slot: 3,
      party: 'aa',
      amount: '5',
    });
    expect(validateEvent(JSON.parse(JSON.stringify(good)))).toEqual(good);
    expect(() => validateEvent({ ...good, schemaVersion: 99 })).toThrow(
      /schemaVersion: 99 is not a version we read/,
    );
    expect(() => validateEvent({ ...good, eventId: 'x' })).toThrow(/eventId: must be a UUID/);
    expect(() => validateEvent({ ...good, type: 'l1.Stolen' })).toThrow(/unknown event type "l1.Stolen"/);
    expect(() => validateEvent(null)).toThrow(EventValidationError);
  });

  it('names streams per cohort, head and party, refusing unsafe ids', () => {
    expect(cohortStream('abc')).toBe('cohort-abc');
    expect(partyStream('abc', 'ff01')).toBe('party-abc-ff01');
    expect(() => cohortStream('a/b')).toThrow(/cannot name a stream/);
  });

  it('simulates a history that uses every event type of the catalogue', () => {
    const types = new Set(
      [
        ...simulateCohortHistory({ cohortId: 'h1', parties: 3, rounds: 2 }),
        ...simulateCohortHistory({ cohortId: 'h2', parties: 4, rounds: 5, saboteur: 2, sabotageRound: 2 }),
      ].flatMap((b) => b.events.map((e) => e.type)),
    );
    expect([...types].sort()).toEqual(
      // (the simulation's cohort ids are names, not the hex policy id a training snapshot signs)
      DML_EVENT_TYPES.filter(
        (t) => !['l1.HeadContested', 'l1.DepositRefunded', 'training.SnapshotSigned'].includes(t),
      ).sort(),
    );
  });
});
