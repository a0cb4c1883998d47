import type { Selectable } from 'kysely';
import type { Database } from '../schema';
import type { Executor } from './executor';

export interface AccessTokenRecord {
  id: string;
  userId: string;
  name: string;
  /** SHA-256 (hex) of the secret; the secret itself is never stored. */
  secretHash: string;
  /** Repository glob the token is limited to; undefined: no limit beyond the user's policies. */
  repositories?: string;
  /** Actions the token is limited to; undefined: no limit. */
  actions?: string[];
  expiresAt?: number;
  createdAt: number;
  lastUsedAt?: number;
  revokedAt?: number;
}

/** Access tokens (robot accounts / personal tokens), usable as the password of their user. */
export interface AccessTokenStore {
  create(token: AccessTokenRecord): Promise<void>;
  findBySecretHash(secretHash: string): Promise<AccessTokenRecord | undefined>;
  findById(id: string): Promise<AccessTokenRecord | undefined>;
  /** The user's tokens, newest first, revoked ones included. */
  listForUser(userId: string): Promise<AccessTokenRecord[]>;
  /** Marks the token revoked; true when it was live. */
  revoke(id: string, now: number): Promise<boolean>;
  /** Revokes every live token of a user (user deleted). */
  revokeAllForUser(userId: string, now: number): Promise<void>;
  touch(id: string, now: number): Promise<void>;
}

type Row = Selectable<Database['access_tokens']>;

const optionalNumber = (v: number | null): number | undefined => (v === null ? undefined : Number(v));

const toRecord = (r: Row): AccessTokenRecord => ({
  id: r.id,
  userId: r.user_id,
  name: r.name,
  secretHash: r.secret_hash,
  repositories: r.repositories ?? undefined,
  actions: r.actions === null ? undefined : r.actions.split(',').filter(Boolean),
  expiresAt: optionalNumber(r.expires_at),
  createdAt: Number(r.created_at),
  lastUsedAt: optionalNumber(r.last_used_at),
  revokedAt: optionalNumber(r.revoked_at),
});

export class KyselyAccessTokenStore implements AccessTokenStore {
  constructor(private readonly db: Executor) {}

  async create(t: AccessTokenRecord): Promise<void> {
    await this.db
      .insertInto('access_tokens')
      .values({
        id: t.id,
        user_id: t.userId,
        name: t.name,
        secret_hash: t.secretHash,
        repositories: t.repositories ?? null,
        actions: t.actions?.join(',') ?? null,
        expires_at: t.expiresAt ?? null,
        created_at: t.createdAt,
        last_used_at: null,
        revoked_at: null,
      })
      .execute();
  }

  async findBySecretHash(secretHash: string): Promise<AccessTokenRecord | undefined> {
    const row = await this.db.selectFrom('access_tokens').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst();
    return row && toRecord(row);
  }

  async findById(id: string): Promise<AccessTokenRecord | undefined> {
    const row = await this.db.selectFrom('access_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async listForUser(userId: string): Promise<AccessTokenRecord[]> {
    const rows = await this.db.selectFrom('access_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at', 'desc').orderBy('id').execute();
    return rows.map(toRecord);
  }

  async revoke(id: string, now: number): Promise<boolean> {
    const result = await this.db.updateTable('access_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async revokeAllForUser(userId: string, now: number): Promise<void> {
    await this.db.updateTable('access_tokens').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  }

  async touch(id: string, now: number): Promise<void> {
    await this.db.updateTable('access_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
  }
}
