/**
 * The configuration `pulumi up` would hand the program for a stack, computed the way the CLI does it:
 * the project's declared defaults (Pulumi.yaml `config`) under the stack's values (Pulumi.<stack>.yaml),
 * with the secrets a real operator sets by `pulumi config set --secret` supplied by the test.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Declaration {
  type?: 'string' | 'integer' | 'boolean' | 'array';
  default?: unknown;
  secret?: boolean;
  description?: string;
}

export interface ProjectFile {
  name: string;
  main?: string;
  runtime: unknown;
  config: Record<string, Declaration>;
}

export interface StackFile {
  config: Record<string, unknown>;
}

export const readProject = (): ProjectFile => parse(readFileSync(`${REPO_ROOT}Pulumi.yaml`, 'utf8')) as ProjectFile;
export const readStack = (stack: string): StackFile =>
  parse(readFileSync(`${REPO_ROOT}Pulumi.${stack}.yaml`, 'utf8')) as StackFile;

/** Values a test supplies in place of the operator's encrypted settings (and any extra overrides). */
/** A value replaces the stack's; `null` or `undefined` removes the setting. */
export type Overrides = Record<string, string | null | undefined>;

export const TEST_SECRETS = {
  tokenSigningKey: 'test-token-signing-key-0123456789abcdefghijklmnop',
  mistralApiKey: 'test-mistral-api-key',
} as const;

export interface ResolvedConfig {
  /** Fully-qualified keys (`freeda:cpu`, `aws:region`) to string values, as the engine passes them. */
  config: Record<string, string>;
  secretKeys: string[];
}

const asConfigString = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

export function resolveStackConfig(stack: string, overrides: Overrides = {}): ResolvedConfig {
  const project = readProject();
  const stackFile = readStack(stack);
  const ns = project.name;
  const qualify = (key: string) => (key.includes(':') ? key : `${ns}:${key}`);

  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, declaration] of Object.entries(project.config)) {
    if (declaration.default !== undefined) config[qualify(key)] = asConfigString(declaration.default);
  }
  for (const [key, value] of Object.entries(stackFile.config ?? {})) {
    if (value !== null && typeof value === 'object' && 'secure' in value) continue; // encrypted: supplied below
    config[key] = asConfigString(value);
  }
  for (const [key, value] of Object.entries({ ...TEST_SECRETS, ...overrides })) {
    const qualified = qualify(key);
    if (value === undefined || value === null) {
      delete config[qualified];
      continue;
    }
    config[qualified] = value;
    if (project.config[key]?.secret || key in TEST_SECRETS) secretKeys.push(qualified);
  }
  for (const [key, declaration] of Object.entries(project.config)) {
    if (declaration.default === undefined && config[qualify(key)] === undefined) {
      throw new Error(`Stack '${stack}' is missing configuration value '${qualify(key)}'`);
    }
  }
  return { config, secretKeys };
}
