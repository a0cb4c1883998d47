import { Kysely } from 'kysely';

/**
 * Online GC bookkeeping:
 * - manifests.unreferenced_since: set while a manifest has no tag and no index lists it
 *   (maintained with every tag and manifest write), so untagged-manifest candidates come from
 *   an index instead of a scan;
 * - gc_pending_deletes: blob contents whose metadata is already gone; the content delete
 *   happens after the metadata commit, and a crash in between is finished by the next run;
 * - locks: named leases, so one GC runs at a time across processes;
 * - gc_runs: the history behind GET /api/v1/gc/runs.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('manifests').addColumn('unreferenced_since', 'bigint').execute();
  await db.schema.createIndex('manifests_unreferenced_idx').on('manifests').column('unreferenced_since').execute();
  await db.schema
    .createTable('gc_pending_deletes')
    .addColumn('digest', 'varchar(200)', (c) => c.primaryKey())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('queued_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('locks')
    .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('holder', 'varchar(64)', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('gc_runs')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('trigger', 'varchar(16)', (c) => c.notNull())
    .addColumn('dry_run', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('duration_ms', 'bigint', (c) => c.notNull())
    .addColumn('deleted_blobs', 'bigint', (c) => c.notNull())
    .addColumn('reclaimed_bytes', 'bigint', (c) => c.notNull())
    .addColumn('deleted_manifests', 'bigint', (c) => c.notNull())
    .addColumn('deleted_uploads', 'bigint', (c) => c.notNull())
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('gc_runs_started_idx').on('gc_runs').column('started_at').execute();
}
