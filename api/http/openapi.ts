/** The OpenAPI 3.1 document, generated from the route specs (the same zod schemas that validate requests). */
import { type OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';

export function registerSecuritySchemes(registry: OpenAPIRegistry): void {
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
}

export function openApiDocument(registry: OpenAPIRegistry) {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Freeda support API',
      version: '1.0.0',
      description: 'Tickets from customers, worked by agents and support tools.',
    },
    servers: [{ url: '/' }],
  });
}
