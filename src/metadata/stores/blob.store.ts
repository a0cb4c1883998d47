import { sql } from 'kysely';
import type { Executor } from './executor';
import { QueryTemplate } from './query-template';

export interface BlobRecord {
  digest: string;
  size: number;
  refCount: number;
}

/** Blobs, stored once for the whole registry, and their links to repositories. */
export interface BlobStore {
  find(digest: string): Promise<BlobRecord | undefined>;
  /** The blob if `repository` is linked to it (the only way a repository may serve it). */
  findLinked(repository: string, digest: string): Promise<BlobRecord | undefined>;
  /** Inserts the blob row unless present; true when this call created it. */
  createOrFind(digest: string, size: number, now: number): Promise<boolean>;
  /** Links a blob to a repository; true when the link is new. */
  link(repository: string, digest: string, now: number): Promise<boolean>;
  /** Removes a link; true when there was one. */
  unlink(repository: string, digest: string): Promise<boolean>;
  /** Repositories linking the blob (at most `limit`, by name). */
  repositoriesLinking(digest: string, limit?: number): Promise<string[]>;
  /** Of `digests`, those linked to `repository`. */
  linkedAmong(repository: string, digests: string[]): Promise<Set<string>>;
  /**
   * Restarts the grace period of an unreferenced blob that a client is about to use (a HEAD
   * that skips an upload, a mount, a re-upload), so GC does not take it from under a push.
   */
  touch(digest: string, now: number): Promise<void>;
  /** Changes the reference counts of blobs that exist; sets `unreferenced_since` when a count reaches 0. */
  adjustRefCounts(digests: string[], delta: 1 | -1, now: number): Promise<void>;
}

const FIND_LINKED = new QueryTemplate((db, repository: string, digest: string) =>
  db
    .selectFrom('repository_blobs as rb')
    .innerJoin('blobs as b', 'b.digest', 'rb.digest')
    .select(['b.digest', 'b.size', 'b.ref_count'])
    .where('rb.repository', '=', repository)
    .where('rb.digest', '=', digest),
);

export class KyselyBlobStore implements BlobStore {
  constructor(private readonly db: Executor) {}

  async find(digest: string): Promise<BlobRecord | undefined> {
    const row = await this.db.selectFrom('blobs').select(['digest', 'size', 'ref_count']).where('digest', '=', digest).executeTakeFirst();
    return row && { digest: row.digest, size: Number(row.size), refCount: Number(row.ref_count) };
  }

  async repositoriesLinking(digest: string, limit = 1000): Promise<string[]> {
    const rows = await this.db.selectFrom('repository_blobs').select('repository').where('digest', '=', digest).orderBy('repository').limit(limit).execute();
    return rows.map((r) => r.repository);
  }

  async findLinked(repository: string, digest: string): Promise<BlobRecord | undefined> {
    const row = await FIND_LINKED.executeTakeFirst(this.db, repository, digest);
    return row && { digest: row.digest, size: Number(row.size), refCount: Number(row.ref_count) };
  }

  async createOrFind(digest: string, size: number, now: number): Promise<boolean> {
    const result = await this.db
      .insertInto('blobs')
      .values({ digest, size, unreferenced_since: now, created_at: now })
      .onConflict((oc) => oc.column('digest').doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async link(repository: string, digest: string, now: number): Promise<boolean> {
    const result = await this.db
      .insertInto('repository_blobs')
      .values({ repository, digest, created_at: now })
      .onConflict((oc) => oc.columns(['repository', 'digest']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async unlink(repository: string, digest: string): Promise<boolean> {
    const result = await this.db.deleteFrom('repository_blobs').where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async linkedAmong(repository: string, digests: string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await this.db
      .selectFrom('repository_blobs')
      .select('digest')
      .where('repository', '=', repository)
      .where('digest', 'in', digests)
      .execute();
    return new Set(rows.map((r) => r.digest));
  }

  async touch(digest: string, now: number): Promise<void> {
    await this.db.updateTable('blobs').set({ unreferenced_since: now }).where('digest', '=', digest).where('ref_count', '<=', 0).execute();
  }

  async adjustRefCounts(digests: string[], delta: 1 | -1, now: number): Promise<void> {
    if (digests.length === 0) return;
    await this.db
      .updateTable('blobs')
      .set({
        ref_count: sql`ref_count + ${delta}`,
        unreferenced_since: sql`case when ref_count + ${delta} <= 0 then ${now} else null end`,
      })
      .where('digest', 'in', digests)
      .execute();
  }
}
