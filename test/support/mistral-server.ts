/**
 * A loopback HTTP server speaking the part of the Mistral API the service uses: chat completions
 * (`POST /v1/chat/completions`) and embeddings (`POST /v1/embeddings`). It records every request and answers
 * as each test scripts it: good answers, invalid JSON, values outside the vocabulary, 429, 500, hanging,
 * a reset connection. Unscripted calls get a plausible default: a French reply, a valid analysis (churn
 * risk high when the customer talks of leaving), and bag-of-words embeddings (similar texts are close).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Scripted =
  /** 200 with this assistant text. */
  | { content: string }
  /** 200 with this value, serialised, as the assistant text (an analysis). */
  | { json: unknown }
  /** An HTTP error (or any status) with an optional body and headers. */
  | { status: number; body?: unknown; headers?: Record<string, string> }
  /** Never answers; the client must give up on its own. */
  | { hang: true }
  /** Answers after a delay. */
  | { delayMs: number; answer: Scripted }
  /** Answers once the test says so (the promise resolves): a call held open for as long as a test needs. */
  | { until: Promise<unknown>; answer: Scripted }
  /** Drops the connection without an answer. */
  | { reset: true };

/** reply: chat without response_format; analysis: chat in JSON mode; embeddings. */
export type CallKind = 'reply' | 'analysis' | 'embeddings';

export interface RecordedRequest {
  kind: CallKind;
  path: string;
  // biome-ignore lint/suspicious/noExplicitAny: a JSON body as the client sent it
  body: any;
  authorization: string | undefined;
  /** Whether the exchange is over: the answer was sent, or the client closed the connection first. */
  settled: boolean;
}

export interface FakeMistral {
  /** Base URL to give as MISTRAL_SERVER_URL. */
  url: string;
  requests: RecordedRequest[];
  calls(kind: CallKind): RecordedRequest[];
  /** Answers for the next calls of a kind, used once each, in order. */
  next(kind: CallKind, ...answers: Scripted[]): void;
  /** The answer of every call of a kind with nothing queued (a function sees the request). */
  always(kind: CallKind, answer: Scripted | ((req: RecordedRequest) => Scripted)): void;
  /** Back to the defaults: no queue, no override, no recorded request. */
  reset(): void;
  close(): Promise<void>;
}

export const DEFAULT_REPLY = 'Je comprends votre gêne. Redémarrez votre Freebox puis testez à nouveau.\n--\nAgent Free';

const LEAVING = /r[ée]silier|r[ée]siliation|concurrent|je pars|partir|quitter/i;

/** A valid analysis; a customer who talks of leaving gets a churn risk above the alert threshold. */
export function defaultAnalysis(req: RecordedRequest): Scripted {
  const conversation = (req.body.messages as Array<{ role: string; content: string }>)
    .filter((m) => m.role === 'user')
    .map((m) => m.content)
    .join('\n');
  if (LEAVING.test(conversation)) {
    return {
      json: {
        sentiment: 'negative',
        category: 'cancellation',
        urgency: 'high',
        churn_risk: 92,
        summary: 'Le client veut résilier',
        next_action: 'Appeler le client avec une offre de fidélisation',
      },
    };
  }
  return {
    json: {
      sentiment: 'negative',
      category: 'technical',
      urgency: 'medium',
      churn_risk: 20,
      summary: 'Connexion coupée',
      next_action: 'Vérifier la ligne',
    },
  };
}

const DIMENSIONS = 256;
const STOP = new Set(
  'le la les un une des de du et ou a au aux en je j vous mon ma mes ne pas est il y que qui pour sur avec comment quoi'.split(
    ' ',
  ),
);

/**
 * Bag-of-words embedding: words without accents, minus a few stop words, hashed into 256 dimensions,
 * normalised. Of a FAQ entry ("Question : ...\nRéponse : ..."), only the question is embedded, so a
 * customer asking that question scores close to 1.
 */
