import { Kysely, sql } from 'kysely';

/**
 * GC's blob candidates in digest order, from an index of unreferenced blobs only.
 *
 * The candidate query (`ref_count <= 0 and unreferenced_since <= cutoff order by digest`, paged
 * by `digest > after`) could not be served by `blobs_unreferenced_idx` without a sort, so SQLite
 * walked the whole primary-key index instead and checked every blob: a pass with nothing to
 * collect cost ~180 ms on 100,000 blobs and grew with the store. This partial index holds only
 * the blobs with `unreferenced_since` set (exactly those with ref_count 0), in digest order:
 * the query uses it as it is (`unreferenced_since <= ?` implies `is not null`, in SQLite and in
 * PostgreSQL), so a pass reads only what it may collect.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('blobs_gc_candidates_idx')
    .on('blobs')
    .column('digest')
    .where(sql.ref('unreferenced_since'), 'is not', null)
    .execute();
}
