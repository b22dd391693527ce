/**
 * Runs the Pulumi program of a stack under mocks in a child process (run-stack.ts) and returns what it
 * registered, with helpers to find resources by type. Runs are cached per stack and overrides, so every
 * test file shares one run of each stack.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Overrides } from './stack-config.js';
import { REPO_ROOT } from './stack-config.js';

export interface RecordedResource {
  type: string;
  name: string;
  custom: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: registered inputs are free-form JSON
  inputs: Record<string, any>;
  options: { protect: boolean; ignoreChanges: string[]; dependsOn: string[] };
}

export interface TransformProbe {
  component: string;
  name: string;
  /** What the transform did to an `aws:ecs/service:Service` (null: left it alone). */
  onService: { props: Record<string, unknown>; ignoreChanges: string[] } | null;
  onTaskDefinition: { props: Record<string, unknown>; ignoreChanges: string[] } | null;
}

export interface StackRun {
  stack: string;
  config: Record<string, string>;
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
  transformProbes: TransformProbe[];
}

const runs = new Map<string, Promise<StackRun>>();

async function spawnRun(stack: string, overrides: Overrides): Promise<StackRun> {
  const dir = await mkdtemp(join(tmpdir(), 'freeda-stack-'));
  const out = join(dir, 'run.json');
  try {
    await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'test/infra/support/run-stack.ts'), stack, out],
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          FREEDA_TEST_OVERRIDES: toJson(overrides),
          GITHUB_SHA: '',
        },
        maxBuffer: 16 * 1024 * 1024,
      },
    ).catch((err: Error & { stderr?: string }) => {
      throw new Error(`Pulumi program failed for stack ${stack}: ${err.stderr || err.message}`);
    });
    return JSON.parse(await readFile(out, 'utf8')) as StackRun;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The program's registrations for a stack (its committed settings, plus test secrets and overrides). */
/** undefined (remove the setting) must survive JSON, in cache keys and on the way to the child. */
const toJson = (value: unknown) => JSON.stringify(value, (_key, v) => (v === undefined ? null : v));

export function runStack(stack: string, overrides: Overrides = {}): Promise<StackRun> {
  const key = toJson([stack, overrides]);
  let run = runs.get(key);
  if (!run) {
    run = spawnRun(stack, overrides);
    runs.set(key, run);
  }
  return run;
}

export const ofType = (run: StackRun, type: string) => run.resources.filter((r) => r.type === type);

export function one(run: StackRun, type: string, name?: string): RecordedResource {
  const found = ofType(run, type).filter((r) => name === undefined || r.name === name);
  if (found.length !== 1) {
    throw new Error(`expected one ${type}${name ? ` named ${name}` : ''}, found ${found.length}`);
  }
  return found[0] as RecordedResource;
}

/** Values an operator sets on production with `pulumi config set` (docs/deploy.md). */
export const PRODUCTION_OPERATOR_SETTINGS: Overrides = {
  certificateArn: 'arn:aws:acm:eu-west-3:123456789012:certificate/00000000-0000-0000-0000-000000000000',
  domainName: 'support-api.example.com',
  alarmEmail: 'oncall@example.com',
};

export const STACKS = ['staging', 'production'] as const;
export type StackName = (typeof STACKS)[number];

export const runCommittedStack = (stack: StackName) =>
  runStack(stack, stack === 'production' ? PRODUCTION_OPERATOR_SETTINGS : {});
