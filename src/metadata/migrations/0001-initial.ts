import { Kysely, sql } from 'kysely';

/** Portable DDL: the binary column type is the only dialect difference. */
export async function up(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  const binary = dialect === 'postgres' ? sql`bytea` : sql`blob`;
  await db.schema
    .createTable('repositories')
    .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('blobs')
    .addColumn('digest', 'varchar(200)', (c) => c.primaryKey())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('ref_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('unreferenced_since', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('blobs_unreferenced_idx').on('blobs').column('unreferenced_since').execute();
  await db.schema
    .createTable('repository_blobs')
    .addColumn('repository', 'varchar(255)', (c) => c.notNull())
    .addColumn('digest', 'varchar(200)', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('repository_blobs_pk', ['repository', 'digest'])
    .execute();
  await db.schema.createIndex('repository_blobs_digest_idx').on('repository_blobs').column('digest').execute();
  await db.schema
    .createTable('manifests')
    .addColumn('repository', 'varchar(255)', (c) => c.notNull())
    .addColumn('digest', 'varchar(200)', (c) => c.notNull())
    .addColumn('media_type', 'varchar(255)', (c) => c.notNull())
    .addColumn('artifact_type', 'varchar(255)')
    .addColumn('subject_digest', 'varchar(200)')
    .addColumn('annotations', 'text')
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('payload', binary, (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('manifests_pk', ['repository', 'digest'])
    .execute();
  await db.schema.createIndex('manifests_subject_idx').on('manifests').columns(['repository', 'subject_digest']).execute();
  await db.schema
    .createTable('manifest_refs')
    .addColumn('repository', 'varchar(255)', (c) => c.notNull())
    .addColumn('manifest_digest', 'varchar(200)', (c) => c.notNull())
    .addColumn('child_digest', 'varchar(200)', (c) => c.notNull())
    .addColumn('child_kind', 'varchar(16)', (c) => c.notNull())
    .addPrimaryKeyConstraint('manifest_refs_pk', ['repository', 'manifest_digest', 'child_kind', 'child_digest'])
    .execute();
  await db.schema.createIndex('manifest_refs_child_idx').on('manifest_refs').columns(['child_digest', 'repository']).execute();
  await db.schema
    .createTable('tags')
    .addColumn('repository', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(128)', (c) => c.notNull())
    .addColumn('digest', 'varchar(200)', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('tags_pk', ['repository', 'name'])
    .execute();
  await db.schema.createIndex('tags_digest_idx').on('tags').columns(['repository', 'digest']).execute();
  await db.schema
    .createTable('uploads')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('repository', 'varchar(255)', (c) => c.notNull())
    .addColumn('offset', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('uploads_updated_idx').on('uploads').column('updated_at').execute();
  await db.schema
    .createTable('counters')
    .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('value', 'bigint', (c) => c.notNull())
    .execute();
}
