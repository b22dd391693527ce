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
  options: {
    protect: boolean;
    ignoreChanges: string[];
    dependsOn: string[];
    /** Input property -> URNs of the resources its value came from (what the engine tracks). */
    propertyDependencies: Record<string, string[]>;
  };
}

/**
 * The children awsx components create that the program's transforms may target, with representative inputs
 * (as the awsx provider registers them): each transform is applied to each.
 */
export const PROBES: Record<string, Record<string, unknown>> = {
  'aws:ecs/service:Service': { desiredCount: 2 },
  'aws:ecs/taskDefinition:TaskDefinition': { family: 'freeda-test-api', skipDestroy: true },
  'docker-build:index:Image': {
    tags: ['123456789012.dkr.ecr.eu-west-3.amazonaws.com/api-mock:0123456789ab'],
    cacheFrom: [{ registry: { ref: '123456789012.dkr.ecr.eu-west-3.amazonaws.com/api-mock:buildcache' } }],
    cacheTo: [{ inline: {} }],
    push: true,
  },
};

export interface TransformResult {
  props: Record<string, unknown>;
  ignoreChanges: string[];
  retainOnDelete: boolean;
}

export interface TransformProbe {
  component: string;
  name: string;
  /** What the transform did to each probe type of PROBES (null: left it alone). */
  results: Record<string, TransformResult | null>;
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
          // As on CI: the commit names the image (a run can drop it to test the refusal without a tag).
          GITHUB_SHA: overrides[NO_COMMIT] === undefined ? TEST_COMMIT : '',
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

/** The commit CI builds (GITHUB_SHA); the image tag is its first 12 characters. */
export const TEST_COMMIT = '0123456789abcdef0123456789abcdef01234567';
/** Override key (not a setting) that runs the program without GITHUB_SHA. */
export const NO_COMMIT = '(no GITHUB_SHA)';

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
  hostedZoneId: 'Z0123456789EXAMPLE',
  alarmEmail: 'oncall@example.com',
};

/** Values an operator sets on staging (docs/deploy.md): no certificate, the listener restricted to the team. */
export const STAGING_OPERATOR_SETTINGS: Overrides = {
  allowedCidrs: '203.0.113.0/24, 2001:db8::/48',
};

export const STACKS = ['staging', 'production'] as const;
export type StackName = (typeof STACKS)[number];

export const OPERATOR_SETTINGS: Record<StackName, Overrides> = {
  staging: STAGING_OPERATOR_SETTINGS,
  production: PRODUCTION_OPERATOR_SETTINGS,
};

export const runCommittedStack = (stack: StackName) => runStack(stack, OPERATOR_SETTINGS[stack]);
