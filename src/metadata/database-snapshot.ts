/**
 * A consistent copy of the metadata database taken while the registry runs, for backups.
 *
 * SQLite's online backup API (better-sqlite3's `db.backup()`) copies the pages of the live
 * database through a second connection. It is asked to copy every remaining page in one
 * step, under one read transaction: the copy is the database as of one commit, whatever
 * the server writes meanwhile (WAL: readers never block writers). Had a writer changed the
 * source between two steps, SQLite would restart the copy itself.
 *
 * The copy is then opened (with Kysely, like the live database) to tidy what belongs to the
 * live process only (its lease rows) and to read what it references.
 */
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { RegistryConfig } from '../config/registry-config';
import type { Database } from './schema';
import { KyselyLockStore } from './stores/lock.store';

const PAGE = 1000;

export class DatabaseSnapshot {
  private constructor(private readonly db: Kysely<Database>) {}

  /** Copies the live database into `file` (which must not exist) and opens the copy. */
  static async create(source: RegistryConfig['database'], file: string): Promise<DatabaseSnapshot> {
    if (source.filename === ':memory:') throw new Error('the metadata database is in memory (DATABASE_URL=sqlite://:memory:): there is nothing to back up');
    const live = new SQLite(source.filename, { fileMustExist: true });
    try {
      live.pragma('busy_timeout = 5000');
      await live.backup(file, { progress: () => 0x7fffffff }); // the rest in one step: one snapshot
    } finally {
      live.close();
    }
    return new DatabaseSnapshot(new Kysely<Database>({ dialect: new SqliteDialect({ database: new SQLite(file, { fileMustExist: true }) }) }));
  }

  /** Drops a lease the live process held when the copy was taken, so the copy starts unlocked. */
  async releaseLock(name: string, holder: string): Promise<void> {
    await new KyselyLockStore(this.db).release(name, holder);
  }

  /** Every blob the copy knows (digest order), read a page at a time. */
  async *blobs(): AsyncIterable<{ digest: string; size: number }> {
    let after = '';
    for (;;) {
      const page = await this.db.selectFrom('blobs').select(['digest', 'size']).where('digest', '>', after).orderBy('digest').limit(PAGE).execute();
      for (const row of page) yield { digest: row.digest, size: Number(row.size) };
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.digest;
    }
  }

  /** Closes the copy (checkpointing its WAL, so it is one self-contained file). */
  async close(): Promise<void> {
    await this.db.destroy();
  }
}
