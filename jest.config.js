// Unit and embedded integration tests: no external service needed.
// Tests that need a real server are named *.services.test.ts and run by jest.services.config.js.
/** @type {import('jest').Config} */
export default {
  extensionsToTreatAsEsm: ['.ts'],
  testEnvironment: 'node',
  roots: ['<rootDir>'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: [
    '/node_modules/',
    '\\.services\\.test\\.ts$',
    '/fixtures/',
    '<rootDir>/\\.ci/',
    '<rootDir>/bench/\\.venv/',
  ],
  modulePathIgnorePatterns: ['<rootDir>/\\.ci/', '<rootDir>/bench/\\.venv/', '<rootDir>/\\.dml/'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testTimeout: 120000,
  // one temporary folder per run, removed at its end
  globalSetup: '<rootDir>/jest.tmpdir-setup.js',
  globalTeardown: '<rootDir>/jest.tmpdir-teardown.js',
};
