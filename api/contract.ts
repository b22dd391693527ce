/**
 * The runtime contract between the service and whatever runs it (the Pulumi program, the image, the checks).
 * Everything here is imported by both sides, so a port, a health path or a variable name cannot drift.
 */

/** Port the container listens on; the ALB target group and the port mapping use the same number. */
export const CONTAINER_PORT = 3000;

export const HEALTH_PATHS = {
  /** Always 200: a summary of the service and its dependencies (degraded parts are reported, not fatal). */
  summary: '/health',
  /** 200 while the process serves HTTP; used by the container HEALTHCHECK. */
  live: '/health/live',
  /** 200 when the tables answer and the process is not shutting down; the ALB health check. */
  ready: '/health/ready',
} as const;

/** Environment variables the service reads (only api/config.ts reads process.env). */
export const ENV = {
  nodeEnv: 'NODE_ENV',
  port: 'PORT',
  logLevel: 'LOG_LEVEL',
  awsRegion: 'AWS_REGION',
  dynamodbEndpoint: 'DYNAMODB_ENDPOINT',
  dataDir: 'DATA_DIR',
  bootstrapAdminKey: 'BOOTSTRAP_ADMIN_KEY',
  tokenSigningKey: 'TOKEN_SIGNING_KEY',
  corsOrigins: 'CORS_ORIGINS',
  trustProxyHops: 'TRUST_PROXY_HOPS',
  allowNoProxy: 'ALLOW_NO_PROXY',
  healthCheckIntervalMs: 'HEALTH_CHECK_INTERVAL_MS',
  host: 'HOST',
  requestTimeoutMs: 'REQUEST_TIMEOUT_MS',
  maxConnections: 'MAX_CONNECTIONS',
  shutdownDelayMs: 'SHUTDOWN_DELAY_MS',
  dynamodbTimeoutMs: 'DYNAMODB_TIMEOUT_MS',
  eventsRetentionDays: 'EVENTS_RETENTION_DAYS',
  auditRetentionDays: 'AUDIT_RETENTION_DAYS',
  eventsLookbackMs: 'EVENTS_LOOKBACK_MS',
  eventsPollMs: 'EVENTS_POLL_MS',
  sseHeartbeatMs: 'SSE_HEARTBEAT_MS',
  webhookTimeoutMs: 'WEBHOOK_TIMEOUT_MS',
  webhookRetryBaseMs: 'WEBHOOK_RETRY_BASE_MS',
  webhooksAllowPrivateUrls: 'WEBHOOKS_ALLOW_PRIVATE_URLS',
  tokenTtlSeconds: 'TOKEN_TTL_SECONDS',
  refreshTokenTtlSeconds: 'REFRESH_TOKEN_TTL_SECONDS',
  mistralApiKey: 'MISTRAL_API_KEY',
  mistralModel: 'MISTRAL_MODEL',
  mistralServerUrl: 'MISTRAL_SERVER_URL',
  mistralTimeoutMs: 'MISTRAL_TIMEOUT_MS',
  mistralMaxConcurrency: 'MISTRAL_MAX_CONCURRENCY',
  mistralBreakerResetMs: 'MISTRAL_BREAKER_RESET_MS',
  mistralBreakerMinCalls: 'MISTRAL_BREAKER_MIN_CALLS',
  assistantReplyTimeoutMs: 'ASSISTANT_REPLY_TIMEOUT_MS',
  assistantAnalysisPollMs: 'ASSISTANT_ANALYSIS_POLL_MS',
  assistantAnalysisRetryMs: 'ASSISTANT_ANALYSIS_RETRY_MS',
  assistantKnowledgeMinScore: 'ASSISTANT_KB_MIN_SCORE',
  alertsTopicArn: 'ALERTS_TOPIC_ARN',
  rateLimitTicketsPerHour: 'RATE_LIMIT_TICKETS_PER_HOUR',
  rateLimitMessagesPerMinute: 'RATE_LIMIT_MESSAGES_PER_MINUTE',
  rateLimitLoginsPerAccount: 'RATE_LIMIT_LOGINS_PER_ACCOUNT',
  rateLimitLoginsPerClient: 'RATE_LIMIT_LOGINS_PER_CLIENT',
  rateLimitIntegrationTicketsPerHour: 'RATE_LIMIT_INTEGRATION_TICKETS_PER_HOUR',
  rateLimitIntegrationMessagesPerMinute: 'RATE_LIMIT_INTEGRATION_MESSAGES_PER_MINUTE',
  reopenWindowDays: 'REOPEN_WINDOW_DAYS',
} as const;

/** Secrets: injected from Secrets Manager by the task definition, never written in plain configuration. */
export const SECRET_ENV = [ENV.mistralApiKey, ENV.tokenSigningKey, ENV.bootstrapAdminKey] as const;

/**
 * Structured log events operators alarm on. Each is one JSON line `{"event": "<name>", ...}` on stdout;
 * the infra turns them into CloudWatch metrics with a metric filter on `$.event`.
 */
export const LOG_EVENTS = {
  churnAlert: 'churn_alert',
  /** A webhook subscription failed for days and was disabled. */
  webhookDisabled: 'webhook_disabled',
} as const;

/**
 * Shutdown budget. ECS sends SIGTERM after the ALB drained the task, waits `STOP_TIMEOUT_SECONDS`, then SIGKILLs.
 * readiness 503 for SHUTDOWN_DELAY_MS (<= 5 s in production) + in-flight grace + cleanup must fit well inside it.
 */
export const SHUTDOWN_GRACE_MS = 10_000;
export const STOP_TIMEOUT_SECONDS = 30;

/**
 * Idle budget of a connection, from the stream to the load balancer to the Node server (one chain, one place):
 * - a Server-Sent Events stream writes a heartbeat every SSE_HEARTBEAT_SECONDS, so an open stream is never idle
 *   long enough for the ALB to cut it: the ALB idle timeout leaves room for SSE_HEARTBEATS_PER_IDLE_TIMEOUT
 *   heartbeats (one late or lost write does not end the stream);
 * - Node's keep-alive outlives the ALB idle timeout, or the ALB reuses sockets the server already closed (502).
 */
export const SSE_HEARTBEAT_SECONDS = 15;
export const SSE_HEARTBEAT_MS = SSE_HEARTBEAT_SECONDS * 1000;
export const SSE_HEARTBEATS_PER_IDLE_TIMEOUT = 4;
/** ALB idle timeout (seconds), derived from the heartbeat: 60 s. */
export const ALB_IDLE_TIMEOUT_SECONDS = SSE_HEARTBEAT_SECONDS * SSE_HEARTBEATS_PER_IDLE_TIMEOUT;
/** Proxies in front of the service on AWS (the ALB): Express trusts exactly that many X-Forwarded-For hops. */
export const PROXY_HOPS_ON_AWS = 1;
export const KEEP_ALIVE_TIMEOUT_MS = (ALB_IDLE_TIMEOUT_SECONDS + 5) * 1000;
