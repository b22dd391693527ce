/**
 * The real app on real tables: DynamoDB Local on loopback, the production wiring (buildRuntime) from a config made
 * of environment variables, log lines captured for inspection, and helpers to make users and tickets.
 */
import { Writable } from 'node:stream';
import type { Express } from 'express';
import supertest from 'supertest';
import { createApp } from '../../api/app.js';
import { loadConfig } from '../../api/config.js';
import { createDynamoClients } from '../../api/db/client.js';
import { ensureTables } from '../../api/db/schema.js';
import { tableEnv } from '../../api/db/tables.js';
import { createLogger } from '../../api/logger.js';
import { buildRuntime, type Runtime, type RuntimeOverrides } from '../../api/runtime.js';
import { sharedEngine, uniqueTableNames } from './engine.js';

export const ADMIN_KEY = 'test-bootstrap-admin-key-0123456789abcdef';
export const SIGNING_KEY = 'test-token-signing-key-0123456789abcdefgh';

export interface Harness {
  app: Express;
  runtime: Runtime;
  tables: { tickets: string; principals: string; ratelimits: string; events: string; webhooks: string };
  endpoint: string;
  /** Every log line written so far, as raw JSON text. */
  logs: string[];
  http(): ReturnType<typeof supertest>;
  /** Creates an account with the bootstrap key and logs it in. */
  user(
    role: 'agent' | 'manager' | 'admin',
    email?: string,
  ): Promise<{ email: string; password: string; token: string }>;
  /** Opens a ticket through the public API. */
  ticket(body?: Record<string, unknown>): Promise<{ id: string; token: string; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

let userCount = 0;

/**
 * `tables`: reuse another harness's tables, as a second task of the same deployment would. `overrides`: internal
 * timings and the name resolver of the webhooks (api/runtime.ts).
 */
export async function startHarness(
  env: Record<string, string> = {},
  tables = uniqueTableNames(),
  overrides: RuntimeOverrides = {},
): Promise<Harness> {
  const engine = await sharedEngine();
  const setup = createDynamoClients({ endpoint: engine.endpoint, timeoutMs: 5000 });
  await ensureTables(setup.client, tables);
  setup.client.destroy();

  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DYNAMODB_ENDPOINT: engine.endpoint,
    ...tableEnv(tables),
    // Suites open many tickets from one address; the rate-limit tests set their own limits.
    RATE_LIMIT_TICKETS_PER_HOUR: '100000',
    RATE_LIMIT_MESSAGES_PER_MINUTE: '100000',
    RATE_LIMIT_LOGINS_PER_ACCOUNT: '100000',
    RATE_LIMIT_LOGINS_PER_CLIENT: '100000',
    BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    TOKEN_SIGNING_KEY: SIGNING_KEY,
    ...env,
  });
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ level: config.logLevel, stream });
  const runtime = await buildRuntime(config, logger, overrides);
  const app = createApp(runtime.deps);
  const http = () => supertest(app);

  return {
    app,
    runtime,
    tables,
    endpoint: engine.endpoint,
    logs,
    http,
    async user(role, email = `${role}${++userCount}@freeda.test`) {
      const password = `pw-${role}-${userCount}-long-enough`;
      await http()
        .post('/v1/users')
        .set('authorization', `Bearer ${ADMIN_KEY}`)
        .send({ email, name: `${role} ${userCount}`, role, password })
        .expect(201);
      const login = await http().post('/v1/auth/login').send({ email, password }).expect(200);
      return { email, password, token: login.body.access_token };
    },
    async ticket(body = { message: 'My internet connection drops every evening', customer_name: 'Alice' }) {
      const res = await http().post('/v1/public/tickets').send(body).expect(201);
      return { id: res.body.ticket.ticket_id, token: res.body.access_token, body: res.body };
    },
    close: () => runtime.close(),
  };
}
