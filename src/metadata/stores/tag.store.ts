import type { Executor } from './executor';

/**
 * Tags: mutable names for manifests, per repository. Every change also bumps the
 * repository's `tags_version` (see RepositoryStore.tagsState): call the writes inside a
 * transaction (UnitOfWork.run), as every caller does, so the two land together.
 */
export interface TagStore {
  resolve(repository: string, tag: string): Promise<string | undefined>;
  /** Points the tag at `digest` (creating or moving it). */
  upsert(repository: string, tag: string, digest: string, now: number): Promise<void>;
  /** Removes one tag; true when it existed. */
  delete(repository: string, tag: string): Promise<boolean>;
  /** Removes every tag of `repository` that points at `digest`. */
  deleteForManifest(repository: string, digest: string): Promise<number>;
  /** Tag names in lexical (byte) order, strictly after `after`, at most `limit`. */
  list(repository: string, after: string | undefined, limit: number): Promise<string[]>;
}

export class KyselyTagStore implements TagStore {
  constructor(private readonly db: Executor) {}

  async resolve(repository: string, tag: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('tags').select('digest').where('repository', '=', repository).where('name', '=', tag).executeTakeFirst();
    return row?.digest;
  }

  private async bumpVersion(repository: string): Promise<void> {
    await this.db
      .updateTable('repositories')
      .set((eb) => ({ tags_version: eb('tags_version', '+', 1) }))
      .where('name', '=', repository)
      .execute();
  }

  async upsert(repository: string, tag: string, digest: string, now: number): Promise<void> {
    await this.bumpVersion(repository);
    await this.db
      .insertInto('tags')
      .values({ repository, name: tag, digest, updated_at: now })
      .onConflict((oc) => oc.columns(['repository', 'name']).doUpdateSet({ digest, updated_at: now }))
      .execute();
  }

  async delete(repository: string, tag: string): Promise<boolean> {
    const result = await this.db.deleteFrom('tags').where('repository', '=', repository).where('name', '=', tag).executeTakeFirst();
    const deleted = Number(result.numDeletedRows) > 0;
    if (deleted) await this.bumpVersion(repository);
    return deleted;
  }

  async deleteForManifest(repository: string, digest: string): Promise<number> {
    const result = await this.db.deleteFrom('tags').where('repository', '=', repository).where('digest', '=', digest).executeTakeFirst();
    const deleted = Number(result.numDeletedRows);
    if (deleted > 0) await this.bumpVersion(repository);
    return deleted;
  }

  async list(repository: string, after: string | undefined, limit: number): Promise<string[]> {
    let query = this.db.selectFrom('tags').select('name').where('repository', '=', repository).orderBy('name').limit(limit);
    if (after !== undefined) query = query.where('name', '>', after);
    return (await query.execute()).map((r) => r.name);
  }
}
