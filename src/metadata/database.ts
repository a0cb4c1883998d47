import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** How long a statement waits for another process's write lock before it fails with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;
/** Pauses between attempts while the lock is busy (then the last one, until the timeout). */
const BUSY_BACKOFF_MS = [0, 1, 1, 2, 2, 5, 5, 10, 10, 20, 50];

const isBusy = (error: unknown): boolean => (error as { code?: unknown } | undefined)?.code === 'SQLITE_BUSY';

/**
 * Waits for another process's write lock without blocking this one. SQLite's own busy
 * handler sleeps inside the (synchronous) better-sqlite3 call, freezing the whole event
 * loop of a cluster worker for milliseconds at a time whenever another worker is writing;
 * here the busy timeout is 0 and a busy statement is retried after an async pause, so the
 * worker goes on serving meanwhile. Statements inside a transaction are not retried: BEGIN
 * IMMEDIATE already holds the write lock, and a failure there must roll the whole unit back.
 */
class BusyRetryingConnection implements DatabaseConnection {
  private inTransaction = false;

  constructor(private readonly inner: DatabaseConnection) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const begins = query.sql === BEGIN_IMMEDIATE;
    if (this.inTransaction && !begins) {
      const result = await this.inner.executeQuery<R>(query);
      if (query.sql === 'commit' || query.sql === 'rollback') this.inTransaction = false;
      return result;
    }
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.inner.executeQuery<R>(query);
        if (begins) this.inTransaction = true;
        return result;
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw error;
        const pause = BUSY_BACKOFF_MS[Math.min(attempt, BUSY_BACKOFF_MS.length - 1)]!;
        await (pause === 0 ? new Promise((resolve) => setImmediate(resolve)) : sleep(pause));
      }
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

const BEGIN_IMMEDIATE = 'begin immediate';

/**
 * Transactions start with BEGIN IMMEDIATE: the write lock is taken up front (waiting, see
 * BusyRetryingConnection, while another process such as a cluster worker or the CLI holds
 * it). A plain BEGIN reads first and fails at once with SQLITE_BUSY when it then tries to
 * write after another connection committed: no wait can fix a stale snapshot. UnitOfWork.run
 * is only used for writes, so nothing is lost by locking early.
 */
class RegistrySqliteDriver extends SqliteDriver {
  private readonly wrapped = new WeakMap<DatabaseConnection, DatabaseConnection>();

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection();
    let wrapper = this.wrapped.get(connection);
    if (!wrapper) this.wrapped.set(connection, (wrapper = new BusyRetryingConnection(connection)));
    return wrapper;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(BEGIN_IMMEDIATE));
  }
}

class RegistrySqliteDialect extends SqliteDialect {
  constructor(private readonly database: SQLite.Database) {
    super({ database });
  }

  override createDriver(): Driver {
    return new RegistrySqliteDriver({ database: this.database });
  }
}

/** Opens the metadata database and brings its schema up to date (migrations run at start-up). */
export async function openDatabase(config: RegistryConfig['database']): Promise<Kysely<Database>> {
  if (config.filename !== ':memory:') mkdirSync(dirname(config.filename), { recursive: true });
  const sqlite = new SQLite(config.filename);
  sqlite.pragma('journal_mode = WAL');
  // FULL: a commit that answered 201 survives power loss (the blob bytes were fsync'd too).
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('busy_timeout = 0'); // waits are asynchronous: BusyRetryingConnection
  cacheStatements(sqlite);
  const db = new Kysely<Database>({ dialect: new RegistrySqliteDialect(sqlite) });
  const { error, results } = await new Migrator({ db, provider: new StaticMigrationProvider('sqlite') }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    await db.destroy();
    throw new Error(`metadata migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return db;
}
