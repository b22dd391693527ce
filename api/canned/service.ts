/** Canned responses: managers write them, agents read and send them (placeholders filled on send). */
import { randomBytes } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import { badRequest, conflict, notFound } from '../errors.js';
import type { CursorCodec } from '../tickets/cursor.js';
import {
  CANNED_ID_PATTERN,
  type CannedListQuery,
  type CannedResponse,
  type CannedResponsePatch,
  type CannedResponseView,
  CONTENT_MAX,
  type NewCannedResponse,
  view,
} from './model.js';
import { fillPlaceholders } from './placeholders.js';
import { CannedRepository, type CannedWriteOutcome } from './repository.js';

const DEFAULT_LIMIT = 50;
/** Re-reads after a concurrent change before giving up with a 409. */
const MAX_ATTEMPTS = 3;

const taken = (shortcut: string) => conflict(`a canned response with the shortcut "${shortcut}" already exists`);

export class CannedResponses {
  constructor(
    private readonly repo: CannedRepository,
    private readonly cursors: CursorCodec,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async mustGet(id: string): Promise<CannedResponse> {
    const item = CANNED_ID_PATTERN.test(id) ? await this.repo.get(id) : undefined;
    if (!item) throw notFound('Canned response');
    return item;
  }

  async get(id: string): Promise<CannedResponseView> {
    return view(await this.mustGet(id));
  }

  async list(q: CannedListQuery): Promise<{ items: CannedResponseView[]; next_cursor: string | null }> {
    const prefix = q.prefix ?? '';
    const fingerprint = `canned:${prefix}`;
    const start = q.cursor ? this.cursors.decode(q.cursor, fingerprint, CannedRepository.pageKeys) : undefined;
    const page = await this.repo.page(prefix, q.limit ?? DEFAULT_LIMIT, start);
    return {
      items: page.items.map(view),
      next_cursor: page.lastKey ? this.cursors.encode(fingerprint, page.lastKey) : null,
    };
  }

  async create(input: NewCannedResponse, by: Principal): Promise<CannedResponseView> {
    const item: CannedResponse = {
      id: `cr_${randomBytes(8).toString('hex')}`,
      ...input,
      created_at: this.now().toISOString(),
      created_by: by.id,
      version: 1,
    };
    const outcome = await this.repo.create(item);
    if (outcome === 'shortcut_taken') throw taken(item.shortcut);
    if (outcome !== 'ok') throw conflict('id collision; retry');
    return view(item);
  }

  async update(id: string, patch: CannedResponsePatch): Promise<CannedResponseView> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.mustGet(id);
      const changes = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
      const next: CannedResponse = {
        ...current,
        ...changes,
        updated_at: this.now().toISOString(),
        version: current.version + 1,
      };
      const outcome: CannedWriteOutcome = await this.repo.update(current, next);
      if (outcome === 'ok') return view(next);
      if (outcome === 'shortcut_taken') throw taken(next.shortcut);
      if (attempt >= MAX_ATTEMPTS - 1) throw conflict('The canned response kept changing; try again');
    }
  }

  async delete(id: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.mustGet(id);
      if ((await this.repo.delete(current)) === 'ok') return;
      if (attempt >= MAX_ATTEMPTS - 1) throw conflict('The canned response kept changing; try again');
    }
  }

  /**
   * The text an agent sends with `canned_response_id`, placeholders filled. An unknown id is the request's
   * fault (400 on the field), not a missing ticket.
   */
  async render(id: string, values: { customerName?: string; agentName: string }): Promise<string> {
    const item = CANNED_ID_PATTERN.test(id) ? await this.repo.get(id) : undefined;
    if (!item) {
      throw badRequest('No canned response has this id', [
        { path: 'body.canned_response_id', message: 'unknown canned response' },
      ]);
    }
    const text = fillPlaceholders(item.content, values);
    if (text.length > CONTENT_MAX) {
      throw badRequest(`The canned response, filled in, is over ${CONTENT_MAX} characters`, [
        { path: 'body.canned_response_id', message: 'too long once filled in' },
      ]);
    }
    return text;
  }
}
