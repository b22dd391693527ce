/**
 * Loads the policy pack's policies the way @pulumi/pulumi/cmd/run-policy-pack loads a pack: its bundled
 * ts-node registered with type checking and the pack's tsconfig, then a CommonJS require. Prints the
 * policy names as JSON. (The pack's index.ts is not required: it starts the policy server.)
 *
 *   node test/infra/support/load-policy-pack.cjs <pack dir>      (run with the pack dir as cwd)
 */
const path = require('node:path');

const packDir = process.argv[2];
const pulumiDir = path.dirname(require.resolve('@pulumi/pulumi/package.json', { paths: [packDir] }));
const tsutils = require(path.join(pulumiDir, 'tsutils'));
const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
require(tsnodeRequire).register({
  typeCheck: true,
  skipProject: false,
  compiler: typescriptRequire,
  compilerOptions: {
    target: 'ES2020',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    sourceMap: 'true',
    ...tsutils.loadTypeScriptCompilerOptions('tsconfig.json'),
  },
});
const { policies } = require(path.join(packDir, 'policies'));
process.stdout.write(JSON.stringify(policies.map((p) => p.name)));
