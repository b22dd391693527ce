/**
 * Stack settings: Pulumi.yaml declares every setting the program reads (with its default), the stack
 * files only set declared settings with values of the right type and never a plaintext secret, and a
 * wrong value stops the program with a message naming the setting.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  ALB_IDLE_TIMEOUT_SECONDS,
  ENV,
  KEEP_ALIVE_TIMEOUT_MS,
  SSE_HEARTBEAT_MS,
  SSE_HEARTBEAT_SECONDS,
} from '../../api/contract.js';
import { buildPaths } from '../../infra/image.js';
import { type Overrides, REPO_ROOT, readProject, readStack, TEST_SECRETS } from './support/stack-config.js';
import {
  NO_COMMIT,
  ofType,
  one,
  PRODUCTION_OPERATOR_SETTINGS,
  runCommittedStack,
  runStack,
  STACKS,
  STAGING_OPERATOR_SETTINGS,
} from './support/stack-run.js';

const staging = (overrides: Overrides) => ({ ...STAGING_OPERATOR_SETTINGS, ...overrides });
const VARIANTS = {
  /** One run for two independent behaviours: no Mistral key, and an ARM64 build. */
  noMistralOnArm: staging({ mistralApiKey: undefined, platform: 'linux/arm64', mistralModel: 'mistral-large-latest' }),
  badMemory: staging({ memory: '300' }),
  shortKey: staging({ tokenSigningKey: 'too-short' }),
  slowShutdown: staging({ shutdownDelayMs: '25000' }),
  rotatedKey: staging({ tokenSigningKey: 'a-new-token-signing-key-0123456789abcdefghijklmn' }),
  httpsForTheTeam: staging({ certificateArn: PRODUCTION_OPERATOR_SETTINGS.certificateArn }),
  plainHttpAllowed: { allowPlainHttp: 'true' },
  unrestricted: {},
  productionPlainHttp: { ...PRODUCTION_OPERATOR_SETTINGS, allowPlainHttp: 'true' },
  worldCidr: { allowedCidrs: '10.1.0.0/16,0.0.0.0/0' },
  badCidr: { allowedCidrs: '203.0.113.0/33' },
  zoneWithoutDomain: staging({ hostedZoneId: 'Z0123456789EXAMPLE' }),
  noCommit: staging({ [NO_COMMIT]: 'yes' }),
};
const PRODUCTION_VARIANTS = new Set<string>(['productionPlainHttp']);
// Start every variant now: they run in parallel in their own processes while other tests run.
for (const [name, overrides] of Object.entries(VARIANTS)) {
  runStack(PRODUCTION_VARIANTS.has(name) ? 'production' : 'staging', overrides).catch(() => undefined);
}

const failure = (overrides: Overrides, stack = 'staging') =>
  runStack(stack, overrides).then(
    () => {
      throw new Error('the program accepted the settings');
    },
    (err: Error) => err.message,
  );

