import type { Executor } from './executor';
import { QueryTemplate } from './query-template';

/** OCI repositories. A repository exists once something was linked or pushed to it. */
export interface RepositoryStore {
  exists(name: string): Promise<boolean>;
  /**
   * Whether the repository exists and, if so, a value that changes whenever its tags change
   * (or the repository is removed and created again): what a cached tag list is checked against.
   */
  tagsState(name: string): Promise<string | undefined>;
  /** Creates the repository if it does not exist (idempotent, race-free). */
  createOrFind(name: string, now: number): Promise<void>;
  /** Names in lexical order, strictly after `after`, at most `limit`. */
  list(after: string | undefined, limit: number): Promise<string[]>;
}

const TAGS_STATE = new QueryTemplate((db, name: string) =>
  db.selectFrom('repositories').select(['created_at', 'tags_version']).where('name', '=', name),
);

export class KyselyRepositoryStore implements RepositoryStore {
  constructor(private readonly db: Executor) {}

  async exists(name: string): Promise<boolean> {
    const row = await this.db.selectFrom('repositories').select('name').where('name', '=', name).executeTakeFirst();
    return row !== undefined;
  }

  async tagsState(name: string): Promise<string | undefined> {
    const row = await TAGS_STATE.executeTakeFirst(this.db, name);
    return row === undefined ? undefined : `${row.created_at}:${row.tags_version}`;
  }

  async createOrFind(name: string, now: number): Promise<void> {
    await this.db
      .insertInto('repositories')
      .values({ name, created_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }

  async list(after: string | undefined, limit: number): Promise<string[]> {
    let query = this.db.selectFrom('repositories').select('name').orderBy('name').limit(limit);
    if (after !== undefined) query = query.where('name', '>', after);
    return (await query.execute()).map((r) => r.name);
  }
}
