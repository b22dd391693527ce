/**
 * The command line of the operator and benchmark scripts: `--help` (or `-h`) prints the usage and exits 0;
 * an unknown or malformed option prints one line and the usage and exits 2, instead of a stack trace.
 */
import { type ParseArgsOptionsConfig, parseArgs } from 'node:util';

export function commandLine<const O extends ParseArgsOptionsConfig>(usage: string, options: O) {
  const text = `${usage.trim()}\n`;
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(text);
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${text}`);
    process.exit(2);
  }
}
