/**
 * The only code that talks to the principals table: users (`user#<email>`), API keys (`key#<id>`) and login
 * sessions (`session#<id>`).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { PRINCIPALS_BY_KIND_INDEX } from '../db/tables.js';
import { commit, TransactionCancelled, transactionToken, type Write } from '../db/transaction.js';
import type { Role } from './principal.js';

export interface UserItem {
  principal_id: string;
  kind: 'user';
  email: string;
  name: string;
  role: Role;
  password_hash: string;
  created_at: string;
  created_by: string;
  /** Absent on accounts created before deactivation existed: active. */
  active?: boolean;
  /**
   * Raised by every change that must end sessions (deactivation, demotion, deletion, password change):
   * a session whose version is lower is refused. Absent: 0.
   */
  session_version?: number;
  updated_at?: string;
}

export interface ApiKeyItem {
  principal_id: string;
  kind: 'api_key';
  key_id: string;
  name: string;
  role: Role;
  /** SHA-256 of the secret part; the key itself is shown once and never stored. */
  key_hash: string;
  created_at: string;
  created_by: string;
  /** Written at most once a minute per key (see AuthService), not on every request. */
  last_used_at?: string;
}

/** One login: its rotating refresh token and the user's session version it was opened under. */
export interface SessionItem {
  principal_id: string;
  session_id: string;
  email: string;
  session_version: number;
  /** SHA-256 of the current refresh token's secret; a refresh replaces it. */
  refresh_hash: string;
  revoked: boolean;
  created_at: string;
  /** Epoch seconds: refused after it, and deleted by the table's TTL. */
  expires_at: number;
}

export type UserChanges = Partial<Pick<UserItem, 'name' | 'role' | 'active' | 'password_hash'>> & {
  updated_at: string;
  /** Raise the session version (ends every session opened before). */
  endSessions: boolean;
};

const userId = (email: string) => `user#${email.toLowerCase()}`;
const keyId = (id: string) => `key#${id}`;
const sessionKey = (id: string) => `session#${id}`;

