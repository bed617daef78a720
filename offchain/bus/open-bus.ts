import { DmlError } from '../errors.js';
import type { RoundEventBus } from './event-bus.js';
import { KafkaRoundEventBus } from './kafka-bus.js';
import { InMemoryRoundEventBus } from './memory-bus.js';

/** Opens the bus named by the `bus` setting: `memory`, or `kafka://HOST:PORT[,HOST:PORT]`. */
export const openRoundEventBus = (url: string): RoundEventBus => {
  if (url === 'memory') return new InMemoryRoundEventBus();
  if (url.startsWith('kafka://')) {
    const brokers = url.slice('kafka://'.length).split(',').filter(Boolean);
    if (brokers.length === 0)
      throw new DmlError('BUS_URL', `"${url}" names no broker`, { hint: 'kafka://HOST:PORT' });
    return new KafkaRoundEventBus({ brokers });
  }
  throw new DmlError('BUS_URL', `"${url}" is not a bus`, {
    hint: 'use memory or kafka://HOST:PORT[,HOST:PORT]',
  });
};
