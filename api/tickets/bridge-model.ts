/**
 * What channel bridges (WhatsApp, SMS, e-mail gateways holding an `integration` API key) send and receive: a
 * ticket opened for a customer of the channel, and the customer's later messages. The zod schemas validate the
 * requests and document them, like api/tickets/model.ts does for the other routes.
 */
import { z } from 'zod';
import { normalisePhone } from './customers.js';
import { Channel, Email, Message, NewAgentMessage, NonBlank, Ticket } from './model.js';

/**
 * A phone number as stored and searched (customers.ts): `+` and its digits, then E.164 (a country code that does
 * not start with 0, at most 15 digits). `+33 6 12-34-56-78` and `33612345678` (WhatsApp's form) are both
 * `+33612345678`; a national number such as `06 12 34 56 78` is refused.
 */
export const E164 = /^\+[1-9]\d{2,14}$/;

export const Phone = z
  .string()
  .max(40)
  .transform(normalisePhone)
  .pipe(z.string().regex(E164, 'an international phone number, such as +33612345678'))
  .meta({ description: 'International number; stored as +<digits> (spaces, dashes and parentheses removed)' });

/**
 * The channel's own id of a message (WhatsApp `wamid`, e-mail `Message-ID`, SMS provider id): printable ASCII
 * without spaces, compared exactly.
 */
export const ExternalMessageId = z
  .string()
  .regex(/^[\x21-\x7e]{1,512}$/, '1 to 512 printable ASCII characters without spaces')
  .meta({
    description:
      "The channel's id of this message (WhatsApp wamid, e-mail Message-ID...). Stored once per API key: a " +
      'repeat is answered with what was stored the first time, marked `Idempotent-Replayed: true`.',
    example: 'wamid.HBgLMzM2MTIzNDU2NzgVAgASGBQzQUU',
  });

export const BridgeCustomer = z
  .strictObject({
    name: NonBlank(200).optional(),
    email: Email.optional(),
    phone: Phone.optional(),
    external_id: NonBlank(256).meta({
      description:
        "The customer's id on the channel (WhatsApp number, e-mail address, CRM id); stored as customer_external_id",
    }),
  })
  .meta({ id: 'BridgeCustomer' });

export const CreateBridgeTicket = z
  .strictObject({
    channel: Channel,
    customer: BridgeCustomer,
    message: NonBlank(10_000),
    external_message_id: ExternalMessageId.optional(),
  })
  .meta({ id: 'CreateBridgeTicket' });
export type CreateBridgeTicket = z.infer<typeof CreateBridgeTicket>;

const FROM_ERROR = 'from is "customer" (a bridge writing as the customer), or "agent" or left out (a reply or note)';

/** A customer's message carried by a bridge (`from: "customer"`). */
export const NewBridgeMessage = z
  .strictObject({
    from: z.literal('customer', { error: FROM_ERROR }),
    content: NonBlank(10_000),
    external_message_id: ExternalMessageId.optional(),
  })
  .meta({ id: 'NewBridgeMessage' });
export type NewBridgeMessage = z.infer<typeof NewBridgeMessage>;

/**
 * The body of `POST /v1/tickets/{id}/messages`: an agent's reply or internal note (`from` absent or `agent`), or
 * a customer's message carried by a bridge (`from: "customer"`, integration keys and above).
 */
export const NewTicketMessage = z
  .union([
    NewBridgeMessage,
    // safeExtend keeps whatever rules the agent message has. A plain union (anyOf): `from` may be left out, so
    // it cannot be a discriminator; a refusal names the faults of the variant the body came closest to.
    NewAgentMessage.safeExtend({ from: z.literal('agent', { error: FROM_ERROR }).optional() }).meta({
      id: 'NewAgentReply',
    }),
  ])
  .meta({ id: 'NewTicketMessage' });
export type NewTicketMessage = z.infer<typeof NewTicketMessage>;

const AssistantAnswer = Message.optional().meta({
  description: "The assistant's answer to the customer's message, when it gave one (also in the conversation)",
});

export const BridgeTicketCreated = z
  .object({
    ticket: Ticket,
    message: Message.meta({ description: "The customer's first message" }),
    assistant_message: AssistantAnswer,
  })
  .meta({ id: 'BridgeTicketCreated' });
export type BridgeTicketCreated = z.infer<typeof BridgeTicketCreated>;

export const TicketMessageCreated = z
  .object({ message: Message, ticket: Ticket, assistant_message: AssistantAnswer })
  .meta({ id: 'TicketMessageCreated' });
export type TicketMessageCreated = z.infer<typeof TicketMessageCreated>;
