import { randomBytes } from 'node:crypto';
import { describeRoundEventBusContract } from './bus-contract.js';
import { KafkaRoundEventBus } from './kafka-bus.js';

describeRoundEventBusContract('Kafka', async () => {
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers)
    throw new Error(
      'KAFKA_BROKERS is not set: start Kafka with `bash .ci/services/kafka.sh start && eval "$(bash .ci/services/kafka.sh env)"`',
    );
  return new KafkaRoundEventBus({
    brokers: brokers.split(','),
    topicPrefix: `dml-test-${randomBytes(4).toString('hex')}.`,
    partitions: 3,
  });
});