export function fakeEmbedding(text: string): number[] {
  const question = /^Question : (.*)$/m.exec(text)?.[1] ?? text;
  const vector = new Array<number>(DIMENSIONS).fill(0);
  const words = question
    .toLowerCase()
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .split(/[^a-z0-9]+/)
    .filter((w) => w && !STOP.has(w));
  for (const w of words) {
    let h = 2166136261;
    for (const c of w) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
    const i = (h >>> 0) % DIMENSIONS;
    vector[i] = (vector[i] ?? 0) + 1;
  }
  const norm = Math.hypot(...vector) || 1;
  return vector.map((v) => v / norm);
}

function chatBody(content: string) {
  return {
    id: `cmpl-${Math.random().toString(36).slice(2)}`,
    object: 'chat.completion',
    model: 'mistral-small-latest',
    created: Math.floor(Date.now() / 1000),
    usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  };
}

function embeddingsBody(inputs: string[]) {
  return {
    id: `emb-${Math.random().toString(36).slice(2)}`,
    object: 'list',
    model: 'mistral-embed',
    usage: { prompt_tokens: inputs.length, completion_tokens: 0, total_tokens: inputs.length },
    data: inputs.map((input, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(input) })),
  };
}

export async function startFakeMistral(): Promise<FakeMistral> {
  const requests: RecordedRequest[] = [];
  const queues: Record<CallKind, Scripted[]> = { reply: [], analysis: [], embeddings: [] };
  const overrides: Partial<Record<CallKind, Scripted | ((req: RecordedRequest) => Scripted)>> = {};
  const sockets = new Set<Socket>();

  const defaults: Record<CallKind, (req: RecordedRequest) => Scripted> = {
    reply: () => ({ content: DEFAULT_REPLY }),
    analysis: defaultAnalysis,
    embeddings: () => ({ status: 200 }),
  };

  function send(req: RecordedRequest, res: ServerResponse, answer: Scripted): void {
    if ('hang' in answer) return;
    if ('reset' in answer) {
      res.socket?.destroy();
      return;
    }
    if ('delayMs' in answer) {
      const timer = setTimeout(() => send(req, res, answer.answer), answer.delayMs);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    if ('until' in answer) {
      answer.until.then(() => {
        if (!res.writableEnded && !res.destroyed) send(req, res, answer.answer);
      });
      return;
    }
    let status = 200;
    let body: unknown;
    let headers: Record<string, string> = {};
    if ('status' in answer) {
      status = answer.status;
      headers = answer.headers ?? {};
      body =
        answer.body ??
        (status === 200
          ? embeddingsBody(([] as string[]).concat(req.body.input ?? []))
          : { object: 'error', message: `scripted ${status}`, type: 'error', code: status });
    } else {
      body = chatBody('json' in answer ? JSON.stringify(answer.json) : answer.content);
    }
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(text);
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      raw += chunk;
    });
    req.on('end', () => {
      const path = req.url ?? '';
      // biome-ignore lint/suspicious/noExplicitAny: the client's JSON
      let body: any = {};
      try {
        body = JSON.parse(raw || '{}');
      } catch {
        res.writeHead(400).end('{"message":"bad json"}');
        return;
      }
      let kind: CallKind;
      if (req.method === 'POST' && path === '/v1/embeddings') kind = 'embeddings';
      else if (req.method === 'POST' && path === '/v1/chat/completions')
        kind = body.response_format?.type === 'json_object' ? 'analysis' : 'reply';
      else {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"not found"}');
        return;
      }
      const recorded: RecordedRequest = {
        kind,
        path,
        body,
        authorization: req.headers.authorization,
        settled: false,
      };
      res.on('close', () => {
        recorded.settled = true;
      });
      requests.push(recorded);
      const override = overrides[kind];
      const answer =
        queues[kind].shift() ??
        (typeof override === 'function' ? override(recorded) : override) ??
        defaults[kind](recorded);
      send(recorded, res, answer);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    calls: (kind) => requests.filter((r) => r.kind === kind),
    next(kind, ...answers) {
      queues[kind].push(...answers);
    },
    always(kind, answer) {
      overrides[kind] = answer;
    },
    reset() {
      for (const q of Object.values(queues)) q.length = 0;
      for (const k of Object.keys(overrides)) delete overrides[k as CallKind];
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback URL where nothing listens (connections are refused). */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