/** Setting keys read by infra/config.ts (`cfg.require('x')`, `cfg.getNumber('x')`, ...). */
function keysReadByProgram(): string[] {
  const source = readFileSync(`${REPO_ROOT}infra/config.ts`, 'utf8');
  return [...source.matchAll(/cfg\.(?:require|get)(?:Secret|Number|Boolean)?\('(\w+)'/g)].map((m) => m[1] as string);
}

describe('stack settings', function () {
  this.timeout(120_000);
  const project = readProject();

  it('runs the TypeScript program from infra/ with the same loader as the tests', () => {
    expect(project.name).to.equal('freeda');
    expect(project.main).to.equal('infra/');
    expect(project.runtime).to.deep.equal({
      name: 'nodejs',
      options: { typescript: false, nodeargs: '--import tsx' },
    });
  });

  it('declares every setting the program reads, each with a description, and nothing it does not read', () => {
    const read = new Set(keysReadByProgram());
    // The Mistral key is optional and secret: Pulumi cannot declare a default for a secret, so it is
    // documented in Pulumi.yaml's comments instead of declared.
    read.delete('mistralApiKey');
    expect(Object.keys(project.config).sort()).to.deep.equal([...read].sort());
    for (const [key, declaration] of Object.entries(project.config)) {
      expect(declaration.description, key).to.be.a('string').and.not.be.empty;
      expect(declaration.type, key).to.be.oneOf(['string', 'integer', 'boolean']);
    }
  });

  it('requires the token-signing key on every stack, as a secret without default', () => {
    expect(project.config.tokenSigningKey).to.deep.include({ type: 'string', secret: true });
    expect(project.config.tokenSigningKey).not.to.have.property('default');
  });

  for (const stack of STACKS) {
    it(`sets only declared settings in Pulumi.${stack}.yaml, typed as declared, with no plaintext secret`, () => {
      const { config } = readStack(stack);
      expect(config['aws:region']).to.be.a('string');
      for (const [key, value] of Object.entries(config)) {
        if (!key.startsWith('freeda:')) continue;
        const name = key.slice('freeda:'.length);
        if (name in TEST_SECRETS) {
          expect(value, key).to.be.an('object').with.property('secure');
          continue;
        }
        const declaration = project.config[name];
        expect(declaration, `${key} is not declared in Pulumi.yaml`).to.not.equal(undefined);
        const text = String(value);
        if (declaration?.type === 'integer') expect(text, key).to.match(/^\d+$/);
        if (declaration?.type === 'boolean') expect(text, key).to.be.oneOf(['true', 'false']);
      }
    });
  }

  it('builds from the repository root wherever the program runs (root or infra/)', () => {
    expect(buildPaths(REPO_ROOT)).to.deep.equal({ context: '.', dockerfile: 'api/Dockerfile' });
    expect(buildPaths(`${REPO_ROOT}infra`)).to.deep.equal({ context: '..', dockerfile: '../api/Dockerfile' });
  });

  it('runs without the assistant when no Mistral key is set: no secret, no variable, no permission', async () => {
    const run = await runStack('staging', VARIANTS.noMistralOnArm);
    const secretNames = ofType(run, 'aws:secretsmanager/secret:Secret').map((s) => s.name);
    expect(secretNames).to.have.members(['token-signing-key', 'bootstrap-admin-key']);
    const container = one(run, 'awsx:ecs:FargateService').inputs.taskDefinitionArgs.container;
    expect(container.secrets.map((s: { name: string }) => s.name)).not.to.include(ENV.mistralApiKey);
    expect(one(run, 'aws:iam/rolePolicy:RolePolicy', 'execution-secrets').inputs.policy).not.to.include('mistral');
  });

  it('passes MISTRAL_MODEL only when a model is configured, so the service’s default applies otherwise', async () => {
    const env = (run: Awaited<ReturnType<typeof runStack>>) =>
      one(run, 'awsx:ecs:FargateService').inputs.taskDefinitionArgs.container.environment as {
        name: string;
        value: string;
      }[];
    const configured = env(await runStack('staging', VARIANTS.noMistralOnArm));
    expect(configured).to.deep.include({ name: ENV.mistralModel, value: 'mistral-large-latest' });
    const committed = env(await runCommittedStack('staging'));
    expect(committed.map((e) => e.name)).not.to.include(ENV.mistralModel);
  });

  it('runs the tasks on ARM64 when the image is built for linux/arm64', async () => {
    const run = await runStack('staging', VARIANTS.noMistralOnArm);
    expect(one(run, 'awsx:ecr:Image').inputs.platform).to.equal('linux/arm64');
    const task = one(run, 'awsx:ecs:FargateService').inputs.taskDefinitionArgs;
    expect(task.runtimePlatform.cpuArchitecture).to.equal('ARM64');
  });

  it('refuses a CPU/memory pair Fargate does not offer, naming the setting', async () => {
    expect(await failure(VARIANTS.badMemory)).to.match(/Invalid stack setting memory: 300 MiB is not a Fargate size/);
  });

  it('refuses a shutdown delay that would not end before the stop timeout', async () => {
    expect(await failure(VARIANTS.slowShutdown)).to.match(/shutdownDelayMs/);
  });

  it('rolls the service when a secret gets a new value, and only that secret’s trigger changes', async () => {
    const triggers = async (run: Promise<Awaited<ReturnType<typeof runStack>>>) =>
      one(await run, 'awsx:ecs:FargateService').inputs.triggers as Record<string, string>;
    const before = await triggers(runCommittedStack('staging'));
    const after = await triggers(runStack('staging', VARIANTS.rotatedKey));
    expect(after[ENV.tokenSigningKey]).to.be.a('string').and.not.equal(before[ENV.tokenSigningKey]);
    expect({ ...after, [ENV.tokenSigningKey]: '' }).to.deep.equal({ ...before, [ENV.tokenSigningKey]: '' });
  });

  it('refuses to serve plain HTTP to the whole internet unless explicitly allowed', async () => {
    expect(await failure(VARIANTS.unrestricted)).to.match(
      /Invalid stack setting certificateArn: stack staging would serve plain HTTP to the whole internet: set certificateArn/,
    );
  });

  it('serves plain HTTP to the world only with allowPlainHttp, and warns about it', async () => {
    const run = await runStack('staging', VARIANTS.plainHttpAllowed);
    expect(one(run, 'awsx:lb:ApplicationLoadBalancer').inputs.listener).to.deep.equal({ port: 80, protocol: 'HTTP' });
    const toAlb = ofType(run, 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule').filter(
      (r) => r.inputs.securityGroupId === 'alb-id',
    );
    expect(toAlb.map((r) => [r.inputs.cidrIpv4, r.inputs.fromPort])).to.deep.equal([['0.0.0.0/0', 80]]);
    expect(run.outputs.publicAccess).to.equal('public-http');
  });

  it('refuses allowPlainHttp on production, even with a certificate', async () => {
    expect(await failure(VARIANTS.productionPlainHttp, 'production')).to.match(
      /Invalid stack setting allowPlainHttp: stack production is a production stack: plain HTTP to the internet is refused/,
    );
  });

  it('restricts HTTPS to the allowed networks too, letting the health checkers reach 443', async () => {
    const run = await runStack('staging', VARIANTS.httpsForTheTeam);
    const toAlb = ofType(run, 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule').filter(
      (r) => r.inputs.securityGroupId === 'alb-id',
    );
    expect(
      toAlb.map((r) => `${r.inputs.fromPort} ${r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6 ?? r.inputs.prefixListId}`),
    ).to.deep.equal([
      '80 203.0.113.0/24',
      '80 2001:db8::/48',
      '443 203.0.113.0/24',
      '443 2001:db8::/48',
      '443 pl-com.amazonaws.eu-west-3.route53-healthchecks',
    ]);
    expect(
      one(run, 'awsx:lb:ApplicationLoadBalancer').inputs.listeners.map((l: { port: number }) => l.port),
    ).to.deep.equal([443, 80]);
    expect(run.outputs.url).to.equal('https://api-0123456789.eu-west-3.elb.amazonaws.com');
  });

  it('refuses allowedCidrs that are not CIDR blocks or that are the whole internet', async () => {
    expect(await failure(VARIANTS.worldCidr)).to.match(/allowedCidrs: "0\.0\.0\.0\/0" is the whole internet/);
    expect(await failure(VARIANTS.badCidr)).to.match(/allowedCidrs: "203\.0\.113\.0\/33" is not an IPv4 or IPv6 CIDR/);
  });

  it('refuses a hosted zone without the domain name to create in it', async () => {
    expect(await failure(VARIANTS.zoneWithoutDomain)).to.match(/Invalid stack setting hostedZoneId: needs domainName/);
  });

  it('refuses to build without a tag of its own (tags are immutable)', async () => {
    expect(await failure(VARIANTS.noCommit)).to.match(/Invalid stack setting imageTag: every build needs its own tag/);
  });

  it('keeps SSE streams open through the load balancer, and Node’s sockets open longer than the ALB’s', () => {
    expect(SSE_HEARTBEAT_MS).to.equal(SSE_HEARTBEAT_SECONDS * 1000);
    // At least two heartbeats per idle timeout: one late write never ends a stream.
    expect(ALB_IDLE_TIMEOUT_SECONDS)
      .to.be.at.least(2 * SSE_HEARTBEAT_SECONDS)
      .and.at.least(60);
    expect(KEEP_ALIVE_TIMEOUT_MS).to.be.greaterThan(ALB_IDLE_TIMEOUT_SECONDS * 1000);
  });

  it('refuses a token-signing key shorter than 32 characters without printing it', async () => {
    const message = await failure(VARIANTS.shortKey);
    expect(message).to.match(/Invalid stack setting tokenSigningKey: expected at least 32 characters/);
    expect(message).not.to.include(VARIANTS.shortKey.tokenSigningKey);
  });
});
