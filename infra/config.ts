/**
 * The stack's settings, read once. Defaults live in Pulumi.yaml (its `config` block), overrides in
 * Pulumi.<stack>.yaml; this module only reads and validates them, so a wrong value stops `pulumi preview`
 * with a message naming the setting instead of failing half-way through an update.
 */
import { isIP } from 'node:net';
import * as pulumi from '@pulumi/pulumi';
import { SHUTDOWN_GRACE_MS, STOP_TIMEOUT_SECONDS } from '../api/contract.js';

export type NatStrategy = 'Single' | 'OnePerAz';
export type ContainerInsights = 'enabled' | 'enhanced' | 'disabled';

/**
 * Who may reach the load balancer, and how:
 * - `https`: HTTPS on 443 with the certificate, HTTP on 80 only redirects to it; from `allowedCidrs`, or from
 *   anywhere when none are set;
 * - `restricted-http`: plain HTTP on 80, from `allowedCidrs` only (no certificate);
 * - `public-http`: plain HTTP on 80 from anywhere, only with `allowPlainHttp: true`, never on production.
 */
export type PublicAccess = 'https' | 'restricted-http' | 'public-http';

export interface Settings {
  /** `<project>-<stack>`, the prefix of every physical name the program chooses (tables, log group). */
  prefix: string;
  stack: string;
  protectData: boolean;
  network: { availabilityZones: number; cidr: string; natGateways: NatStrategy };
  task: { cpu: number; memory: number; platform: 'linux/amd64' | 'linux/arm64' };
  scaling: { minTasks: number; maxTasks: number; cpuTargetPercent: number; requestsPerTarget: number };
  service: {
    logLevel: string;
    logRetentionDays: number;
    shutdownDelayMs: number;
    corsOrigins: string;
    /** Unset: the service's own default model applies (api/config.ts). */
    mistralModel: string | undefined;
  };
  edge: {
    access: PublicAccess;
    certificateArn: string | undefined;
    /** Sources allowed to reach the listeners; empty = the whole internet (HTTPS or `allowPlainHttp` only). */
    allowedCidrs: string[];
    domainName: string | undefined;
    /** Route 53 zone of `domainName`: when set, the program creates the alias record to the ALB. */
    hostedZoneId: string | undefined;
    waf: boolean;
    wafRateLimit: number;
  };
  monitoring: { containerInsights: ContainerInsights; alarmEmail: string | undefined; latencyAlarmMs: number };
  /** Tag of the pushed image: unique per build, since the repository's tags are immutable. */
  imageTag: string;
  secrets: { tokenSigningKey: pulumi.Output<string>; mistralApiKey: pulumi.Output<string> | undefined };
}

/** Fargate's valid CPU units -> memory sizes (MiB) for the sizes this service can use. */
const FARGATE_SIZES: Record<number, number[]> = {
  256: [512, 1024, 2048],
  512: [1024, 2048, 3072, 4096],
  1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
  2048: Array.from({ length: 13 }, (_, i) => 4096 + i * 1024),
  4096: Array.from({ length: 23 }, (_, i) => 8192 + i * 1024),
};

/** Retention periods CloudWatch Logs accepts. */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557];

export class SettingsError extends Error {
  override name = 'SettingsError';
}

function check(ok: boolean, key: string, message: string): void {
  if (!ok) throw new SettingsError(`Invalid stack setting ${key}: ${message}`);
}

const optional = (value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value.trim());

/** Stacks that hold real customers: plain HTTP to the internet is refused there whatever the settings say. */
export const isProductionStack = (stack: string, protectData: boolean) => protectData || stack === 'production';