export class PrincipalRepository {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  private async get<T>(principalId: string): Promise<T | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { principal_id: principalId } }));
    return out.Item as T | undefined;
  }

  /** Sends the principal's write with the others of its change (its audit event) as one transaction. */
  private async transact(write: Write, also: readonly Write[], operation: string): Promise<boolean> {
    try {
      await commit(this.doc, [write, ...also], transactionToken(operation));
      return true;
    } catch (err) {
      if (err instanceof TransactionCancelled && err.failed(write.label)) return false;
      throw err;
    }
  }

  /** false when the principal id is taken. */
  private putNew(item: UserItem | ApiKeyItem, also: readonly Write[]): Promise<boolean> {
    const put = {
      label: 'principal',
      item: { Put: { TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(principal_id)' } },
    };
    return this.transact(put, also, `create:${item.principal_id}`);
  }

  /** false when there was no such principal. */
  private deleteExisting(principalId: string, also: readonly Write[]): Promise<boolean> {
    const del = {
      label: 'principal',
      item: {
        Delete: {
          TableName: this.table,
          Key: { principal_id: principalId },
          ConditionExpression: 'attribute_exists(principal_id)',
        },
      },
    };
    return this.transact(del, also, `delete:${principalId}`);
  }

  getUser = (email: string) => this.get<UserItem>(userId(email));
  getApiKey = (id: string) => this.get<ApiKeyItem>(keyId(id));

  /** `also`: the writes committed with it (its audit event). */
  createUser(user: Omit<UserItem, 'principal_id' | 'kind'>, also: readonly Write[] = []): Promise<boolean> {
    return this.putNew({ ...user, principal_id: userId(user.email), kind: 'user' }, also);
  }

  createApiKey(key: Omit<ApiKeyItem, 'principal_id' | 'kind'>, also: readonly Write[] = []): Promise<boolean> {
    return this.putNew({ ...key, principal_id: keyId(key.key_id), kind: 'api_key' }, also);
  }

  /** false when there was no such key. */
  deleteApiKey(id: string, also: readonly Write[] = []): Promise<boolean> {
    return this.deleteExisting(keyId(id), also);
  }

  /** Every item of a kind (`user`, `api_key`), one Query page after another (staff and keys are few). */
  async listByKind<T>(kind: 'user' | 'api_key'): Promise<T[]> {
    const items: T[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: PRINCIPALS_BY_KIND_INDEX.name,
          KeyConditionExpression: '#kind = :kind',
          ExpressionAttributeNames: { '#kind': PRINCIPALS_BY_KIND_INDEX.partitionAttribute },
          ExpressionAttributeValues: { ':kind': kind },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...((out.Items ?? []) as T[]));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /**
   * Applies `changes` to the user as read (`current`), with `also` in the same transaction. A change that ends
   * sessions is conditional on the session version read, so the version it sets is exact. The user as written,
   * or undefined when the user is gone or its sessions were ended meanwhile (the caller reads again).
   */
  async updateUser(
    current: UserItem,
    changes: UserChanges,
    also: readonly Write[] = [],
  ): Promise<UserItem | undefined> {
    const { endSessions, ...fields } = changes;
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const next: UserItem = { ...current };
    for (const [name, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      names[`#${name}`] = name;
      values[`:${name}`] = value;
      sets.push(`#${name} = :${name}`);
      (next as unknown as Record<string, unknown>)[name] = value;
    }
    let condition = 'attribute_exists(principal_id)';
    if (endSessions) {
      const version = current.session_version ?? 0;
      names['#sv'] = 'session_version';
      values[':sv'] = version + 1;
      sets.push('#sv = :sv');
      next.session_version = version + 1;
      if (current.session_version === undefined) condition += ' AND attribute_not_exists(#sv)';
      else {
        values[':was'] = version;
        condition += ' AND #sv = :was';
      }
    }
    const update = {
      label: 'principal',
      item: {
        Update: {
          TableName: this.table,
          Key: { principal_id: userId(current.email) },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        },
      },
    };
    const done = await this.transact(update, also, `update:${userId(current.email)}:${next.session_version ?? 0}`);
    return done ? next : undefined;
  }

  /** false when there was no such user. */
  deleteUser(email: string, also: readonly Write[] = []): Promise<boolean> {
    return this.deleteExisting(userId(email), also);
  }

  /**
   * Records a key's use unless another task recorded one since `notBefore` (no error either way). One attempt
   * under `deadlineMs`: a best-effort write must not hold a connection through retries while DynamoDB stalls.
   */
  async touchApiKey(id: string, at: string, notBefore: string, deadlineMs = 1000): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { principal_id: keyId(id) },
          UpdateExpression: 'SET last_used_at = :at',
          ConditionExpression:
            'attribute_exists(principal_id) AND (attribute_not_exists(last_used_at) OR last_used_at < :nb)',
          ExpressionAttributeValues: { ':at': at, ':nb': notBefore },
        }),
        { abortSignal: AbortSignal.timeout(deadlineMs) },
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  getSession = (id: string) => this.get<SessionItem>(sessionKey(id));

  async createSession(session: Omit<SessionItem, 'principal_id'>): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...session, principal_id: sessionKey(session.session_id) },
        ConditionExpression: 'attribute_not_exists(principal_id)',
      }),
    );
  }

  /** Replaces the refresh token if `expectedHash` is still the current one; false when it is not. */
  async rotateRefresh(id: string, expectedHash: string, nextHash: string): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { principal_id: sessionKey(id) },
          UpdateExpression: 'SET refresh_hash = :next',
          ConditionExpression: 'refresh_hash = :expected AND revoked = :no',
          ExpressionAttributeValues: { ':next': nextHash, ':expected': expectedHash, ':no': false },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async revokeSession(id: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { principal_id: sessionKey(id) },
          UpdateExpression: 'SET revoked = :yes',
          ConditionExpression: 'attribute_exists(principal_id)',
          ExpressionAttributeValues: { ':yes': true },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  /** Moves a session to the user's new session version (the session that changed the password stays). */
  async setSessionVersion(id: string, version: number): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { principal_id: sessionKey(id) },
        UpdateExpression: 'SET session_version = :v',
        ExpressionAttributeValues: { ':v': version },
      }),
    );
  }
}
