/**
 * The few lines a developer reads after `npm start` (never in production, where stdout is JSON only):
 * where the service answers, where its reference is, where the bootstrap admin key is.
 */
import { resolve } from 'node:path';
import type { Config } from './config.js';
import type { BootstrapKey } from './db/bootstrap.js';

export function startupBanner({
  port,
  config,
  bootstrapKey,
}: {
  port: number;
  config: Config;
  bootstrapKey: BootstrapKey;
}): string {
  const url = `http://localhost:${port}`;
  const database =
    config.dynamo.mode === 'embedded'
      ? `DynamoDB Local, data in ${resolve(config.dataDir)}`
      : config.dynamo.mode === 'endpoint'
        ? `DynamoDB at ${config.dynamo.endpoint}`
        : 'DynamoDB on AWS';
  const lines = ['', `Freeda API listening on ${url}`, `  API reference: ${url}/docs`, `  Database:      ${database}`];
  switch (bootstrapKey.source) {
    case 'generated':
      lines.push(
        `  Bootstrap admin key (shown once, kept in ${bootstrapKey.path}):`,
        `    ${bootstrapKey.value}`,
        '  Use it as "Authorization: Bearer <key>" to create users (POST /v1/users) and API keys (POST /v1/api-keys).',
      );
      break;
    case 'data-dir':
      lines.push(`  Bootstrap admin key: in ${bootstrapKey.path}`);
      break;
    case 'configured':
      lines.push('  Bootstrap admin key: the value of BOOTSTRAP_ADMIN_KEY');
      break;
    case 'none':
      break;
  }
  lines.push('  Stop with Ctrl-C.', '');
  return `${lines.join('\n')}\n`;
}
