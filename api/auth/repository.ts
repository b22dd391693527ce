/**
 * The only code that talks to the principals table: users (`user#<email>`), API keys (`key#<id>`) and login
 * sessions (`session#<id>`).
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { PRINCIPALS_BY_KIND_INDEX } from '../db/tables.js';
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

  /** false when the principal id is taken. */
  private async putNew(item: UserItem | ApiKeyItem): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: 'attribute_not_exists(principal_id)',
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  getUser = (email: string) => this.get<UserItem>(userId(email));
  getApiKey = (id: string) => this.get<ApiKeyItem>(keyId(id));

  createUser(user: Omit<UserItem, 'principal_id' | 'kind'>): Promise<boolean> {
    return this.putNew({ ...user, principal_id: userId(user.email), kind: 'user' });
  }

  createApiKey(key: Omit<ApiKeyItem, 'principal_id' | 'kind'>): Promise<boolean> {
    return this.putNew({ ...key, principal_id: keyId(key.key_id), kind: 'api_key' });
  }

  /** false when there was no such key. */
  async deleteApiKey(id: string): Promise<boolean> {
    const out = await this.doc.send(
      new DeleteCommand({ TableName: this.table, Key: { principal_id: keyId(id) }, ReturnValues: 'ALL_OLD' }),
    );
    return out.Attributes !== undefined;
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

  /** The updated user, or undefined when there is no such user. */
  async updateUser(email: string, changes: UserChanges): Promise<UserItem | undefined> {
    const { endSessions, ...fields } = changes;
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    for (const [name, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      names[`#${name}`] = name;
      values[`:${name}`] = value;
      sets.push(`#${name} = :${name}`);
    }
    let update = `SET ${sets.join(', ')}`;
    if (endSessions) {
      names['#sv'] = 'session_version';
      values[':one'] = 1;
      update += ' ADD #sv :one';
    }
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { principal_id: userId(email) },
          UpdateExpression: update,
          ConditionExpression: 'attribute_exists(principal_id)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return out.Attributes as UserItem;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  }

  /** false when there was no such user. */
  async deleteUser(email: string): Promise<boolean> {
    const out = await this.doc.send(
      new DeleteCommand({ TableName: this.table, Key: { principal_id: userId(email) }, ReturnValues: 'ALL_OLD' }),
    );
    return out.Attributes !== undefined;
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
