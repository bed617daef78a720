/**
 * The import direction of the project: contracts <- offchain <- trainer, projections <- command line.
 * A folder is reached from outside only through its index.ts.
 * Run by `npm run lint` (depcruise) and tested against fixtures in tools/depcheck.
 */
const LAYERS = '(contracts|offchain|trainer|projections)';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'contracts-imports-nothing-above',
      comment: 'contracts/ is the bottom layer: it imports no other part of the project.',
      severity: 'error',
      from: { path: '^contracts/' },
      to: { path: '^(offchain|trainer|projections|cli|bench|scripts)/' },
    },
    {
      name: 'offchain-imports-only-contracts',
      comment: 'offchain/ may import contracts/ and nothing above it.',
      severity: 'error',
      from: { path: '^offchain/' },
      to: { path: '^(trainer|projections|cli|bench|scripts)/' },
    },
    {
      name: 'trainer-not-projections-or-cli',
      comment:
        'trainer/ and projections/ are siblings above offchain/: neither imports the other or the command line.',
      severity: 'error',
      from: { path: '^trainer/' },
      to: { path: '^(projections|cli|bench|scripts)/' },
    },
    {
      name: 'projections-not-trainer-or-cli',
      comment:
        'trainer/ and projections/ are siblings above offchain/: neither imports the other or the command line.',
      severity: 'error',
      from: { path: '^projections/' },
      to: { path: '^(trainer|cli|bench|scripts)/' },
    },
    {
      name: 'only-through-index',
      comment: 'Another part of the project is imported only through its index.ts, never its internals.',
      severity: 'error',
      from: { path: '^([^/]+)/' },
      to: {
        path: `^${LAYERS}/.+`,
        pathNot: ['^$1/', `^${LAYERS}/index\\.ts$`, `^${LAYERS}/testing/index\\.ts$`],
      },
    },
    {
      name: 'testing-entry-only-from-tests',
      comment:
        "A folder's test helpers (its testing/ entry) are imported only by tests, never by the product.",
      severity: 'error',
      from: { pathNot: '(\\.test\\.ts$|^[^/]+/testing/)' },
      to: { path: `^${LAYERS}/testing/` },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^node_modules|^tools/depcheck/fixtures|^\\.ci)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: require('node:path').join(__dirname, 'tsconfig.json') },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js', '.json'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
