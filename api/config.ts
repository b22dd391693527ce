/**
 * Environment -> typed, validated configuration. The only module that reads `process.env`.
 * An invalid setting stops the process at start with one line naming the variable and what is wrong.
 */
import { z } from 'zod';
import { CONTAINER_PORT, ENV, PROXY_HOPS_ON_AWS, SECRET_ENV, SSE_HEARTBEAT_MS } from './contract.js';
import { eventsTable, principalsTable, rateLimitsTable, ticketsTable, webhooksTable } from './db/tables.js';
import { secretWeakness } from './secret-strength.js';

export type DynamoMode =
  /** DynamoDB Local started by the service, persisted under DATA_DIR, tables created at start (laptop, CI). */
  | 'embedded'
  /** An explicit DynamoDB-compatible endpoint (tables must exist: `npm run db:create-tables`). */
  | 'endpoint'
  /** The real AWS endpoint from the SDK's region and credential chain. */
  | 'aws';

export interface Config {
  production: boolean;
  port: number;
  http: {
    /** Interface to listen on: loopback on a laptop, every interface in the container. */
    host: string;
    /** Headers and body of one request must arrive within this. */
    requestTimeoutMs: number;
    /** Open sockets per task; more are closed on arrival. */
    maxConnections: number;
  };
  logLevel: string;
  awsRegion: string | undefined;
  dynamo: { mode: DynamoMode; endpoint: string | undefined; timeoutMs: number };
  /** Real table names by table suffix (api/db/tables.ts). */
  tables: { tickets: string; principals: string; ratelimits: string; events: string; webhooks: string };
  /** How long the event log keeps an event (TTL), in days. */
  eventsRetentionDays: number;
  /** How long the account audit trail keeps an event (TTL). */
  auditRetentionDays: number;
  events: {
    /** Window re-read by every feed reader; longer than a write's deadline (DESIGN 3b). */
    lookbackMs: number;
    /** Pause between two feed Queries while a stream is open. */
    pollMs: number;
    /** Comment line on an idle stream, so proxies keep it open. */
    heartbeatMs: number;
  };
  webhooks: {
    /** Deadline of one delivery attempt (connection, answer and body). */
    timeoutMs: number;
    /** Delay before the first retry; doubles with each failed attempt (with jitter). */
    retryBaseMs: number;
    /** Receivers on private, loopback or link-local addresses (and plain http) are allowed. */
    allowPrivateUrls: boolean;
  };
  /**
   * Per client (IP) or per account, shared across tasks through the rate-limits table; the integration limits
   * are per API key (a bridge serves every customer of its channel from one address).
   */
  rateLimits: {
    ticketsPerHour: number;
    messagesPerMinute: number;
    loginsPerAccount: number;
    loginsPerClient: number;
    integrationTicketsPerHour: number;
    integrationMessagesPerMinute: number;
  };
  dataDir: string;
  bootstrapAdminKey: string | undefined;
  tokenSigningKey: string | undefined;
  tokenTtlSeconds: number;
  /** Life of a login session: its refresh token may be used until then. */
  refreshTokenTtlSeconds: number;
  corsOrigins: string[];
  trustProxyHops: number;
  shutdownDelayMs: number;
  /** The health routes' table check runs at most this often per task (0: on every request). */
  healthCheckIntervalMs: number;
  mistral: {
    apiKey: string | undefined;
    model: string;
    serverUrl: string | undefined;
    /** Deadline of one call made outside a customer's request (analysis, suggestions, embeddings). */
    timeoutMs: number;
    /** Calls in flight at once per task. */
    maxConcurrency: number;
    /** Open circuit -> half-open (one probe) after this long. */
    breakerResetMs: number;
    /** Calls in the rolling window before the failure rate may open the circuit. */
    breakerMinCalls: number;
  };
  assistant: {
    /** Budget of the model's reply inside the customer's request; the acknowledgement after it. */
    replyTimeoutMs: number;
    /** Pause between two looks at the pending-analysis queue. */
    analysisPollMs: number;
    /** First retry delay of a failed analysis (doubles up to 10 minutes). */
    analysisRetryMs: number;
    /** Cosine similarity from which a FAQ entry is given to the reply. */
    knowledgeMinScore: number;
  };
  alertsTopicArn: string | undefined;
  /** Days after closing during which a customer's message reopens the ticket; later, a new ticket is needed. */
  reopenWindowDays: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `expected a whole number between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`));

