/**
 * What of a conversation the model may see, and in which form. Internal notes are agents talking to each
 * other: they never leave the service, whatever the call (reply, suggestion, analysis). Each stored message
 * appears once, in order; the caller passes the conversation with the new message already in it.
 */
import type { Message } from '../tickets/model.js';
import type { ChatMessage } from './mistral.js';

/** Messages given to the model as context for a reply. */
export const REPLY_HISTORY = 8;
/** Messages given to the model for an analysis. */
export const ANALYSIS_HISTORY = 12;
/** A very long message is cut: the model needs its gist, not 10,000 characters. */
const MAX_CHARS_PER_MESSAGE = 3000;

const clip = (s: string) => (s.length > MAX_CHARS_PER_MESSAGE ? `${s.slice(0, MAX_CHARS_PER_MESSAGE)} […]` : s);

/** Everything but internal notes, oldest first. */
export function shareable(conversation: readonly Message[]): Message[] {
  return conversation.filter((m) => m.type !== 'internal');
}

/**
 * The last `limit` shareable messages as chat turns: the customer speaks as `user`, the assistant and the
 * agents' replies as `assistant`. Consecutive messages of one side are joined into one turn, and the turns
 * start with the customer, as chat models expect.
 */
export function chatTurns(conversation: readonly Message[], limit = REPLY_HISTORY): ChatMessage[] {
  const recent = shareable(conversation).slice(-limit);
  while (recent.length > 0 && recent[0]?.type !== 'customer') recent.shift();
  const turns: ChatMessage[] = [];
  for (const m of recent) {
    const role = m.type === 'customer' ? 'user' : 'assistant';
    const last = turns[turns.length - 1];
    if (last && last.role === role) last.content += `\n\n${clip(m.content)}`;
    else turns.push({ role, content: clip(m.content) });
  }
  return turns;
}

const SPEAKER: Record<Message['type'], string> = {
  customer: 'CLIENT',
  assistant: 'ASSISTANT',
  agent: 'CONSEILLER',
  internal: 'NOTE',
};

/** The last `limit` shareable messages as a transcript, one `SPEAKER: text` block per message. */
export function transcript(conversation: readonly Message[], limit = ANALYSIS_HISTORY): string {
  return shareable(conversation)
    .slice(-limit)
    .map((m) => `${SPEAKER[m.type]}: ${clip(m.content)}`)
    .join('\n\n');
}

/** The last customer message, if any. */
export function lastCustomerMessage(conversation: readonly Message[]): Message | undefined {
  return [...conversation].reverse().find((m) => m.type === 'customer');
}
