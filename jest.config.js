// NestJS 12 ships as ES modules; jest loads them through the same swc transform as our
// TypeScript (decorator metadata on), compiled to CommonJS. Type checking is `npm run typecheck`.
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022' },
    module: { type: 'commonjs' },
  },
];
const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)s$': swc },
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs|uid)/)'],
  moduleFileExtensions: ['ts', 'js', 'json'],
};

/** @type {import('jest').Config} */
module.exports = {
  // testTimeout is global in jest (ignored inside projects).
  testTimeout: 60_000,
  projects: [
    { ...common, displayName: 'unit', roots: ['<rootDir>/src'], testRegex: '\\.spec\\.ts$' },
    { ...common, displayName: 'e2e', roots: ['<rootDir>/test/e2e'], testRegex: '\\.e2e-spec\\.ts$' },
    // Real clients push ~150 MB images several times; each spec sets its own longer timeouts.
    { ...common, displayName: 'clients', roots: ['<rootDir>/test/real-clients'], testRegex: '\\.e2e-spec\\.ts$' },
  ],
};
