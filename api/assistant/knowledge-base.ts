/**
 * Knowledge-base retrieval (RAG) over the project's FAQ (`faq.json`). Each entry is embedded with
 * `mistral-embed` once per content: vectors live in DynamoDB keyed by a hash of the entry and the model, so
 * a task starting reads them with one Query and embeds only entries no task has seen (a new or edited FAQ
 * entry, the first start on a new table). A reply embeds the customer's message and gets the entries
 * whose cosine similarity reaches the threshold, best first.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../logger.js';
import faqFile from './faq.json' with { type: 'json' };
import type { KnowledgeRepository } from './knowledge-repository.js';
import { EMBED_MODEL, type MistralGateway } from './mistral.js';

export interface FaqEntry {
  question: string;
  answer: string;
  category: string;
  source: string;
  type: string;
}

export const FAQ: readonly FaqEntry[] = faqFile;

export type KnowledgeState = 'loading' | 'ready' | 'unavailable';

/** The text embedded for an entry (and hashed to key its vector). */
export const entryText = (e: FaqEntry) => `Question : ${e.question}\nRéponse : ${e.answer}`;

export const entryHash = (e: FaqEntry) =>
  createHash('sha256')
    .update(`${EMBED_MODEL}\n${entryText(e)}`)
    .digest('hex')
    .slice(0, 32);

export function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

export interface KnowledgeOptions {
  /** Minimum cosine similarity for an entry to be given to the model. */
  minScore: number;
  /** Entries given at most. */
  topK?: number;
  /** First wait before loading again after a failure (doubles, up to 5 minutes). */
  retryMs?: number;
}

/** Inputs per embeddings request when building the index. */
const EMBED_BATCH = 16;

export class KnowledgeBase {
  private vectors: Array<{ entry: FaqEntry; vector: number[] }> = [];
  private current: KnowledgeState = 'loading';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private loaded: Promise<void> | undefined;

  constructor(
    private readonly gateway: MistralGateway,
    private readonly repository: KnowledgeRepository,
    private readonly logger: Logger,
    private readonly options: KnowledgeOptions,
    private readonly entries: readonly FaqEntry[] = FAQ,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  get state(): KnowledgeState {
    return this.current;
  }

  get size(): number {
    return this.vectors.length;
  }

  /** Loads in the background, trying again with a growing pause until it succeeds or the process stops. */
  start(): Promise<void> {
    this.loaded ??= new Promise<void>((resolve) => {
      const attempt = (delay: number) => {
        if (this.stopped) return resolve();
        this.load().then(resolve, (err: Error) => {
          this.current = 'unavailable';
          this.logger.warn('knowledge base not loaded; replies go without it for now', {
            err: err.message,
            retry_in_ms: delay,
          });
          this.timer = setTimeout(() => attempt(Math.min(delay * 2, 300_000)), delay);
          this.timer.unref();
        });
      };
      attempt(this.options.retryMs ?? 5000);
    });
    return this.loaded;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Reads the stored vectors, embeds the entries that have none, stores those. */
  async load(): Promise<void> {
    const stored = await this.repository.vectors();
    const missing = this.entries.filter((e) => !stored.has(entryHash(e)));
    for (let i = 0; i < missing.length; i += EMBED_BATCH) {
      const batch = missing.slice(i, i + EMBED_BATCH);
      const vectors = await this.gateway.embed(batch.map(entryText), { retry: true });
      const at = this.clock().toISOString();
      for (const [n, entry] of batch.entries()) {
        const vector = vectors[n] as number[];
        stored.set(entryHash(entry), vector);
        await this.repository.put(entryHash(entry), vector, { question: entry.question, model: EMBED_MODEL, at });
      }
    }
    this.vectors = this.entries.map((entry) => ({ entry, vector: stored.get(entryHash(entry)) as number[] }));
    this.current = 'ready';
    this.logger.info('knowledge base ready', { entries: this.vectors.length, embedded_now: missing.length });
  }

  /**
   * The entries relevant to a message, best first; none when the base is not loaded or the embedding call
   * fails (the reply then goes without them).
   */
  async search(text: string, deadline?: AbortSignal): Promise<FaqEntry[]> {
    if (this.current !== 'ready' || this.vectors.length === 0) return [];
    let query: number[];
    try {
      [query = []] = await this.gateway.embed([text.slice(0, 4000)], { deadline });
    } catch (err) {
      this.logger.info('knowledge base search skipped', { reason: (err as Error).message });
      return [];
    }
    return this.vectors
      .map(({ entry, vector }) => ({ entry, score: cosine(query, vector) }))
      .filter((m) => m.score >= this.options.minScore)
      .sort((a, b) => b.score - a.score)
      .slice(0, this.options.topK ?? 3)
      .map((m) => m.entry);
  }
}
