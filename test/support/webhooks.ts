/**
 * Webhook tests' support: a real HTTP receiver on loopback that records every request (headers and raw body)
 * and answers as the test says (a status with headers, or `hold`: never answers, the connection stays open);
 * fast timings; the admin calls the tests make.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import type { TicketEvent } from '../../api/events/model.js';
import { ADMIN_KEY, type Harness } from './harness.js';

export const LOOKBACK_MS = 1000;
/** Small deadlines and polls: retries in tens of milliseconds. */
export const FAST_WEBHOOKS: Record<string, string> = {
  EVENTS_LOOKBACK_MS: String(LOOKBACK_MS),
  EVENTS_POLL_MS: '50',
  WEBHOOK_RETRY_BASE_MS: '20',
  WEBHOOK_TIMEOUT_MS: '1000',
};
/** The dispatcher's internal polls, as runtime overrides. */
export const FAST_DISPATCH = { duePollMs: 100, subscriptionsRefreshMs: 200 };

export async function subscribe(
  h: Harness,
  body: Record<string, unknown>,
): Promise<{ webhook_id: string; secret: string }> {
  const res = await h.http().post('/v1/webhooks').set('authorization', `Bearer ${ADMIN_KEY}`).send(body);
  expect(res.status, res.text).to.equal(201);
  return res.body;
}

/** A subscription's recent deliveries, through the API. */
export async function deliveries(h: Harness, webhookId: string): Promise<Array<Record<string, unknown>>> {
  const res = await h
    .http()
    .get(`/v1/webhooks/${webhookId}/deliveries`)
    .set('authorization', `Bearer ${ADMIN_KEY}`)
    .expect(200);
  return res.body.deliveries;
}

export interface Receipt {
  webhookId: string;
  timestamp: string;
  signature: string;
  body: string;
  event: TicketEvent;
  headers: IncomingMessage['headers'];
}

export type Answer = { status: number; headers?: Record<string, string> } | 'hold';

export interface Receiver {
  url: string;
  receipts: Receipt[];
  /** Decides each answer (default 204). */
  answer: (receipt: Receipt) => Answer;
  /** Requests left open by `hold`. */
  held: ServerResponse[];
  /** Most requests ever open at the same time. */
  maxOpen: number;
  /** Receipts by webhook-id. */
  count(webhookId: string): number;
  /** Verifies a receipt with this secret (throws if it does not verify). */
  verify(receipt: Receipt, secret: string): unknown;
  close(): Promise<void>;
}

export async function startReceiver(path = '/hook'): Promise<Receiver> {
  const receipts: Receipt[] = [];
  const held: ServerResponse[] = [];
  const receiver: Receiver = {
    url: '',
    receipts,
    held,
    maxOpen: 0,
    answer: () => ({ status: 204 }),
    count: (id) => receipts.filter((r) => r.webhookId === id).length,
    verify: (receipt, secret) =>
      new Webhook(secret).verify(receipt.body, {
        'webhook-id': receipt.webhookId,
        'webhook-timestamp': receipt.timestamp,
        'webhook-signature': receipt.signature,
      }),
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  let open = 0;
  const server = createServer((req, res) => {
    open++;
    receiver.maxOpen = Math.max(receiver.maxOpen, open);
    res.on('close', () => open--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const receipt: Receipt = {
        webhookId: String(req.headers['webhook-id'] ?? ''),
        timestamp: String(req.headers['webhook-timestamp'] ?? ''),
        signature: String(req.headers['webhook-signature'] ?? ''),
        body,
        event: JSON.parse(body || '{}'),
        headers: req.headers,
      };
      receipts.push(receipt);
      const answer = receiver.answer(receipt);
      if (answer === 'hold') {
        held.push(res);
        return;
      }
      res.writeHead(answer.status, answer.headers ?? {});
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return receiver;
}
