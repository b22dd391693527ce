/** Integrations and agents' screens: the change feed (and the live streams) of the event log. */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { AuthService } from '../auth/service.js';
import type { ChangeFeed } from '../events/feed.js';
import { FeedPage, FeedQuery } from '../events/model.js';
import { ApiRouter } from './route.js';

export interface EventsDeps {
  feed: ChangeFeed;
}

export function eventsRouter(registry: OpenAPIRegistry, auth: AuthService, deps: EventsDeps) {
  const tags: ['events'] = ['events'];
  return new ApiRouter(registry, auth).add(
    {
      method: 'get',
      path: '/v1/events',
      operationId: 'listEvents',
      summary:
        'The change feed: settled events in order, a page at a time; continue from next_cursor, now or later, and nothing is missed or repeated',
      tags,
      access: 'agent',
      query: FeedQuery,
      success: { status: 200, description: 'A page of the feed', schema: FeedPage },
    },
    async ({ query, res }) => {
      res.json(await deps.feed.page(query));
    },
  ).router;
}
