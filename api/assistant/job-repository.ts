/**
 * The durable queue of pending analysis: one job item per ticket in the ticket's partition
 * (`sk = JOB#analysis`), found through the sparse jobs index (`job_queue`, `due_at`).
 *
 * - request: upsert (a write of the message's own transaction), `generation + 1`; a job already waiting keeps its `due_at` (its backoff or its lease).
 * - claim: conditional on `due_at <= now`, pushes `due_at` to the end of a lease and sets a claim token, so
 *   one task works on a job at a time; a task that dies leaves the job due again when its lease ends.
 * - complete: deletes the job only if nobody requested it again meanwhile (same generation) and the claim
 *   is still ours; otherwise the job stays for one more pass.
 * - release / fail: only with our claim token.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ANALYSIS_JOB_QUEUE, ANALYSIS_JOB_SK, ANALYSIS_JOBS_INDEX } from '../db/tables.js';
import type { Write } from '../db/transaction.js';

export interface AnalysisJob {
  ticket_id: string;
  sk: typeof ANALYSIS_JOB_SK;
  /** Present while pending: puts the item in the jobs index. */
  job_queue?: typeof ANALYSIS_JOB_QUEUE;
  /** When it may be claimed next (now, after a backoff, or at the end of a lease). */
  due_at?: string;
  /** Incremented by every request: a job requested again while being worked on is not deleted. */
  generation: number;
  requested_at: string;
  claim_token?: string;
  /** Consecutive failures of Mistral or storage (backoff grows with them; never gives up). */
  failures?: number;
  /** Consecutive answers rejected as invalid (gives up after a few). */
  invalid_answers?: number;
  last_error?: string;
  state?: 'failed';
  failed_at?: string;
}

const isConditionFailure = (err: unknown) => (err as Error)?.name === 'ConditionalCheckFailedException';

export class AnalysisJobRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  private key(ticketId: string) {
    return { ticket_id: ticketId, sk: ANALYSIS_JOB_SK };
  }

  /** The request of an analysis, as a write of the transaction that stores the customer's message. */
  requestWrite(ticketId: string, now: string): Write {
    return {
      label: 'analysis-job',
      item: {
        Update: {
          TableName: this.table,
          Key: this.key(ticketId),
          UpdateExpression:
            'SET #q = :q, #due = if_not_exists(#due, :now), requested_at = :now ADD generation :one REMOVE #state, failed_at',
          ExpressionAttributeNames: {
            '#q': ANALYSIS_JOBS_INDEX.partitionAttribute,
            '#due': 'due_at',
            '#state': 'state',
          },
          ExpressionAttributeValues: { ':q': ANALYSIS_JOB_QUEUE, ':now': now, ':one': 1 },
        },
      },
    };
  }

  async get(ticketId: string): Promise<AnalysisJob | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: this.key(ticketId), ConsistentRead: true }),
    );
    return out.Item as AnalysisJob | undefined;
  }

  /** Jobs due by `now`, oldest due first (index reads are eventually consistent; the claim decides). */
  async due(now: string, limit: number): Promise<AnalysisJob[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: ANALYSIS_JOBS_INDEX.name,
        KeyConditionExpression: '#q = :q AND #due <= :now',
        ExpressionAttributeNames: {
          '#q': ANALYSIS_JOBS_INDEX.partitionAttribute,
          '#due': ANALYSIS_JOBS_INDEX.sortAttribute,
        },
        ExpressionAttributeValues: { ':q': ANALYSIS_JOB_QUEUE, ':now': now },
        Limit: limit,
      }),
    );
    return (out.Items ?? []) as AnalysisJob[];
  }

  /** Takes the job for a lease if it is due; undefined when it is not pending, not due or already taken. */
  async claim(ticketId: string, now: string, leaseUntil: string, token: string): Promise<AnalysisJob | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(ticketId),
          UpdateExpression: 'SET #due = :lease, claim_token = :token, claimed_at = :now',
          ConditionExpression: '#q = :q AND #due <= :now',
          ExpressionAttributeNames: { '#q': ANALYSIS_JOBS_INDEX.partitionAttribute, '#due': 'due_at' },
          ExpressionAttributeValues: { ':q': ANALYSIS_JOB_QUEUE, ':now': now, ':lease': leaseUntil, ':token': token },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes as AnalysisJob;
    } catch (err) {
      if (isConditionFailure(err)) return undefined;
      throw err;
    }
  }

  /** Deletes the job if it is still ours and was not requested again; false otherwise. */
  async complete(job: AnalysisJob): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: this.key(job.ticket_id),
          ConditionExpression: 'claim_token = :token AND generation = :generation',
          ExpressionAttributeValues: { ':token': job.claim_token, ':generation': job.generation },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /** Deletes the job whatever its state (its ticket is gone). */
  async remove(ticketId: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: this.key(ticketId) }));
  }

  /** Gives the job back, due at `dueAt`, with its failure counters; false when the claim was lost. */
  async release(
    job: AnalysisJob,
    dueAt: string,
    counters: { failures?: number; invalid_answers?: number; last_error?: string } = {},
  ): Promise<boolean> {
    const set: Record<string, unknown> = { due_at: dueAt, ...counters };
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ':token': job.claim_token };
    const clauses = Object.entries(set)
      .filter(([, v]) => v !== undefined)
      .map(([attr, v], i) => {
        names[`#a${i}`] = attr;
        values[`:v${i}`] = v;
        return `#a${i} = :v${i}`;
      });
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(job.ticket_id),
          UpdateExpression: `SET ${clauses.join(', ')} REMOVE claim_token`,
          ConditionExpression: 'claim_token = :token',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  }

  /**
   * Records that the analysis gave up (the item leaves the index and stays as the record of the failure).
   * If the ticket was requested again meanwhile, the job is released for a fresh start instead.
   */
  async fail(job: AnalysisJob, now: string, error: string): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: this.key(job.ticket_id),
          UpdateExpression:
            'SET #state = :failed, failed_at = :now, last_error = :error REMOVE #q, due_at, claim_token, failures, invalid_answers',
          ConditionExpression: 'claim_token = :token AND generation = :generation',
          ExpressionAttributeNames: { '#state': 'state', '#q': ANALYSIS_JOBS_INDEX.partitionAttribute },
          ExpressionAttributeValues: {
            ':failed': 'failed',
            ':now': now,
            ':error': error,
            ':token': job.claim_token,
            ':generation': job.generation,
          },
        }),
      );
      return true;
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      await this.release(job, now, { failures: 0, invalid_answers: 0 });
      return false;
    }
  }
}
