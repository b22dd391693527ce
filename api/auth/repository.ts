/** The only code that talks to the principals table: users (`user#<email>`) and API keys (`key#<id>`). */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
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
}

const userId = (email: string) => `user#${email.toLowerCase()}`;
const keyId = (id: string) => `key#${id}`;

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
}
