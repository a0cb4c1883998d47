import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver } from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RegistryConfig } from '../config/registry-config';
import { StaticMigrationProvider } from './migrations/migrations';
import type { Database } from './schema';

/** How many distinct statements stay prepared; the application issues a few hundred shapes at most. */
const STATEMENT_CACHE_SIZE = 1000;

/**
 * Kysely's SQLite driver prepares every statement it runs, and preparing costs more than
 * running a typical point query. Statements are reused by their SQL text instead (the
 * parameters are bound per run). Safe because the driver only calls `all` and `run`, which
 * finish before they return; a statement is never left mid-iteration.
 */
export function cacheStatements(sqlite: SQLite.Database): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const prepared = new Map<string, SQLite.Statement>();
  sqlite.prepare = ((source: string) => {
    let statement = prepared.get(source);
    if (statement === undefined) {
      statement = prepare(source);
      if (prepared.size >= STATEMENT_CACHE_SIZE) prepared.delete(prepared.keys().next().value!);
      prepared.set(source, statement);
    }
    return statement;
  }) as typeof sqlite.prepare;
}

/**
 * Transactions start with BEGIN IMMEDIATE: the write lock is taken up front, waiting (busy
 * timeout) while another process (a cluster worker, the CLI) holds it. A plain BEGIN reads
 * first and fails at once with SQLITE_BUSY when it then tries to write after another
 * connection committed: no busy handler can fix a stale snapshot. UnitOfWork.run is only used
 * for writes, so nothing is lost by locking early.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly database: SQLite.Database) {
    super({ database });
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver({ database: this.database });
  }
}

/** Opens the metadata database and brings its schema up to date (migrations run at start-up). */
export async function openDatabase(config: RegistryConfig['database']): Promise<Kysely<Database>> {
  if (config.filename !== ':memory:') mkdirSync(dirname(config.filename), { recursive: true });
  const sqlite = new SQLite(config.filename);
  sqlite.pragma('journal_mode = WAL');
  // FULL: a commit that answered 201 survives power loss (the blob bytes were fsync'd too).
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('busy_timeout = 5000');
  cacheStatements(sqlite);
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect(sqlite) });
  const { error, results } = await new Migrator({ db, provider: new StaticMigrationProvider('sqlite') }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    await db.destroy();
    throw new Error(`metadata migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return db;
}
