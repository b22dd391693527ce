/**
 * The responses every operation documents: its success, and each error status the declaration implies (a
 * body means 400/413/415, a role means 401/403...) plus those the handler raises. The headers the service
 * sends are components referenced from each response, so a generated client sees every one of them.
 */
import type { ResponseConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Stable machine-readable code, such as invalid_request or not_found' }),
      message: z.string().meta({ description: 'A sentence for people; may change' }),
      request_id: z.string().nullable().meta({ description: 'Also in the x-request-id header and the logs' }),
      details: z
        .array(
          z.object({
            path: z.string().meta({
              description:
                'Where the fault is: `params.<name>`, `query.<name>`, `headers.<name>` or `body.<field>`, ' +
                'nested fields and array indices joined with dots (`body.tags.3`); a rule over the whole ' +
                'part names the part alone (`body`). Readiness failures name the check (`checks.dynamodb`).',
              example: 'query.limit',
            }),
            message: z.string(),
          }),
        )
        .optional()
        .meta({ description: 'One entry per fault (validation errors)' }),
    }),
  })
  .meta({ id: 'Error' });

export const ERROR_STATUSES = [400, 401, 403, 404, 409, 412, 413, 415, 422, 428, 429, 503] as const;
export type ErrorStatus = (typeof ERROR_STATUSES)[number];

export const ERROR_TEXT: Record<ErrorStatus, string> = {
  400: 'Invalid request: malformed JSON, or a field, parameter or header that breaks a rule (see details)',
  401: 'Missing, invalid or expired credential',
  403: 'The role of the credential does not allow this action',
  404: 'Not found (also: a ticket token that does not open this ticket)',
  409: 'Conflicts with the current state',
  412: 'If-Match names a version that is no longer the current one',
  413: 'The body is larger than 64 KiB',
  415: 'The body is not application/json (UTF-8), or its Content-Encoding is not supported',
  422: 'Well-formed, but cannot be processed as sent',
  428: 'If-Match is required',
  429: 'Rate limited: retry after Retry-After seconds',
  503: 'A dependency (DynamoDB, the assistant) is unavailable: retry after Retry-After seconds',
};

/** Response headers, declared once under components/headers. */
export const RESPONSE_HEADERS = {
  'x-request-id': {
    description: 'The request id: the one sent in x-request-id when well-formed, a new UUID otherwise',
    required: true,
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
  },
  'Cache-Control': {
    description: 'API responses carry personal data and credentials: no cache may store them',
    required: true,
    schema: { type: 'string', enum: ['no-store'] },
  },
  ETag: {
    description: "The ticket's version, for If-Match",
    required: true,
    schema: { type: 'string', pattern: '^"\\d+"$', example: '"3"' },
  },
  Location: {
    description: 'The URL of the created resource',
    required: true,
    schema: { type: 'string', format: 'uri-reference' },
  },
  'Retry-After': {
    description: 'Seconds to wait before retrying',
    required: true,
    schema: { type: 'integer', minimum: 0 },
  },
  'WWW-Authenticate': {
    description: 'The authentication scheme to use',
    required: true,
    schema: { type: 'string', pattern: '^Bearer' },
  },
  RateLimit: {
    description:
      'Remaining quota of the limiter that counted the request (IETF draft-ietf-httpapi-ratelimit-headers-08), ' +
      'such as `"tickets";r=4;t=3600`: r requests left, t seconds until the window resets. Sent once the ' +
      'limiter has counted the request (not when the body was refused before, nor while its store is down).',
    required: false,
    schema: { type: 'string' },
  },
  'RateLimit-Policy': {
    description: 'The limiter\'s quota, such as `"tickets";q=5;w=3600`: q requests per w seconds. Sent with RateLimit.',
    required: false,
    schema: { type: 'string' },
  },
  'Set-Cookie': {
    description: 'The device token, `device_token=...; HttpOnly; SameSite=Strict` (and `Secure` in production)',
    required: true,
    schema: { type: 'string', pattern: '^device_token=' },
  },
  'Idempotent-Replayed': {
    description:
      'Present (`true`) when this is the stored response to an earlier request with the same Idempotency-Key, ' +
      'or (bridges) the answer to an earlier request with the same external_message_id: nothing was stored again',
    required: false,
    schema: { type: 'string', enum: ['true'] },
  },
  'Content-Disposition': {
    description: 'attachment, with a file name',
    required: true,
    schema: { type: 'string' },
  },
} as const;
export type ResponseHeader = keyof typeof RESPONSE_HEADERS;

/** Headers every response of every operation carries. */
const ALWAYS: ResponseHeader[] = ['x-request-id', 'Cache-Control'];

/**
 * A response's headers: a reference to the component when its `required` is the component's, an inline copy
 * otherwise (RateLimit is optional on most answers of a limited route, but always on its 429).
 */
function headersObject(required: ResponseHeader[], optional: ResponseHeader[] = []) {
  const headers: Record<string, unknown> = {};
  const put = (name: ResponseHeader, isRequired: boolean) => {
    const component = RESPONSE_HEADERS[name];
    headers[name] =
      component.required === isRequired
        ? { $ref: `#/components/headers/${name}` }
        : { ...component, required: isRequired };
  };
  for (const name of [...ALWAYS, ...required]) put(name, true);
  for (const name of optional) if (!(name in headers)) put(name, false);
  return headers as NonNullable<ResponseConfig['headers']>;
}

export interface SuccessSpec {
  status: 200 | 201 | 204;
  description: string;
  /** The JSON body; none for 204. */
  schema?: z.ZodType;
  /** A body that is not JSON (CSV, HTML): documented as a string of this media type. */
  mediaType?: 'text/csv' | 'text/html' | 'text/event-stream';
  /** Headers this response sends beyond x-request-id and Cache-Control. */
  headers?: ResponseHeader[];
}

const LIMITER_HEADERS: ResponseHeader[] = ['RateLimit', 'RateLimit-Policy'];

/** `optional`: headers this route may add to the response beyond the rate limiter's. */
export function successResponse(
  spec: SuccessSpec,
  rateLimited: boolean,
  optional: ResponseHeader[] = [],
): ResponseConfig {
  const content = spec.mediaType
    ? { [spec.mediaType]: { schema: z.string() } }
    : spec.schema
      ? { 'application/json': { schema: spec.schema } }
      : undefined;
  return {
    description: spec.description,
    headers: headersObject(spec.headers ?? [], [...(rateLimited ? LIMITER_HEADERS : []), ...optional]),
    ...(content && { content }),
  };
}

export function errorResponse(
  status: ErrorStatus,
  rateLimited: boolean,
  description?: string,
  optional: ResponseHeader[] = [],
): ResponseConfig {
  const required: ResponseHeader[] = [];
  if (status === 401) required.push('WWW-Authenticate');
  if (status === 429 || status === 503) required.push('Retry-After');
  if (status === 429) required.push(...LIMITER_HEADERS);
  return {
    description: description ?? ERROR_TEXT[status],
    headers: headersObject(required, [...(rateLimited ? LIMITER_HEADERS : []), ...optional]),
    content: { 'application/json': { schema: ErrorBody } },
  };
}
