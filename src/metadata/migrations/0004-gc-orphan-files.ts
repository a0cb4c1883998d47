import { Kysely } from 'kysely';

/** GC run history also records the orphan blob files a pass removed. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('gc_runs').addColumn('deleted_orphan_files', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
}
