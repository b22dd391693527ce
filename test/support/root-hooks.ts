/**
 * Mocha root hooks: the run's DynamoDB Local is started once, before any suite, with a deadline fit for a JVM
 * on a busy machine, so that no suite's own hook pays (or times out on) its start.
 */
import type { Context } from 'mocha';
import { sharedEngine } from './engine.js';

export const mochaHooks = {
  async beforeAll(this: Context) {
    this.timeout(180_000);
    await sharedEngine();
  },
};
