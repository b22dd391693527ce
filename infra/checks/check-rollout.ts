/**
 * Deploy-job check: did the release really roll out? Reads `aws ecs describe-services --output json` from a
 * file or stdin and prints the verdict (infra/checks/rollout.ts).
 *
 *   aws ecs describe-services --cluster C --services S --output json \
 *     | npx tsx infra/checks/check-rollout.ts --expected <task definition ARN>
 *
 * Exit status: 0 rolled out, 1 rolled back or failed (GitHub error annotation), 75 still in progress (poll again).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type DescribeServicesOutput, EXIT_IN_PROGRESS, rolloutVerdict } from './rollout.js';

const USAGE = `usage: check-rollout.ts --expected <task definition ARN> [describe-services.json | -]

Reads the output of \`aws ecs describe-services --output json\` (stdin when no file or "-") and checks that the
service's primary deployment runs the expected task definition and its rollout is COMPLETED.
Exit status: 0 rolled out, 1 rolled back or failed, ${EXIT_IN_PROGRESS} still in progress.`;

function main(): number {
  const { values, positionals } = parseArgs({
    options: { expected: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.expected || positionals.length > 1) {
    console.error(USAGE);
    return 2;
  }
  const file = positionals[0] ?? '-';
  const output = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8')) as DescribeServicesOutput;
  const verdict = rolloutVerdict(output, values.expected);
  if (verdict.outcome === 'failed') {
    // One annotation line for the job summary, the whole story in the log.
    console.log(`::error title=Release not rolled out::${verdict.message.split('\n')[0]}`);
    console.error(verdict.message);
    return 1;
  }
  console.log(verdict.message);
  return verdict.outcome === 'completed' ? 0 : EXIT_IN_PROGRESS;
}

process.exitCode = main();
