import type { Kysely, Migration, MigrationProvider } from 'kysely';
import * as initial from './0001-initial';
import * as gc from './0002-gc';
import * as blobCandidates from './0003-blob-candidates-index';
import * as gcOrphanFiles from './0004-gc-orphan-files';
import * as auth from './0005-auth';
import * as tagsVersion from './0006-tags-version';

/** Migrations compiled into the app (no directory scanning), in order. */
export class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: 'sqlite' | 'postgres') {}

  getMigrations(): Promise<Record<string, Migration>> {
    const dialect = this.dialect;
    return Promise.resolve({
      '0001-initial': { up: (db: Kysely<unknown>) => initial.up(db, dialect) },
      '0002-gc': { up: (db: Kysely<unknown>) => gc.up(db) },
      '0003-blob-candidates-index': { up: (db: Kysely<unknown>) => blobCandidates.up(db) },
      '0004-gc-orphan-files': { up: (db: Kysely<unknown>) => gcOrphanFiles.up(db) },
      '0005-auth': { up: (db: Kysely<unknown>) => auth.up(db, dialect) },
      '0006-tags-version': { up: (db: Kysely<unknown>) => tagsVersion.up(db) },
    });
  }
}
