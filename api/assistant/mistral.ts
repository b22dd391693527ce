/**
 * The one way the service talks to Mistral: the official SDK behind a deadline, bounded concurrency and a
 * circuit breaker.
 *
 * - Deadline: every call carries an AbortSignal (the call's own timeout, the caller's budget, the process
 *   stopping), given to the SDK as `fetchOptions.signal`, so a slow answer is really aborted, not waited for.
 * - Concurrency: at most `maxConcurrency` calls in flight per process; the others wait in line, and the wait
 *   counts toward their deadline.
 * - Retries: the SDK retries 429/500/502/503/504 only when given a backoff `retryConfig` (its default is
 *   none). Chat calls keep it off: a customer reply has a budget a retry would blow, and analysis is retried
 *   by its durable queue (a retry inside would hold a lease and a slot). Only the knowledge-base embedding,
 *   which runs in the background, asks the SDK for its backoff retries.
 * - Circuit breaker (opossum): opens when at least `minCalls` calls in the rolling window failed at 50 % or
 *   more; while open every call fails at once; after `resetMs` it goes half-open and lets exactly ONE probe
 *   through (the others still fail fast); the probe's success closes it, its failure opens it again.
 *   A refusal that is our own doing (a 400 on a bad request) does not count as an outage.
 */
import type { Mistral } from '@mistralai/mistralai';
import type { MistralError } from '@mistralai/mistralai/models/errors';
import CircuitBreaker from 'opossum';
import type { Logger } from '../logger.js';
import { Limiter } from './limiter.js';

export const EMBED_MODEL = 'mistral-embed';

export interface MistralOptions {
  apiKey: string;
  model: string;
  /** Base URL (tests point it at a loopback server); the SDK's default server when absent. */
  serverUrl?: string;
  /** Deadline of one call when the caller gives none shorter. */
  timeoutMs: number;
  maxConcurrency: number;
  breaker: { resetMs: number; minCalls: number };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export type CircuitState = 'closed' | 'open' | 'half_open';

export type UnavailableReason =
  | 'circuit_open'
  | 'timeout'
  | 'rate_limited'
  | 'upstream_error'
  | 'stopped'
  /** Mistral refused the request itself (400, 422...): retrying the same request will not help. */
  | 'rejected';

/** Mistral could not be used for this call; the caller falls back (reply), retries later (analysis) or 503s. */
export class AssistantUnavailable extends Error {
  override name = 'AssistantUnavailable';
  constructor(
    readonly reason: UnavailableReason,
    message: string,
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Mistral answered, but not with something we can use (malformed JSON, values outside the vocabulary...). */
export class InvalidModelOutput extends Error {
  override name = 'InvalidModelOutput';
}

/**
 * The SDK's module graph is large (it takes longer to load than the rest of the service together), so it is
 * loaded on first use, never by a service started without a key, and never in the way of start-up.
 */
let sdkClasses: { Mistral: typeof Mistral; MistralError: typeof MistralError } | undefined;
let sdkLoading: Promise<NonNullable<typeof sdkClasses>> | undefined;
function loadSdk(): Promise<NonNullable<typeof sdkClasses>> {
  sdkLoading ??= Promise.all([import('@mistralai/mistralai'), import('@mistralai/mistralai/models/errors')]).then(
    ([sdk, errors]) => {
      sdkClasses = { Mistral: sdk.Mistral, MistralError: errors.MistralError };
      return sdkClasses;
    },
    (err: unknown) => {
      sdkLoading = undefined;
      throw err;
    },
  );
  return sdkLoading;
}

/** An error the SDK raised for an HTTP answer (only possible once it is loaded). */
const isMistralError = (err: unknown): err is MistralError =>
  sdkClasses !== undefined && err instanceof sdkClasses.MistralError;

/** HTTP statuses that say the request itself was wrong, not that Mistral is down (they never open the circuit). */
const isCallerError = (err: unknown) =>
  isMistralError(err) &&
  err.statusCode >= 400 &&
  err.statusCode < 500 &&
  ![401, 403, 408, 429].includes(err.statusCode);

export class MistralGateway {
  readonly model: string;
  private sdk: Promise<Mistral> | undefined;
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  private readonly limiter: Limiter;
  private readonly stopping = new AbortController();
  private openedAt = 0;
  private failuresInARow = 0;

  constructor(
    private readonly options: MistralOptions,
    private readonly logger: Logger,
  ) {
    this.model = options.model;
    // Loading starts now, in the background: a gateway exists only when a key is configured.
    this.client().catch(() => undefined);
    this.limiter = new Limiter(options.maxConcurrency);
    this.breaker = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
      name: 'mistral',
      timeout: false, // deadlines are AbortSignals that cancel the request itself
      resetTimeout: options.breaker.resetMs,
      volumeThreshold: options.breaker.minCalls,
      errorThresholdPercentage: 50,
      rollingCountTimeout: 30_000,
      rollingCountBuckets: 10,
      errorFilter: (err: unknown) => isCallerError(err) || this.stopping.signal.aborted,
    });
    this.breaker.on('open', () => {
      this.openedAt = Date.now();
      this.logger.warn('assistant circuit open: Mistral calls fail fast', { retry_in_ms: options.breaker.resetMs });
    });
    this.breaker.on('halfOpen', () => this.logger.info('assistant circuit half-open: one probe call allowed'));
    this.breaker.on('close', () => this.logger.info('assistant circuit closed: Mistral answers again'));
    // Failures as the breaker counts them (a caller's error is not Mistral failing); any answer resets the run.
    this.breaker.on('failure', () => {
      this.failuresInARow++;
    });
    this.breaker.on('success', () => {
      this.failuresInARow = 0;
    });
  }

