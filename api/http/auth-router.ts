/** Login, who am I, and the admin's creation of users and API keys. No open registration. */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { Role } from '../auth/principal.js';
import type { AuthService } from '../auth/service.js';
import { Email, NonBlank, Timestamp } from '../tickets/model.js';
import type { RateLimiters } from './rate-limits.js';
import { ApiRouter } from './route.js';

const Login = z.strictObject({ email: Email, password: z.string().min(1).max(1024) }).meta({ id: 'Login' });
const User = z.object({ email: z.email(), name: z.string(), role: Role }).meta({ id: 'User' });
const CreatedUser = User.extend({ created_at: Timestamp }).meta({ id: 'CreatedUser' });
const LoginResult = z
  .object({
    access_token: z.string().meta({ description: 'A secret: send it as `Authorization: Bearer <token>`' }),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().min(1).meta({ description: 'Seconds until the token expires' }),
    user: User,
  })
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
    name: NonBlank(200),
    role: Role,
    password: z.string().min(12, 'at least 12 characters').max(1024),
  })
  .meta({ id: 'NewUser' });
const NewApiKey = z.strictObject({ name: NonBlank(200), role: Role }).meta({ id: 'NewApiKey' });
const ApiKeyCreated = z
  .object({
    key_id: z.string().regex(/^[a-z0-9]{16}$/),
    name: z.string(),
    role: Role,
    created_at: Timestamp,
    api_key: z.string().meta({ description: 'Shown once; only its hash is stored' }),
  })
  .meta({ id: 'ApiKeyCreated' });

export function authRouter(registry: OpenAPIRegistry, auth: AuthService, limits: RateLimiters) {
  const tags: ['auth'] = ['auth'];
  return new ApiRouter(registry, auth)
    .add(
      {
        method: 'post',
        path: '/v1/auth/login',
        operationId: 'login',
        summary: 'Exchange an agent e-mail and password for a short-lived access token',
        description: 'Rate limited per client address and per account.',
        tags,
        access: 'none',
        limits: [limits.loginPerClient, limits.loginPerAccount],
        body: Login,
        success: { status: 200, description: 'Logged in', schema: LoginResult },
        errors: { 401: 'Unknown e-mail or wrong password' },
      },
      async ({ body, res }) => {
        res.json(await auth.login(body.email, body.password));
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/auth/me',
        operationId: 'getMe',
        summary: 'The caller behind the credential',
        tags,
        access: 'agent',
        success: { status: 200, description: 'The caller', schema: Me },
      },
      ({ principal, res }) => {
        res.json(principal);
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/users',
        operationId: 'createUser',
        summary: 'Create an agent, manager or admin account',
        tags,
        access: 'admin',
        body: NewUser,
        success: { status: 201, description: 'Created', schema: CreatedUser },
        errors: { 409: 'A user with this e-mail exists' },
      },
      async ({ body, principal, res }) => {
        res.status(201).json(await auth.createUser(body, principal));
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/api-keys',
        operationId: 'createApiKey',
        summary: 'Create an API key for a support tool (the key is shown once)',
        tags,
        access: 'admin',
        body: NewApiKey,
        success: { status: 201, description: 'Created', schema: ApiKeyCreated },
        errors: { 409: 'Key id collision (vanishingly rare); retry' },
      },
      async ({ body, principal, res }) => {
        res.status(201).json(await auth.createApiKey(body, principal));
      },
    )
    .add(
      {
        method: 'delete',
        path: '/v1/api-keys/{key_id}',
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key',
        tags,
        access: 'admin',
        params: z.strictObject({ key_id: z.string().regex(/^[a-z0-9]{16}$/, 'not a key id') }),
        success: { status: 204, description: 'Revoked' },
        errors: { 404: 'No API key with this id' },
      },
      async ({ params, res }) => {
        await auth.deleteApiKey(params.key_id);
        res.status(204).end();
      },
    ).router;
}
