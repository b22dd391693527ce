/** The app with the assistant pointed at the fake Mistral server, with timings small enough for tests. */
import { expect } from 'chai';
import type { AnalysisJob } from '../../api/assistant/job-repository.js';
import { ANALYSIS_JOB_SK } from '../../api/db/tables.js';
import { type Harness, startHarness } from './harness.js';
import type { FakeMistral } from './mistral-server.js';

/** Deadlines, polls and backoffs in tens or hundreds of milliseconds instead of seconds. */
export const FAST_ASSISTANT: Record<string, string> = {
  MISTRAL_API_KEY: 'test-mistral-key',
  MISTRAL_TIMEOUT_MS: '1000',
  MISTRAL_BREAKER_RESET_MS: '400',
  MISTRAL_BREAKER_MIN_CALLS: '3',
  ASSISTANT_REPLY_TIMEOUT_MS: '1500',
  ASSISTANT_ANALYSIS_POLL_MS: '50',
  ASSISTANT_ANALYSIS_RETRY_MS: '50',
};

/** A harness whose assistant talks to `fake`; waits until the knowledge base is loaded (unless told not to). */
export async function startAssistantHarness(
  fake: FakeMistral | string,
  env: Record<string, string> = {},
  { waitForKnowledge = true } = {},
): Promise<Harness> {
  const url = typeof fake === 'string' ? fake : fake.url;
  const h = await startHarness({ ...FAST_ASSISTANT, MISTRAL_SERVER_URL: url, ...env });
  if (waitForKnowledge) await h.runtime.assistant.knowledge?.start();
  return h;
}

/** Polls `check` until it returns something truthy; fails with `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  { timeoutMs = 5000, intervalMs = 20 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) expect.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The ticket's pending-analysis item, read straight from the table. */
export async function analysisJob(h: Harness, ticketId: string): Promise<AnalysisJob | undefined> {
  const { GetCommand } = await import('@aws-sdk/lib-dynamodb');
  const out = await h.runtime.dynamo.doc.send(
    new GetCommand({
      TableName: h.tables.tickets,
      Key: { ticket_id: ticketId, sk: ANALYSIS_JOB_SK },
      ConsistentRead: true,
    }),
  );
  return out.Item as AnalysisJob | undefined;
}

/** Parsed JSON log lines. */
// biome-ignore lint/suspicious/noExplicitAny: log lines are free-form JSON
export function logLines(h: Harness): any[] {
  return h.logs.map((l) => JSON.parse(l));
}
