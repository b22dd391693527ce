/**
 * One in-memory DynamoDB Local per test run (a JVM takes seconds to start), on a loopback port; every suite
 * gets tables of its own. It stops when the test process ends (see api/db/local-engine.ts).
 */
import { randomBytes } from 'node:crypto';
import { type LocalEngine, startLocalEngine } from '../../api/db/local-engine.js';

let engine: Promise<LocalEngine> | undefined;

export function sharedEngine(): Promise<LocalEngine> {
  engine ??= startLocalEngine();
  return engine;
}

/** Fresh table names, so suites never see each other's data. */
export function uniqueTableNames(): {
  tickets: string;
  principals: string;
  ratelimits: string;
  events: string;
  webhooks: string;
} {
  const tag = randomBytes(4).toString('hex');
  return {
    tickets: `test-${tag}-tickets`,
    principals: `test-${tag}-principals`,
    ratelimits: `test-${tag}-ratelimits`,
    events: `test-${tag}-events`,
    webhooks: `test-${tag}-webhooks`,
  };
}
