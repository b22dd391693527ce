/**
 * Login, sessions (refresh, logout, own password), who am I, and the admin's management of users and API
 * keys. No open registration.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { parse as parseCookies } from 'cookie';
import type { Request, RequestHandler } from 'express';
import { z } from 'zod';
import { Role, UserRole } from '../auth/principal.js';
import type { AuthService } from '../auth/service.js';
import { Email, NonBlank, Timestamp } from '../tickets/model.js';
import type { Idempotency } from './idempotency.js';
import type { RateLimiters } from './rate-limits.js';
import { ApiRouter } from './route.js';

const DEVICE_COOKIE = 'device_token';
const DeviceToken = z.string().max(512);
const Login = z
  .strictObject({
    email: Email,
    password: z.string().min(1).max(1024),
    device_token: DeviceToken.optional().meta({
      description: 'The token an earlier login on this device returned (or send the `device_token` cookie)',
    }),
  })
  .meta({ id: 'Login' });
const User = z.object({ email: z.email(), name: z.string(), role: UserRole }).meta({ id: 'User' });
const UserAccount = User.extend({
  active: z.boolean().meta({ description: 'A deactivated user cannot log in; their sessions ended' }),
  created_at: Timestamp,
  updated_at: Timestamp.optional(),
}).meta({ id: 'UserAccount' });
const UserList = z.object({ users: z.array(UserAccount) }).meta({ id: 'UserList' });
const UserParams = z.strictObject({ email: Email });
const UserPatch = z
  .strictObject({
    name: NonBlank(200).optional(),
    role: UserRole.optional(),
    active: z.boolean().optional(),
  })
  .refine((p) => Object.keys(p).length > 0, 'give at least one of name, role, active')
  .meta({ id: 'UserPatch' });
const Password = z.string().min(12, 'at least 12 characters').max(1024);
const PasswordReset = z.strictObject({ password: Password }).meta({ id: 'PasswordReset' });
const PasswordChange = z
  .strictObject({ current_password: z.string().min(1).max(1024), new_password: Password })
  .meta({ id: 'PasswordChange' });
const Refresh = z.strictObject({ refresh_token: z.string().min(1).max(256) }).meta({ id: 'Refresh' });
const ApiKeyListing = z
  .object({
    key_id: z.string().regex(/^[a-z0-9]{16}$/),
    name: z.string(),
    role: Role,
    prefix: z.string().meta({ description: 'How the key starts (`fk_<key_id>`); the secret part is never stored' }),
    created_at: Timestamp,
    last_used_at: Timestamp.nullable().meta({ description: 'Recorded at most once a minute' }),
  })
  .meta({ id: 'ApiKeyListing' });
const ApiKeyList = z.object({ api_keys: z.array(ApiKeyListing) }).meta({ id: 'ApiKeyList' });
const SessionTokens = z
  .object({
    access_token: z.string().meta({ description: 'A secret: send it as `Authorization: Bearer <token>`' }),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().min(1).meta({ description: 'Seconds until the token expires' }),
    refresh_token: z.string().meta({
      description: 'A secret, good for one use: `POST /v1/auth/refresh` exchanges it for new tokens',
    }),
    refresh_expires_in: z.number().int().min(1).meta({ description: 'Seconds until the session ends' }),
    user: User,
  })
  .meta({ id: 'SessionTokens' });
const LoginResult = SessionTokens.extend({
  device_token: DeviceToken.meta({
    description:
      'Identifies this device at the next login (also set as an HttpOnly cookie): failed attempts from other ' +
      'devices never lock it out',
  }),
}).meta({ id: 'LoginResult' });
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
    role: UserRole,
    password: Password,
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

/** The device token of a login: in the body, or the cookie an earlier login set. */
const presentedDevice = (req: Request): unknown =>
  (req.body as { device_token?: unknown } | undefined)?.device_token ??
  parseCookies(req.get('cookie') ?? '')[DEVICE_COOKIE];