const fraction = z
  .string()
  .regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'expected a number from 0 to 1')
  .transform(Number);
const secret = z
  .string()
  .min(32, 'expected at least 32 characters')
  .superRefine((value, ctx) => {
    if (value.length < 32) return;
    const weakness = secretWeakness(value);
    if (weakness) ctx.addIssue({ code: 'custom', message: weakness });
  });
const tableName = z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'expected a DynamoDB table name ([A-Za-z0-9_.-], 3-255)');
// `*` and bare hosts are not URLs: checked without `new URL` throwing, so the error stays one line.
const origin = z
  .string()
  .refine(
    (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol) && new URL(u).origin === u,
    'expected an origin such as https://support.example.com (scheme and host, no path, no *)',
  );

/** Each setting: its variable and a parser; defaults depend on NODE_ENV, so they are applied below. */
const schema = {
  [ENV.nodeEnv]: z.enum(['development', 'test', 'production']).optional(),
  [ENV.port]: int(0, 65535).optional(),
  [ENV.host]: z
    .string()
    .regex(/^[0-9a-fA-F.:]+$|^localhost$/, 'expected an IP address such as 127.0.0.1 or 0.0.0.0')
    .optional(),
  [ENV.requestTimeoutMs]: int(100, 300_000).optional(),
  [ENV.maxConnections]: int(1, 100_000).optional(),
  [ENV.logLevel]: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).optional(),
  [ENV.awsRegion]: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as eu-west-3')
    .optional(),
  [ENV.dynamodbEndpoint]: z.url('expected a URL such as http://127.0.0.1:8000').optional(),
  [ENV.dynamodbTimeoutMs]: int(100, 60_000).optional(),
  [ticketsTable.envVar]: tableName.optional(),
  [principalsTable.envVar]: tableName.optional(),
  [rateLimitsTable.envVar]: tableName.optional(),
  [eventsTable.envVar]: tableName.optional(),
  [webhooksTable.envVar]: tableName.optional(),
  [ENV.eventsRetentionDays]: int(1, 3650).optional(),
  [ENV.auditRetentionDays]: int(1, 3650).optional(),
  [ENV.eventsLookbackMs]: int(100, 600_000).optional(),
  [ENV.eventsPollMs]: int(10, 60_000).optional(),
  // Never above the default: the ALB idle timeout is derived from it.
  [ENV.sseHeartbeatMs]: int(100, SSE_HEARTBEAT_MS).optional(),
  [ENV.webhookTimeoutMs]: int(100, 60_000).optional(),
  [ENV.webhookRetryBaseMs]: int(1, 3_600_000).optional(),
  [ENV.webhooksAllowPrivateUrls]: z.enum(['true', 'false'], 'expected true or false').optional(),
  [ENV.rateLimitTicketsPerHour]: int(1, 1_000_000).optional(),
  [ENV.rateLimitMessagesPerMinute]: int(1, 1_000_000).optional(),
  [ENV.rateLimitLoginsPerAccount]: int(1, 1_000_000).optional(),
  [ENV.rateLimitLoginsPerClient]: int(1, 1_000_000).optional(),
  [ENV.rateLimitIntegrationTicketsPerHour]: int(1, 1_000_000).optional(),
  [ENV.rateLimitIntegrationMessagesPerMinute]: int(1, 1_000_000).optional(),
  [ENV.dataDir]: z.string().min(1).optional(),
  [ENV.bootstrapAdminKey]: secret.optional(),
  [ENV.tokenSigningKey]: secret.optional(),
  [ENV.tokenTtlSeconds]: int(60, 86_400).optional(),
  [ENV.refreshTokenTtlSeconds]: int(300, 90 * 86_400).optional(),
  [ENV.corsOrigins]: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(z.array(origin))
    .optional(),
  [ENV.trustProxyHops]: int(0, 5).optional(),
  [ENV.allowNoProxy]: z.enum(['true', 'false'], 'expected true or false').optional(),
  [ENV.shutdownDelayMs]: int(0, 20_000).optional(),
  [ENV.healthCheckIntervalMs]: int(0, 60_000).optional(),
  [ENV.mistralApiKey]: z.string().min(1).optional(),
  [ENV.mistralModel]: z.string().min(1).optional(),
  [ENV.mistralServerUrl]: z.url('expected a URL').optional(),
  [ENV.mistralTimeoutMs]: int(100, 120_000).optional(),
  [ENV.mistralMaxConcurrency]: int(1, 64).optional(),
  [ENV.mistralBreakerResetMs]: int(100, 600_000).optional(),
  [ENV.mistralBreakerMinCalls]: int(1, 1000).optional(),
  [ENV.assistantReplyTimeoutMs]: int(100, 30_000).optional(),
  [ENV.assistantAnalysisPollMs]: int(10, 300_000).optional(),
  [ENV.assistantAnalysisRetryMs]: int(10, 600_000).optional(),
  [ENV.assistantKnowledgeMinScore]: fraction.optional(),
  [ENV.reopenWindowDays]: int(0, 365).optional(),
  [ENV.alertsTopicArn]: z
    .string()
    .regex(/^arn:aws[a-z-]*:sns:/, 'expected an SNS topic ARN')
    .optional(),
};

