// Prints the image platform a stack builds (`freeda:platform` in Pulumi.<stack>.yaml, else the project's
// default in Pulumi.yaml), so a workflow can prepare an arm64 build on an x86 runner.
//   node .github/scripts/stack-platform.mjs <stack>   ->   linux/amd64 | linux/arm64
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const stack = process.argv[2];
if (!stack) {
  console.error('usage: stack-platform.mjs <stack>');
  process.exit(2);
}
const project = parse(readFileSync('Pulumi.yaml', 'utf8'));
const settings = parse(readFileSync(`Pulumi.${stack}.yaml`, 'utf8'))?.config ?? {};
console.log(settings[`${project.name}:platform`] ?? project.config.platform.default);
