/**
 * One delivery attempt: the event POSTed as JSON, signed the Standard Webhooks way with the official
 * `standardwebhooks` library (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`),
 * under a deadline, to an address checked by the URL policy (the connection goes to the checked address).
 * Redirects are never followed: a 3xx is a failed attempt.
 */
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import { type Delivery, eventPayload, type SigningSubscription } from './model.js';
import { checkUrlSyntax, guardedLookup, RefusedUrl, type UrlPolicy } from './url-policy.js';

export interface AttemptResult {
  ok: boolean;
  status?: number;
  latencyMs: number;
  error?: string;
  /** The receiver's Retry-After, in ms from now. */
  retryAfterMs?: number;
  /** Cut short by the service stopping (not the receiver's fault: the attempt does not count). */
  aborted?: boolean;
}

/** The bytes of a receiver's answer read at most (then dropped): the status is what matters. */
const MAX_ANSWER_BYTES = 64 * 1024;
const USER_AGENT = 'Freeda-Webhooks/1.0';

/** `Retry-After` as seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim()) * 1000;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The `webhook-signature` header: with the current secret, and the previous one during a rotation's grace. */
export function signatures(sub: SigningSubscription, messageId: string, at: Date, payload: string): string {
  const sigs = [new Webhook(sub.secret).sign(messageId, at, payload)];
  if (sub.previous_secret && sub.previous_secret_until && sub.previous_secret_until > at.toISOString()) {
    sigs.push(new Webhook(sub.previous_secret).sign(messageId, at, payload));
  }
  return sigs.join(' ');
}

export class WebhookSender {
  private readonly agent: Agent;

  constructor(
    private readonly policy: UrlPolicy,
    private readonly timeoutMs: number,
  ) {
    this.agent = new Agent({
      connect: { lookup: guardedLookup(policy) as never, timeout: timeoutMs },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      keepAliveTimeout: 4000,
    });
  }

  async send(sub: SigningSubscription, delivery: Delivery, signal: AbortSignal): Promise<AttemptResult> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    const at = new Date();
    const payload = eventPayload(delivery.event);
    try {
      // Syntax, scheme and literal addresses here; a name is resolved and checked by the connector's lookup.
      const url = checkUrlSyntax(sub.url, this.policy);
      const res = await request(url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          'webhook-id': delivery.message_id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signatures(sub, delivery.message_id, at, payload),
        },
        body: payload,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
      });
      await res.body.dump({ limit: MAX_ANSWER_BYTES }).catch(() => undefined);
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      return {
        ok,
        status: res.statusCode,
        latencyMs: latency(),
        ...(!ok && {
          error:
            res.statusCode >= 300 && res.statusCode < 400
              ? `redirect ${res.statusCode} not followed`
              : `receiver answered ${res.statusCode}`,
          retryAfterMs: parseRetryAfter(res.headers['retry-after'], Date.now()),
        }),
      };
    } catch (err) {
      if (signal.aborted) return { ok: false, latencyMs: latency(), error: 'stopped', aborted: true };
      return { ok: false, latencyMs: latency(), error: describe(err, this.timeoutMs) };
    }
  }

  async close(): Promise<void> {
    await this.agent.destroy().catch(() => undefined);
  }
}

function describe(err: unknown, timeoutMs: number): string {
  const e = err as Error & { code?: string; cause?: Error & { code?: string } };
  if (e?.name === 'TimeoutError' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT') {
    return `no answer within ${timeoutMs} ms`;
  }
  if (e?.code === 'UND_ERR_CONNECT_TIMEOUT') return `no connection within ${timeoutMs} ms`;
  if (e instanceof RefusedUrl) return `${e.code}: ${e.message}`;
  const code = e?.code ?? e?.cause?.code;
  const cause = e?.cause instanceof RefusedUrl ? `${e.cause.code}: ${e.cause.message}` : undefined;
  return cause ?? [code, e?.message].filter(Boolean).join(': ').slice(0, 300);
}
