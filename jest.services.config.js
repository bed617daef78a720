// Tests against real servers started by .ci/run (PostgreSQL, Swift S3, Kafka; EventStoreDB and
// hydra-node when ESDB_URL / HYDRA_NODE_URL name one).
import base from './jest.config.js';

/** @type {import('jest').Config} */
export default {
  ...base,
  testMatch: ['**/*.services.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/fixtures/', '<rootDir>/\\.ci/', '<rootDir>/bench/\\.venv/'],
  testTimeout: 300000,
};