/** Parses `allowedCidrs` (comma-separated IPv4/IPv6 CIDR blocks); the whole internet is not a restriction. */
export function parseAllowedCidrs(value: string | undefined): string[] {
  const cidrs = (value ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  for (const cidr of cidrs) {
    const [address = '', prefix = '', ...rest] = cidr.split('/');
    const family = isIP(address);
    const bits = Number(prefix);
    check(
      family !== 0 && rest.length === 0 && /^\d+$/.test(prefix) && bits <= (family === 4 ? 32 : 128),
      'allowedCidrs',
      `"${cidr}" is not an IPv4 or IPv6 CIDR block (e.g. 203.0.113.0/24)`,
    );
    check(
      bits > 0,
      'allowedCidrs',
      `"${cidr}" is the whole internet; serve HTTPS (certificateArn) or, outside production, set allowPlainHttp`,
    );
  }
  return [...new Set(cidrs)];
}

/** Decides how the load balancer is reached, refusing plain HTTP to the internet unless explicitly allowed. */
export function publicAccess(args: {
  stack: string;
  production: boolean;
  certificateArn: string | undefined;
  allowedCidrs: string[];
  allowPlainHttp: boolean;
}): PublicAccess {
  check(
    !(args.production && args.allowPlainHttp),
    'allowPlainHttp',
    `stack ${args.stack} is a production stack: plain HTTP to the internet is refused (set certificateArn)`,
  );
  if (args.certificateArn) return 'https';
  if (args.allowedCidrs.length > 0) return 'restricted-http';
  check(
    args.allowPlainHttp,
    'certificateArn',
    `stack ${args.stack} would serve plain HTTP to the whole internet: set certificateArn (HTTPS), or allowedCidrs ` +
      '(restrict the listener), or, outside production, allowPlainHttp: true',
  );
  return 'public-http';
}

/** Reads and validates every setting of the current stack. */
export function readSettings(cfg: pulumi.Config = new pulumi.Config()): Settings {
  const natGateways = cfg.require('natGateways', { allowedValues: ['Single', 'OnePerAz'] }) as NatStrategy;
  const availabilityZones = cfg.requireNumber('availabilityZones', { min: 2, max: 6 });
  const cpu = cfg.requireNumber('cpu');
  const memory = cfg.requireNumber('memory');
  check(cpu in FARGATE_SIZES, 'cpu', `expected one of ${Object.keys(FARGATE_SIZES).join(', ')}, got ${cpu}`);
  check(
    FARGATE_SIZES[cpu]?.includes(memory) ?? false,
    'memory',
    `${memory} MiB is not a Fargate size for ${cpu} CPU units (allowed: ${FARGATE_SIZES[cpu]?.join(', ')})`,
  );
  const minTasks = cfg.requireNumber('minTasks', { min: 1 });
  const maxTasks = cfg.requireNumber('maxTasks', { min: 1 });
  check(maxTasks >= minTasks, 'maxTasks', `must be at least minTasks (${minTasks}), got ${maxTasks}`);
  const logRetentionDays = cfg.requireNumber('logRetentionDays');
  check(
    LOG_RETENTION_DAYS.includes(logRetentionDays),
    'logRetentionDays',
    `expected one of ${LOG_RETENTION_DAYS.join(', ')}`,
  );
  const certificateArn = optional(cfg.get('certificateArn'));
  if (certificateArn) check(certificateArn.startsWith('arn:aws'), 'certificateArn', 'expected an ACM certificate ARN');
  const protectData = cfg.requireBoolean('protectData');
  const stack = pulumi.getStack();
  const allowedCidrs = parseAllowedCidrs(cfg.get('allowedCidrs'));
  const access = publicAccess({
    stack,
    production: isProductionStack(stack, protectData),
    certificateArn,
    allowedCidrs,
    allowPlainHttp: cfg.requireBoolean('allowPlainHttp'),
  });
  const domainName = optional(cfg.get('domainName'));
  const hostedZoneId = optional(cfg.get('hostedZoneId'));
  if (hostedZoneId) check(domainName !== undefined, 'hostedZoneId', 'needs domainName (the record to create)');
  const imageTag = optional(cfg.get('imageTag')) ?? optional(process.env.GITHUB_SHA)?.slice(0, 12);
  check(
    imageTag !== undefined && /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(imageTag),
    'imageTag',
    imageTag === undefined
      ? 'every build needs its own tag (the repository keeps tags immutable): set imageTag to the commit, e.g. ' +
          '`pulumi config set imageTag "$(git rev-parse --short=12 HEAD)"`, or run with GITHUB_SHA'
      : `"${imageTag}" is not a valid image tag`,
  );

  const tokenSigningKey = cfg.requireSecret('tokenSigningKey').apply((key) => {
    check(key.length >= 32, 'tokenSigningKey', `expected at least 32 characters, got ${key.length}`);
    return key;
  });
  const mistralKeyIsSet = optional(cfg.get('mistralApiKey')) !== undefined;

  return {
    prefix: `${pulumi.getProject()}-${stack}`,
    stack,
    protectData,
    network: { availabilityZones, cidr: cfg.require('vpcCidr'), natGateways },
    task: {
      cpu,
      memory,
      platform: cfg.require('platform', {
        allowedValues: ['linux/amd64', 'linux/arm64'],
      }) as Settings['task']['platform'],
    },
    scaling: {
      minTasks,
      maxTasks,
      cpuTargetPercent: cfg.requireNumber('cpuTargetPercent', { min: 10, max: 95 }),
      requestsPerTarget: cfg.requireNumber('requestsPerTarget', { min: 0 }),
    },
    service: {
      logLevel: cfg.require('logLevel', { allowedValues: ['error', 'warn', 'info', 'http', 'verbose', 'debug'] }),
      logRetentionDays,
      // Unready delay + in-flight grace must end before ECS's SIGKILL at the stop timeout.
      shutdownDelayMs: cfg.requireNumber('shutdownDelayMs', {
        min: 0,
        max: STOP_TIMEOUT_SECONDS * 1000 - SHUTDOWN_GRACE_MS,
      }),
      corsOrigins: cfg.get('corsOrigins') ?? '',
      mistralModel: optional(cfg.get('mistralModel')),
    },
    edge: {
      access,
      certificateArn,
      allowedCidrs,
      domainName,
      hostedZoneId,
      waf: cfg.requireBoolean('waf'),
      wafRateLimit: cfg.requireNumber('wafRateLimit', { min: 10 }),
    },
    monitoring: {
      containerInsights: cfg.require('containerInsights', {
        allowedValues: ['enabled', 'enhanced', 'disabled'],
      }) as ContainerInsights,
      alarmEmail: optional(cfg.get('alarmEmail')),
      latencyAlarmMs: cfg.requireNumber('latencyAlarmMs', { min: 100 }),
    },
    imageTag: imageTag as string,
    secrets: {
      tokenSigningKey,
      mistralApiKey: mistralKeyIsSet ? cfg.requireSecret('mistralApiKey') : undefined,
    },
  };
}
