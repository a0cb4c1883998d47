import { Kysely } from 'kysely';

/**
 * Each repository counts the changes to its tags (`tags_version`), bumped in the same
 * transaction as the change, so a tag list can be served from a cache for as long as the
 * version it was read at is still the current one, in any process reading the database.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('repositories').addColumn('tags_version', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
}
