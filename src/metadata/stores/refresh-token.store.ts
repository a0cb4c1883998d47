import type { Executor } from './executor';

export interface RefreshTokenRecord {
  id: string;
  /** SHA-256 (hex) of the token; the token itself is never stored. */
  tokenHash: string;
  userId: string;
  /** The access token the login used, when it used one: its limits and revocation carry over. */
  accessTokenId?: string;
  /** The audience it was issued for; it refreshes tokens for that service only. */
  service: string;
  clientId?: string;
  /** The user's credentials version at issue; a later password change or disable kills it. */
  credentialsVersion: number;
  createdAt: number;
  revokedAt?: number;
}

/** OAuth2 refresh tokens (docker's "identity token"), opaque to clients. */
export interface RefreshTokenStore {
  create(token: RefreshTokenRecord): Promise<void>;
  findByHash(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  touch(id: string, now: number): Promise<void>;
  /** Revokes every live refresh token of a user (password change, disable, delete). */
  revokeAllForUser(userId: string, now: number): Promise<void>;
  /** Revokes the refresh tokens obtained through an access token (the access token was revoked). */
  revokeForAccessToken(accessTokenId: string, now: number): Promise<void>;
}

export class KyselyRefreshTokenStore implements RefreshTokenStore {
  constructor(private readonly db: Executor) {}

  async create(t: RefreshTokenRecord): Promise<void> {
    await this.db
      .insertInto('refresh_tokens')
      .values({
        id: t.id,
        token_hash: t.tokenHash,
        user_id: t.userId,
        access_token_id: t.accessTokenId ?? null,
        service: t.service,
        client_id: t.clientId ?? null,
        credentials_version: t.credentialsVersion,
        created_at: t.createdAt,
        last_used_at: null,
        revoked_at: null,
      })
      .execute();
  }

  async findByHash(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const r = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    if (!r) return undefined;
    return {
      id: r.id,
      tokenHash: r.token_hash,
      userId: r.user_id,
      accessTokenId: r.access_token_id ?? undefined,
      service: r.service,
      clientId: r.client_id ?? undefined,
      credentialsVersion: Number(r.credentials_version),
      createdAt: Number(r.created_at),
      revokedAt: r.revoked_at === null ? undefined : Number(r.revoked_at),
    };
  }

  async touch(id: string, now: number): Promise<void> {
    await this.db.updateTable('refresh_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
  }

  async revokeAllForUser(userId: string, now: number): Promise<void> {
    await this.db.updateTable('refresh_tokens').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  }

  async revokeForAccessToken(accessTokenId: string, now: number): Promise<void> {
    await this.db.updateTable('refresh_tokens').set({ revoked_at: now }).where('access_token_id', '=', accessTokenId).where('revoked_at', 'is', null).execute();
  }
}