export function authRouter(
  registry: OpenAPIRegistry,
  auth: AuthService,
  limits: RateLimiters,
  options: { secureCookies: boolean },
  idempotency?: Idempotency,
) {
  const tags: ['auth'] = ['auth'];
  /** Before the limiters: a device that logged in to this account before is counted on its own. */
  const identifyDevice: RequestHandler = (req, res, next) => {
    const email = (req.body as { email?: unknown } | undefined)?.email;
    res.locals.loginDevice = auth.devices.deviceOf(presentedDevice(req), email);
    next();
  };
  return new ApiRouter(registry, auth, idempotency)
    .add(
      {
        method: 'post',
        path: '/v1/auth/login',
        operationId: 'login',
        summary: 'Exchange an agent e-mail and password for a short-lived access token',
        description:
          'Failed attempts are limited per client address, and per account for devices that never logged in to ' +
          'it; a device that did (it presents the `device_token` of that login) has its own quota, so failures ' +
          'elsewhere never lock its owner out.',
        tags,
        access: 'none',
        limits: [identifyDevice, limits.loginPerClient, limits.loginPerAccount],
        body: Login,
        success: { status: 200, description: 'Logged in', schema: LoginResult, headers: ['Set-Cookie'] },
        errors: { 401: 'Unknown e-mail or wrong password' },
      },
      async ({ body, req, res }) => {
        const presented = presentedDevice(req);
        const result = await auth.login(
          body.email,
          body.password,
          typeof presented === 'string' ? presented : undefined,
          req.ip,
        );
        res.cookie(DEVICE_COOKIE, result.device_token, {
          httpOnly: true,
          secure: options.secureCookies,
          sameSite: 'strict',
          // Sent back to the login only: no other route needs it.
          path: '/v1/auth/login',
          maxAge: 365 * 86_400_000,
        });
        res.json(result);
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
        const { kind, id, name, role, email } = principal;
        res.json({ kind, id, name, role, ...(email && { email }) });
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/auth/refresh',
        operationId: 'refreshSession',
        summary: 'Exchange a refresh token for a new access token and the next refresh token',
        description:
          'Each refresh token works once. Presenting one that was already used ends its session (it was copied).',
        tags,
        access: 'none',
        body: Refresh,
        success: { status: 200, description: 'Refreshed', schema: SessionTokens },
        errors: { 401: 'Invalid, expired or reused refresh token, or the account was deactivated' },
      },
      async ({ body, res }) => {
        res.json(await auth.refresh(body.refresh_token));
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/auth/logout',
        operationId: 'logout',
        summary: 'End the session of the presented access token (every task refuses it within seconds)',
        tags,
        access: 'agent',
        success: { status: 204, description: 'Logged out' },
        errors: { 400: 'The credential is an API key or the bootstrap key, which have no session' },
      },
      async ({ principal, res }) => {
        await auth.logout(principal);
        res.status(204).end();
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/auth/password',
        operationId: 'changeOwnPassword',
        summary: 'Change your own password (needs the current one); your other sessions end',
        tags,
        access: 'agent',
        body: PasswordChange,
        success: { status: 204, description: 'Changed' },
        errors: {
          403: 'The credential is not an agent session',
          409: 'The account was changed at the same moment; try again',
        },
      },
      async ({ body, principal, res }) => {
        await auth.changeOwnPassword(principal, body.current_password, body.new_password);
        res.status(204).end();
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/users',
        operationId: 'listUsers',
        summary: 'Every account, active or not, by e-mail',
        tags,
        access: 'admin',
        success: { status: 200, description: 'The accounts', schema: UserList },
      },
      async ({ res }) => {
        res.json({ users: await auth.listUsers() });
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/users/{email}',
        operationId: 'getUser',
        summary: 'One account',
        tags,
        access: 'admin',
        params: UserParams,
        success: { status: 200, description: 'The account', schema: UserAccount },
        errors: { 404: 'No user with this e-mail' },
      },
      async ({ params, res }) => {
        res.json(await auth.getUser(params.email));
      },
    )
    .add(
      {
        method: 'patch',
        path: '/v1/users/{email}',
        operationId: 'updateUser',
        summary: 'Rename, change the role of, deactivate or reactivate an account',
        description:
          "Deactivation and a change of role end the user's sessions: every task refuses their tokens within seconds.",
        tags,
        access: 'admin',
        params: UserParams,
        body: UserPatch,
        success: { status: 200, description: 'The updated account', schema: UserAccount },
        errors: {
          404: 'No user with this e-mail',
          409: 'An admin cannot deactivate or demote their own account, or the account was changed at the same moment',
        },
      },
      async ({ params, body, principal, res }) => {
        res.json(await auth.updateUser(params.email, body, principal));
      },
    )
    .add(
      {
        method: 'delete',
        path: '/v1/users/{email}',
        operationId: 'deleteUser',
        summary: 'Delete an account; its sessions end within seconds',
        description: 'Tickets keep the e-mail of the agent they were assigned to.',
        tags,
        access: 'admin',
        params: UserParams,
        success: { status: 204, description: 'Deleted' },
        errors: { 404: 'No user with this e-mail', 409: 'An admin cannot delete their own account' },
      },
      async ({ params, principal, res }) => {
        await auth.deleteUser(params.email, principal);
        res.status(204).end();
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/users/{email}/password',
        operationId: 'resetUserPassword',
        summary: "Set a user's password (forgotten password); every session of the user ends",
        tags,
        access: 'admin',
        params: UserParams,
        body: PasswordReset,
        success: { status: 204, description: 'Set' },
        errors: { 404: 'No user with this e-mail', 409: 'The account was changed at the same moment; try again' },
      },
      async ({ params, body, principal, res }) => {
        await auth.resetPassword(params.email, body.password, principal);
        res.status(204).end();
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
        idempotent: true,
        success: { status: 201, description: 'Created', schema: UserAccount },
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
        idempotent: true,
        success: { status: 201, description: 'Created', schema: ApiKeyCreated },
        errors: { 409: 'Key id collision (vanishingly rare); retry' },
      },
      async ({ body, principal, res }) => {
        res.status(201).json(await auth.createApiKey(body, principal));
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/api-keys',
        operationId: 'listApiKeys',
        summary: 'Every API key: name, role, prefix, creation and last use (never the key itself)',
        tags,
        access: 'admin',
        success: { status: 200, description: 'The keys', schema: ApiKeyList },
      },
      async ({ res }) => {
        res.json({ api_keys: await auth.listApiKeys() });
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
      async ({ params, principal, res }) => {
        await auth.deleteApiKey(params.key_id, principal);
        res.status(204).end();
      },
    ).router;
}
