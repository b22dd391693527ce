/** Canned responses: texts agents send often, found by a short name (shortcut), with placeholders filled on send. */
import { z } from 'zod';
import { NonBlank, Timestamp } from '../tickets/model.js';

export interface CannedResponse {
  id: string;
  shortcut: string;
  title: string;
  content: string;
  created_at: string;
  created_by: string;
  updated_at?: string;
  /** Raised by every change: a change is conditional on the version it read. */
  version: number;
}

/** `cr_` + 16 hex characters. */
export const CANNED_ID_PATTERN = /^cr_[0-9a-f]{16}$/;

/** Lower case letters, digits, `-` and `_`: what an agent types after a `/` in a reply box. */
export const Shortcut = z
  .string()
  .trim()
  .toLowerCase()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,49}$/,
    'a shortcut is 1-50 letters, digits, "-" or "_", starting with a letter or digit',
  )
  .meta({ description: 'Unique, case-insensitive (stored in lower case)', example: 'refund-delay' });

export const CannedId = z.string().regex(CANNED_ID_PATTERN, 'not a canned response id').meta({
  example: 'cr_3f9a1c0b7d2e4f60',
});

const CONTENT_MAX = 10_000;
const content = NonBlank(CONTENT_MAX).meta({
  description:
    'The text. `{{customer.name}}` and `{{agent.name}}` are filled when it is sent (the customer\'s name, or "there" when the ticket has none; the sending agent\'s name); any other `{{...}}` stays as typed.',
});

export const CannedResponseView = z
  .object({
    id: CannedId,
    shortcut: z.string(),
    title: z.string(),
    content: z.string(),
    created_at: Timestamp,
    created_by: z.string(),
    updated_at: Timestamp.optional(),
  })
  .meta({ id: 'CannedResponse' });
export type CannedResponseView = z.infer<typeof CannedResponseView>;

export const NewCannedResponse = z
  .strictObject({ shortcut: Shortcut, title: NonBlank(200), content })
  .meta({ id: 'NewCannedResponse' });
export type NewCannedResponse = z.infer<typeof NewCannedResponse>;

export const CannedResponsePatch = z
  .strictObject({ shortcut: Shortcut.optional(), title: NonBlank(200).optional(), content: content.optional() })
  .refine((p) => Object.values(p).some((v) => v !== undefined), 'give at least one field to change')
  .meta({ id: 'CannedResponsePatch', minProperties: 1, description: 'At least one field to change' });
export type CannedResponsePatch = z.infer<typeof CannedResponsePatch>;

export const CannedListQuery = z.strictObject({
  prefix: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9_-]{1,50}$/, 'a prefix is 1-50 letters, digits, "-" or "_"')
    .optional()
    .meta({ description: 'Only shortcuts starting with this (case-insensitive)', example: 'ref' }),
  limit: z
    .string()
    .regex(/^\d{1,6}$/, 'limit is a whole number from 1 to 100')
    .transform(Number)
    .pipe(z.number().int().min(1, 'limit is at least 1').max(100, 'limit is at most 100'))
    .optional()
    .meta({ description: 'Items per page (default 50)' }),
  cursor: z.string().max(2048).optional().meta({ description: 'The next_cursor of the previous page' }),
});
export type CannedListQuery = z.infer<typeof CannedListQuery>;

export const CannedResponsePage = z
  .object({
    items: z.array(CannedResponseView),
    next_cursor: z.string().nullable().meta({ description: 'The next page; null at the end' }),
  })
  .meta({ id: 'CannedResponsePage' });

export const view = (c: CannedResponse): CannedResponseView => ({
  id: c.id,
  shortcut: c.shortcut,
  title: c.title,
  content: c.content,
  created_at: c.created_at,
  created_by: c.created_by,
  ...(c.updated_at && { updated_at: c.updated_at }),
});

export { CONTENT_MAX };
