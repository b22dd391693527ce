/** The image's defaults agree with the runtime contract the infra is built from. */
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { CONTAINER_PORT, HEALTH_PATHS } from '../../api/contract.js';

describe('the container image definition', () => {
  const dockerfile = readFileSync('api/Dockerfile', 'utf8');
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('listens on the contract port by default and exposes it', () => {
    expect(finalStage).to.match(new RegExp(`PORT=${CONTAINER_PORT}\\b`));
    expect(finalStage).to.match(new RegExp(`^EXPOSE ${CONTAINER_PORT}$`, 'm'));
  });

  it('checks the liveness path, runs as the unprivileged user and starts node directly', () => {
    expect(finalStage).to.include(HEALTH_PATHS.live);
    expect(finalStage).to.match(/^USER node$/m);
    expect(finalStage).to.match(/^CMD \["node", "api\/server\.js"\]$/m);
  });

  it('builds on a current LTS Debian base in every stage and installs no dev dependency in the runtime', () => {
    const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(bases.every((b) => /^node:(22|24)-bookworm-slim$/.test(b ?? ''))).to.equal(true);
    expect(dockerfile).to.include('npm ci --omit=dev');
    expect(finalStage).to.not.match(/npm (ci|install)/);
  });
});
