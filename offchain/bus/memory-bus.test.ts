import { describe, expect, it } from '@jest/globals';
import { describeRoundEventBusContract } from './bus-contract.js';
import { InMemoryRoundEventBus } from './memory-bus.js';
import { openRoundEventBus } from './open-bus.js';

describeRoundEventBusContract('in process', async () => new InMemoryRoundEventBus());

describe('openRoundEventBus', () => {
  it('opens the bus named by the setting and refuses others', () => {
    expect(openRoundEventBus('memory').kind).toBe('memory');
    expect(openRoundEventBus('kafka://127.0.0.1:1').kind).toBe('kafka');
    expect(() => openRoundEventBus('rabbit://x')).toThrow(/is not a bus/);
  });
});
