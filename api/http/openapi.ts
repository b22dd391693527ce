/** The OpenAPI 3.1 document, generated from the route specs (the same zod schemas that validate requests). */
import { type OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { RESPONSE_HEADERS } from './responses.js';

/** Operation groups, in the order the reference shows them. */
export const TAGS = {
  public: 'Customers: open a ticket, read it, write on it, close it. The ticket access token is the credential.',
  tickets: 'Agents and support tools: the ticket queue and everything done to a ticket.',
  reports: "Managers' reports: CSV export and analytics.",
  auth: 'Login, the caller, and the accounts and API keys an admin creates.',
  health: 'Liveness, readiness and the state of each dependency.',
  events: 'The event log: the change feed, live streams and webhooks.',
  meta: 'This document and its interactive reference.',
} as const;
export type Tag = keyof typeof TAGS;

const DESCRIPTION = `Tickets from customers, worked by agents and support tools.

**Errors** all have one shape: \`{"error": {"code", "message", "request_id", "details"?}}\`. In validation errors
(400), each \`details[].path\` says where the fault is: \`params.<name>\`, \`query.<name>\`, \`headers.<name>\` or
\`body.<field>\`, nested fields and array indices joined with dots (\`body.tags.3\`); a rule over the whole part
names the part alone (\`body\`, for a PATCH without any field).

**Methods**: a method a path does not support gets 405 with an \`Allow\` header listing those it does (in the
same error shape); \`OPTIONS\` answers 204 with \`Allow\`. \`HEAD\` is supported wherever \`GET\` is.

**Concurrency**: a ticket's \`ETag\` is its version. \`PATCH\` needs \`If-Match\` with that ETag (428 without it,
412 when the ticket changed since), or \`If-Match: *\` to apply the change to whatever version is current.

**Caching**: every response carries \`Cache-Control: no-store\` (tickets hold personal data, some responses
credentials). **Tracing**: send \`x-request-id\` to choose the request id; every response echoes it.`;

export function registerComponents(registry: OpenAPIRegistry): void {
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'An agent access token from /v1/auth/login, or an API key (fk_...)',
  });
  registry.registerComponent('securitySchemes', 'ticketToken', {
    type: 'http',
    scheme: 'bearer',
    description: "The ticket's access token, returned once when the ticket was opened",
  });
  registry.registerComponent('parameters', 'RequestId', {
    name: 'x-request-id',
    in: 'header',
    required: false,
    description: 'Your id for this request (1-128 of A-Z a-z 0-9 . _ : -), echoed and logged; a new UUID otherwise',
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
  });
  for (const [name, header] of Object.entries(RESPONSE_HEADERS)) {
    registry.registerComponent('headers', name, header as never);
  }
}

export function openApiDocument(registry: OpenAPIRegistry) {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Freeda support API',
      version: '1.0.0',
      description: DESCRIPTION,
    },
    servers: [{ url: '/' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
  });
}
