/** Login, who am I, and the admin's creation of users and API keys. No open registration. */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { Role } from '../auth/principal.js';
import type { AuthService } from '../auth/service.js';
import { Email } from '../tickets/model.js';
import type { Idempotency } from './idempotency.js';
import type { RateLimiters } from './rate-limits.js';
import { errors, ok } from './responses.js';
import { ApiRouter } from './route.js';

const Login = z.strictObject({ email: Email, password: z.string().min(1).max(1024) }).meta({ id: 'Login' });
const User = z.object({ email: z.string(), name: z.string(), role: Role }).meta({ id: 'User' });
const LoginResult = z
  .object({ access_token: z.string(), token_type: z.literal('Bearer'), expires_in: z.number().int(), user: User })
  .meta({ id: 'LoginResult' });
const Me = z
  .object({
    kind: z.enum(['user', 'api_key', 'bootstrap']),
    id: z.string(),
    name: z.string(),
    role: Role,
    email: z.string().optional(),
  })
  .meta({ id: 'Me' });
const NewUser = z
  .strictObject({
    email: Email,
    name: z.string().trim().min(1).max(200),
    role: Role,
    password: z.string().min(12, 'at least 12 characters').max(1024),
  })
  .meta({ id: 'NewUser' });
const NewApiKey = z.strictObject({ name: z.string().trim().min(1).max(200), role: Role }).meta({ id: 'NewApiKey' });
const ApiKeyCreated = z
  .object({
    key_id: z.string(),
    name: z.string(),
    role: Role,
    created_at: z.string(),
    api_key: z.string().meta({ description: 'Shown once; only its hash is stored' }),
  })
  .meta({ id: 'ApiKeyCreated' });

export function authRouter(
  registry: OpenAPIRegistry,
  auth: AuthService,
  limits: RateLimiters,
  idempotency?: Idempotency,
) {
  const tags = ['auth'];
  return new ApiRouter(registry, auth, idempotency)
    .add(
      {
        method: 'post',
        path: '/v1/auth/login',
        summary: 'Exchange an agent e-mail and password for a short-lived access token',
        tags,
        access: 'none',
        limits: [limits.loginPerClient, limits.loginPerAccount],
        body: Login,
        responses: { ...ok(200, 'Logged in', LoginResult), ...errors(400, 401, 415, 429) },
      },
      async ({ body, res }) => {
        res.json(await auth.login(body.email, body.password));
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/auth/me',
        summary: 'The caller behind the credential',
        tags,
        access: 'agent',
        responses: { ...ok(200, 'The caller', Me), ...errors(401) },
      },
      ({ principal, res }) => {
        res.json(principal);
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/users',
        summary: 'Create an agent, manager or admin account',
        tags,
        access: 'admin',
        body: NewUser,
        idempotent: true,
        responses: {
          ...ok(201, 'Created', User.extend({ created_at: z.string() })),
          ...errors(400, 401, 403, 409, 415),
        },
      },
      async ({ body, principal, res }) => {
        res.status(201).json(await auth.createUser(body, principal));
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/api-keys',
        summary: 'Create an API key for a support tool (the key is shown once)',
        tags,
        access: 'admin',
        body: NewApiKey,
        idempotent: true,
        responses: { ...ok(201, 'Created', ApiKeyCreated), ...errors(400, 401, 403, 415) },
      },
      async ({ body, principal, res }) => {
        res.status(201).json(await auth.createApiKey(body, principal));
      },
    )
    .add(
      {
        method: 'delete',
        path: '/v1/api-keys/{key_id}',
        summary: 'Revoke an API key',
        tags,
        access: 'admin',
        params: z.strictObject({ key_id: z.string().regex(/^[a-z0-9]{16}$/, 'not a key id') }),
        responses: { 204: { description: 'Revoked' }, ...errors(400, 401, 403, 404) },
      },
      async ({ params, res }) => {
        await auth.deleteApiKey(params.key_id);
        res.status(204).end();
      },
    ).router;
}