  /**
   * Mistral calls that failed one after the other, up to now. The breaker opens only once enough calls were
   * made in its window; this tells at once that every recent call failed.
   */
  consecutiveFailures(): number {
    return this.failuresInARow;
  }

  /** The SDK client, once its module is loaded (the wait does not count toward a call's deadline). */
  private client(): Promise<Mistral> {
    this.sdk ??= loadSdk().then(
      ({ Mistral }) =>
        new Mistral({
          apiKey: this.options.apiKey,
          ...(this.options.serverUrl && { serverURL: this.options.serverUrl }),
          timeoutMs: this.options.timeoutMs,
          retryConfig: { strategy: 'none' },
        }),
      (err: unknown) => {
        this.sdk = undefined; // the next call tries again
        throw new AssistantUnavailable('upstream_error', 'the Mistral SDK could not be loaded', 5, { cause: err });
      },
    );
    return this.sdk;
  }

  state(): CircuitState {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'half_open';
    return 'closed';
  }

  /** Whether a call may be attempted now (closed, or half-open with its probe still to send). */
  accepting(): boolean {
    return this.breaker.closed || (this.breaker.halfOpen && this.breaker.pendingClose);
  }

  /** The assistant's text answer; `json: true` asks for a JSON object (response_format json_object). */
  async chat(
    messages: ChatMessage[],
    opts: { json?: boolean; maxTokens: number; temperature: number; deadline?: AbortSignal },
  ): Promise<string> {
    const sdk = await this.client();
    const res = await this.call(opts.deadline, (signal) =>
      sdk.chat.complete(
        {
          model: this.model,
          messages,
          temperature: opts.temperature,
          maxTokens: opts.maxTokens,
          ...(opts.json && { responseFormat: { type: 'json_object' as const } }),
        },
        { fetchOptions: { signal } },
      ),
    );
    const content = res.choices?.[0]?.message?.content;
    const text =
      typeof content === 'string'
        ? content
        : (content ?? [])
            .map((chunk) => ('text' in chunk && typeof chunk.text === 'string' ? chunk.text : ''))
            .join('');
    if (!text.trim()) throw new InvalidModelOutput('the model returned no text');
    return text;
  }

  /** One vector per input, in input order. */
  async embed(inputs: string[], opts: { deadline?: AbortSignal; retry?: boolean } = {}): Promise<number[][]> {
    const sdk = await this.client();
    const res = await this.call(opts.deadline, (signal) =>
      sdk.embeddings.create(
        { model: EMBED_MODEL, inputs },
        {
          fetchOptions: { signal },
          ...(opts.retry && {
            retries: {
              strategy: 'backoff' as const,
              backoff: { initialInterval: 500, maxInterval: 10_000, exponent: 2, maxElapsedTime: 30_000 },
              retryConnectionErrors: true,
            },
          }),
        },
      ),
    );
    const vectors = [...res.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0)).map((d) => d.embedding ?? []);
    if (vectors.length !== inputs.length || vectors.some((v) => v.length === 0)) {
      throw new InvalidModelOutput(`expected ${inputs.length} embeddings, got ${vectors.length}`);
    }
    return vectors;
  }

  /** Aborts calls in flight and refuses new ones (process shutdown). */
  shutdown(): void {
    this.stopping.abort(new AssistantUnavailable('stopped', 'the service is stopping', 5));
    this.breaker.shutdown();
  }

  private async call<T>(deadline: AbortSignal | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.stopping.signal.aborted) throw new AssistantUnavailable('stopped', 'the service is stopping', 5);
    if (!this.accepting()) throw this.openError();
    const signal = AbortSignal.any([
      this.stopping.signal,
      AbortSignal.timeout(this.options.timeoutMs),
      ...(deadline ? [deadline] : []),
    ]);
    try {
      return await this.limiter.run(signal, () => this.breaker.fire(() => fn(signal)) as Promise<T>);
    } catch (err) {
      throw this.translate(err, signal);
    }
  }

  private openError(): AssistantUnavailable {
    const left = this.openedAt + this.options.breaker.resetMs - Date.now();
    return new AssistantUnavailable(
      'circuit_open',
      'Mistral is failing; calls are suspended for a while',
      Math.max(1, Math.ceil(left / 1000)),
    );
  }

  private translate(err: unknown, signal: AbortSignal): unknown {
    if (err instanceof AssistantUnavailable || err instanceof InvalidModelOutput) return err;
    if ((err as { code?: string })?.code === 'EOPENBREAKER') return this.openError();
    if (this.stopping.signal.aborted) return new AssistantUnavailable('stopped', 'the service is stopping', 5);
    if (signal.aborted) {
      return new AssistantUnavailable('timeout', 'Mistral did not answer in time', 5, { cause: err });
    }
    if (isMistralError(err)) {
      if (err.statusCode === 429) {
        const after = Number(err.headers.get('retry-after'));
        return new AssistantUnavailable('rate_limited', 'Mistral is rate limiting us', after > 0 ? after : 5, {
          cause: err,
        });
      }
      const reason = isCallerError(err) ? 'rejected' : 'upstream_error';
      return new AssistantUnavailable(reason, `Mistral answered ${err.statusCode}`, 5, { cause: err });
    }
    return new AssistantUnavailable('upstream_error', `Mistral call failed: ${(err as Error)?.name ?? 'error'}`, 5, {
      cause: err,
    });
  }
}
