import { expect } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { KafkaRoundEventBus } from '../../offchain/index.js';
import { describeCrashAndResume } from './train-crash-scenario.js';

const brokers = (): string => {
  const value = process.env.KAFKA_BROKERS;
  if (!value)
    throw new Error(
      'KAFKA_BROKERS is not set: start Kafka with `bash .ci/services/kafka.sh start && eval "$(bash .ci/services/kafka.sh env)"`',
    );
  return value;
};

// The same multi-process crash-and-resume run, with the round events over Kafka (DML_BUS): every
// party's process publishes its steps to the cohort's topic and wakes on its peers'.
describeCrashAndResume('over Kafka', {
  env: () => ({ DML_BUS: `kafka://${brokers()}` }),
  after: async ({ policy, parties, victim }) => {
    // every recorded step reaches the topic once; the one exception allowed is the victim's
    // round-1 commitment, whose publish the SIGKILL may have cut after its append (the bus is a
    // wake-up, the log holds the fact)
    const required = parties.flatMap((party) =>
      [1, 2].flatMap((round) =>
        [
          'training.RoundStarted',
          'training.DeltaCommitted',
          'training.AggregateComputed',
          'training.SnapshotSigned',
        ]
          .filter((type) => !(party === victim && round === 1 && type === 'training.DeltaCommitted'))
          .map((type) => `${party}/${type}/${round}`),
      ),
    );
    const bus = new KafkaRoundEventBus({ brokers: brokers().split(',') });
    const seen = new Map<string, number>();
    try {
      let finish = () => undefined as void;
      const all = new Promise<void>((resolve) => (finish = resolve));
      const subscription = await bus.subscribe({
        cohortId: policy,
        group: `dml-test-audit-${randomBytes(4).toString('hex')}`,
        handler: ({ key, event }) => {
          if (event.type === 'training.ContributionScored') return;
          const id = `${key}/${event.type}/${(event.data as { round: number }).round}`;
          seen.set(id, (seen.get(id) ?? 0) + 1);
          if (required.every((r) => seen.has(r))) finish();
        },
      });
      await all;
      await subscription.stop();
      expect([...seen].filter(([, n]) => n !== 1)).toEqual([]);
    } finally {
      await bus.close();
    }
  },
});
