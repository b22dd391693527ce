/** Canned responses: agents list, search and read them; managers create, change and delete them. */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { AuthService } from '../auth/service.js';
import {
  CannedListQuery,
  CannedResponsePage,
  CannedResponsePatch,
  CannedResponseView,
  NewCannedResponse,
} from '../canned/model.js';
import type { CannedResponses } from '../canned/service.js';
import { ApiRouter } from './route.js';

// Any string reaches the handler, which answers 404 for one that is no id (as for an id that is gone).
const CannedParams = z.strictObject({ id: z.string().max(64).meta({ example: 'cr_3f9a1c0b7d2e4f60' }) });
const NOT_FOUND = 'No canned response with this id';
const TAKEN = 'Another canned response has this shortcut';

export function cannedRouter(registry: OpenAPIRegistry, auth: AuthService, canned: CannedResponses) {
  const tags: ['tickets'] = ['tickets'];
  return new ApiRouter(registry, auth)
    .add(
      {
        method: 'get',
        path: '/v1/canned-responses',
        operationId: 'listCannedResponses',
        summary: 'Canned responses in shortcut order, optionally those whose shortcut starts with a prefix',
        tags,
        access: 'agent',
        query: CannedListQuery,
        success: { status: 200, description: 'A page of canned responses', schema: CannedResponsePage },
      },
      async ({ query, res }) => {
        res.json(await canned.list(query));
      },
    )
    .add(
      {
        method: 'post',
        path: '/v1/canned-responses',
        operationId: 'createCannedResponse',
        summary: 'Create a canned response',
        tags,
        access: 'manager',
        body: NewCannedResponse,
        success: { status: 201, description: 'Created', schema: CannedResponseView },
        errors: { 409: TAKEN },
      },
      async ({ body, principal, res }) => {
        res.status(201).json(await canned.create(body, principal));
      },
    )
    .add(
      {
        method: 'get',
        path: '/v1/canned-responses/{id}',
        operationId: 'getCannedResponse',
        summary: 'Read a canned response',
        tags,
        access: 'agent',
        params: CannedParams,
        success: { status: 200, description: 'The canned response', schema: CannedResponseView },
        errors: { 404: NOT_FOUND },
      },
      async ({ params, res }) => {
        res.json(await canned.get(params.id));
      },
    )
    .add(
      {
        method: 'patch',
        path: '/v1/canned-responses/{id}',
        operationId: 'updateCannedResponse',
        summary: 'Change the shortcut, title or content of a canned response',
        tags,
        access: 'manager',
        params: CannedParams,
        body: CannedResponsePatch,
        success: { status: 200, description: 'Changed', schema: CannedResponseView },
        errors: { 404: NOT_FOUND, 409: `${TAKEN}; or it was changed at the same moment, again and again` },
      },
      async ({ params, body, res }) => {
        res.json(await canned.update(params.id, body));
      },
    )
    .add(
      {
        method: 'delete',
        path: '/v1/canned-responses/{id}',
        operationId: 'deleteCannedResponse',
        summary: 'Delete a canned response',
        tags,
        access: 'manager',
        params: CannedParams,
        success: { status: 204, description: 'Deleted' },
        errors: { 404: NOT_FOUND, 409: 'It was changed at the same moment, again and again; try again' },
      },
      async ({ params, res }) => {
        await canned.delete(params.id);
        res.status(204).end();
      },
    ).router;
}