type Parsed = { [K in keyof typeof schema]: z.output<(typeof schema)[K]> };

export interface LoadOptions {
  /**
   * false for operator tools (migration, benchmarks) that use the table settings but never sign tokens:
   * they may target AWS (NODE_ENV=production) without the service's signing key.
   */
  service?: boolean;
}

export function loadConfig(env: Env = process.env, { service = true }: LoadOptions = {}): Config {
  const raw = Object.fromEntries(Object.keys(schema).map((k) => [k, env[k] === '' ? undefined : env[k]]));
  const result = z.object(schema).safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    const name = String(issue?.path[0] ?? '?');
    // A secret's value never reaches a log line, even when it is wrong.
    const got = (SECRET_ENV as readonly string[]).includes(name) ? 'value hidden' : `got ${JSON.stringify(raw[name])}`;
    throw new ConfigError(`Invalid configuration: ${name}: ${issue?.message} (${got})`);
  }
  const v = result.data as Parsed;
  const production = v[ENV.nodeEnv] === 'production';
  const endpoint = v[ENV.dynamodbEndpoint];
  const mode: DynamoMode = endpoint ? 'endpoint' : production ? 'aws' : 'embedded';
  if (service && production && !v[ENV.tokenSigningKey]) {
    throw new ConfigError(`Invalid configuration: ${ENV.tokenSigningKey}: required when NODE_ENV=production`);
  }
  if (v[ENV.bootstrapAdminKey] !== undefined && v[ENV.bootstrapAdminKey] === v[ENV.tokenSigningKey]) {
    throw new ConfigError(
      `Invalid configuration: ${ENV.bootstrapAdminKey}: must differ from ${ENV.tokenSigningKey} (value hidden)`,
    );
  }
  // Behind the ALB, 0 hops makes every client share the ALB's address: one rate-limit bucket for the world.
  if (production && v[ENV.trustProxyHops] === 0 && v[ENV.allowNoProxy] !== 'true') {
    throw new ConfigError(
      `Invalid configuration: ${ENV.trustProxyHops}: 0 in production puts every client behind the load ` +
        `balancer in one rate-limit bucket; set ${ENV.allowNoProxy}=true if clients really reach the service directly`,
    );
  }
  return {
    production,
    port: v[ENV.port] ?? CONTAINER_PORT,
    http: {
      // The container must answer the ALB on its own interface; a laptop keeps the service to itself.
      host: v[ENV.host] ?? (production ? '0.0.0.0' : '127.0.0.1'),
      requestTimeoutMs: v[ENV.requestTimeoutMs] ?? 30_000,
      maxConnections: v[ENV.maxConnections] ?? 1024,
    },
    logLevel: v[ENV.logLevel] ?? 'info',
    awsRegion: v[ENV.awsRegion],
    dynamo: { mode, endpoint, timeoutMs: v[ENV.dynamodbTimeoutMs] ?? 3000 },
    tables: {
      tickets: (v[ticketsTable.envVar] as string | undefined) ?? ticketsTable.defaultName,
      principals: (v[principalsTable.envVar] as string | undefined) ?? principalsTable.defaultName,
      ratelimits: (v[rateLimitsTable.envVar] as string | undefined) ?? rateLimitsTable.defaultName,
      events: (v[eventsTable.envVar] as string | undefined) ?? eventsTable.defaultName,
      webhooks: (v[webhooksTable.envVar] as string | undefined) ?? webhooksTable.defaultName,
    },
    eventsRetentionDays: (v[ENV.eventsRetentionDays] as number | undefined) ?? 30,
    auditRetentionDays: (v[ENV.auditRetentionDays] as number | undefined) ?? 365,
    events: {
      // A write gives up after its attempts (3 x DYNAMODB_TIMEOUT_MS) plus back-off: a margin above that.
      lookbackMs:
        (v[ENV.eventsLookbackMs] as number | undefined) ??
        3 * ((v[ENV.dynamodbTimeoutMs] as number | undefined) ?? 3000) + 5000,
      pollMs: (v[ENV.eventsPollMs] as number | undefined) ?? 300,
      heartbeatMs: (v[ENV.sseHeartbeatMs] as number | undefined) ?? SSE_HEARTBEAT_MS,
    },
    webhooks: {
      timeoutMs: (v[ENV.webhookTimeoutMs] as number | undefined) ?? 10_000,
      retryBaseMs: (v[ENV.webhookRetryBaseMs] as number | undefined) ?? 30_000,
      // In production only public https receivers: an admin must not make the service call into its own VPC.
      allowPrivateUrls: v[ENV.webhooksAllowPrivateUrls] ? v[ENV.webhooksAllowPrivateUrls] === 'true' : !production,
    },
    // The legacy limits: 5 tickets an hour and 20 messages a minute per client.
    rateLimits: {
      ticketsPerHour: (v[ENV.rateLimitTicketsPerHour] as number | undefined) ?? 5,
      messagesPerMinute: (v[ENV.rateLimitMessagesPerMinute] as number | undefined) ?? 20,
      loginsPerAccount: (v[ENV.rateLimitLoginsPerAccount] as number | undefined) ?? 10,
      loginsPerClient: (v[ENV.rateLimitLoginsPerClient] as number | undefined) ?? 50,
      // A bridge opens tickets for a whole channel: a guard against a runaway loop, not a customer's quota.
      integrationTicketsPerHour: (v[ENV.rateLimitIntegrationTicketsPerHour] as number | undefined) ?? 1200,
      integrationMessagesPerMinute: (v[ENV.rateLimitIntegrationMessagesPerMinute] as number | undefined) ?? 600,
    },
    dataDir: v[ENV.dataDir] ?? '.data',
    bootstrapAdminKey: v[ENV.bootstrapAdminKey],
    tokenSigningKey: v[ENV.tokenSigningKey],
    tokenTtlSeconds: v[ENV.tokenTtlSeconds] ?? 900,
    // A working week: an agent logs in again on Monday.
    refreshTokenTtlSeconds: v[ENV.refreshTokenTtlSeconds] ?? 7 * 86_400,
    corsOrigins: v[ENV.corsOrigins] ?? [],
    trustProxyHops: v[ENV.trustProxyHops] ?? (production ? PROXY_HOPS_ON_AWS : 0),
    shutdownDelayMs: v[ENV.shutdownDelayMs] ?? (production ? 5000 : 100),
    // The ALB asks every few seconds per task, and anyone may ask: in production the check is shared.
    healthCheckIntervalMs: v[ENV.healthCheckIntervalMs] ?? (production ? 5000 : 0),
    mistral: {
      apiKey: v[ENV.mistralApiKey],
      model: v[ENV.mistralModel] ?? 'mistral-small-latest',
      serverUrl: v[ENV.mistralServerUrl],
      timeoutMs: v[ENV.mistralTimeoutMs] ?? 15_000,
      maxConcurrency: v[ENV.mistralMaxConcurrency] ?? 4,
      breakerResetMs: v[ENV.mistralBreakerResetMs] ?? 30_000,
      breakerMinCalls: v[ENV.mistralBreakerMinCalls] ?? 5,
    },
    assistant: {
      replyTimeoutMs: v[ENV.assistantReplyTimeoutMs] ?? 4000,
      analysisPollMs: v[ENV.assistantAnalysisPollMs] ?? 2000,
      analysisRetryMs: v[ENV.assistantAnalysisRetryMs] ?? 5000,
      knowledgeMinScore: v[ENV.assistantKnowledgeMinScore] ?? 0.75,
    },
    alertsTopicArn: v[ENV.alertsTopicArn],
    reopenWindowDays: (v[ENV.reopenWindowDays] as number | undefined) ?? 7,
  };
}
