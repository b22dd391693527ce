/**
 * One Node.js line everywhere: the version developers get from `.nvmrc`, the minimum in package.json's
 * `engines`, the Node types the code is checked against, the runtime CI installs and the image's base all
 * name the same major version, and the tests themselves run on it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

describe('Node.js version of the project', () => {
  const major = Number(read('.nvmrc').trim());

  it('is one LTS major in .nvmrc, engines, @types/node, CI and every stage of the image', () => {
    expect(major).to.be.at.least(24);
    const pkg = JSON.parse(read('package.json'));
    expect(pkg.engines.node).to.equal(`>=${major}`);
    expect(pkg.devDependencies['@types/node']).to.match(new RegExp(`^\\^${major}\\.`));
    expect(read('.ci/run')).to.match(new RegExp(`^NODE_MAJOR=${major}$`, 'm'));
    const bases = [...read('api/Dockerfile').matchAll(/^FROM node:(\d+)/gm)].map((m) => Number(m[1]));
    expect(bases.length).to.be.above(0);
    expect(new Set(bases)).to.deep.equal(new Set([major]));
  });

  it('runs the tests', () => {
    expect(Number(process.versions.node.split('.')[0])).to.be.at.least(major);
  });
});
