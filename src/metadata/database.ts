import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, Migrator, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';
import { mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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

const BEGIN_IMMEDIATE = 'begin immediate';

/**
 * Run inside a transaction, this statement (never sent to SQLite) says the transaction need
 * not wait for the WAL sync: its writes are soft state that a power loss may take back, like
 * the progress of an upload whose staged bytes are not fsync'd before its commit either
 * (UnitOfWork.run with `durable: false`). A later sync still covers them.
 */
export const SKIP_WAL_SYNC = '-- registry: skip the wal sync of this transaction';

/**
 * Makes committed transactions durable without blocking the event loop. With `synchronous =
 * FULL`, SQLite fsyncs the WAL inside COMMIT, and better-sqlite3 is synchronous: every commit
 * froze the whole process for the length of an fsync (a fifth of a worker's time in the
 * push-small profile). The connection runs with `synchronous = NORMAL` instead, where SQLite
 * syncs the WAL only before a checkpoint (and the database file after one), and this class
 * fdatasyncs the WAL on libuv's thread pool after each commit. fdatasync covers every byte
 * written to the file before the call, whichever descriptor wrote it, and frames that a
 * checkpoint moved out of the WAL are in the database file, which the checkpoint synced; so a
 * commit whose sync has finished survives power loss as under FULL, and nobody is told a
 * write is done before (see RegistrySqliteDriver.releaseConnection). What differs: another
 * connection may read a commit while its sync still runs.
 *
 * Syncs coalesce: callers arriving while one runs share the next one, which starts when it
 * ends (it must start after their commit), so N concurrent commits cost about two fsyncs.
 */
export class WalSync {
  private running?: Promise<void>;
  private queued?: Promise<void>;

  /** `datasync` makes every write so far durable; see WalSync.of. */
  constructor(private readonly datasync: () => Promise<void>) {}

  /** The sync of a database file's WAL (of the file itself when there is no WAL yet). */
  static of(filename: string): WalSync {
    return new WalSync(async () => {
      const handle = await open(`${filename}-wal`, 'r').catch(async (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return open(filename, 'r');
        throw error;
      });
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
    });
  }

  /** Resolves once every write committed before the call is on disk. */
  sync(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.running) return this.start();
    this.queued = this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  private start(): Promise<void> {
    const running = this.datasync().finally(() => {
      if (this.running === running) this.running = undefined;
    });
    this.running = running;
    return running;
  }
}

/**
 * Waits for another process's write lock without blocking this one. SQLite's own busy
 * handler sleeps inside the (synchronous) better-sqlite3 call, freezing the whole event
 * loop of a cluster worker for milliseconds at a time whenever another worker is writing;
 * here the busy timeout is 0 and a busy statement is retried after an async pause, so the
 * worker goes on serving meanwhile. Statements inside a transaction are not retried: BEGIN
 * IMMEDIATE already holds the write lock, and a failure there must roll the whole unit back.
 *
 * It also notes whether it committed a write (a COMMIT, or a writing statement outside a
 * transaction), for the driver to make it durable when the connection is released.
 */
class RegistrySqliteConnection implements DatabaseConnection {
  private inTransaction = false;
  /** A write was committed since the connection was acquired. */
  committed = false;
  /** …and it need not be waited for (SKIP_WAL_SYNC). */
  skipSync = false;

  constructor(
    private readonly inner: DatabaseConnection,
    private readonly sqlite: SQLite.Database,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (query.sql === SKIP_WAL_SYNC) {
      this.skipSync = true;
      return { rows: [] };
    }
    const commits = this.commits(query.sql);
    const result = await this.execute<R>(query);
    if (commits) this.committed = true;
    return result;
  }

  /** Whether the statement, once it succeeds, has committed a write. */
  private commits(sql: string): boolean {
    if (sql === 'commit') return true;
    // Inside a transaction, a statement commits with it; BEGIN IMMEDIATE is "not read-only"
    // to SQLite (it takes the write lock) but commits nothing.
    if (this.sqlite.inTransaction || sql === BEGIN_IMMEDIATE) return false;
    try {
      return !this.sqlite.prepare(sql).readonly; // a cache hit (cacheStatements)
    } catch {
      return true; // it fails to run as well, and `committed` is only set by a statement that succeeded
    }
  }

  private async execute<R>(query: CompiledQuery): Promise<QueryResult<R>> {
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

/**
 * Transactions start with BEGIN IMMEDIATE: the write lock is taken up front (waiting, see
 * RegistrySqliteConnection, while another process such as a cluster worker or the CLI holds
 * it). A plain BEGIN reads first and fails at once with SQLITE_BUSY when it then tries to
 * write after another connection committed: no wait can fix a stale snapshot. UnitOfWork.run
 * is only used for writes, so nothing is lost by locking early.
 *
 * Durability: Kysely releases the connection after the last statement of a query or
 * transaction and awaits the release before it resolves. When a write was committed, the
 * release frees the connection for the next user first, then waits for the WAL sync (WalSync),
 * so a write's promise settles only once it is on disk, and the fsync neither blocks the
 * event loop nor holds the connection.
 */
class RegistrySqliteDriver extends SqliteDriver {
  private readonly wrapped = new WeakMap<DatabaseConnection, RegistrySqliteConnection>();

  constructor(
    private readonly sqlite: SQLite.Database,
    private readonly walSync: WalSync | undefined,
  ) {
    super({ database: sqlite });
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection();
    let wrapper = this.wrapped.get(connection);
    if (!wrapper) this.wrapped.set(connection, (wrapper = new RegistrySqliteConnection(connection, this.sqlite)));
    return wrapper;
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(BEGIN_IMMEDIATE));
  }

  // Kysely passes the connection (the Driver interface); SqliteDriver's own signature omits it.
  override async releaseConnection(connection?: DatabaseConnection): Promise<void> {
    const wrapper = connection as RegistrySqliteConnection;
    const committed = wrapper.committed && !wrapper.skipSync;
    wrapper.committed = wrapper.skipSync = false;
    await super.releaseConnection();
    if (committed && this.walSync) await this.walSync.sync();
  }
}

class RegistrySqliteDialect extends SqliteDialect {
  constructor(
    private readonly sqlite: SQLite.Database,
    private readonly walSync: WalSync | undefined,
  ) {
    super({ database: sqlite });
  }

  override createDriver(): Driver {
    return new RegistrySqliteDriver(this.sqlite, this.walSync);
  }
}

/** Opens the metadata database and brings its schema up to date (migrations run at start-up). */
export async function openDatabase(config: RegistryConfig['database']): Promise<Kysely<Database>> {
  if (config.filename !== ':memory:') mkdirSync(dirname(config.filename), { recursive: true });
  const sqlite = new SQLite(config.filename);
  const wal = sqlite.pragma('journal_mode = WAL', { simple: true }) === 'wal';
  // A commit that answered 201 survives power loss (the blob bytes were fsync'd too): with the
  // WAL, because WalSync fdatasyncs it off the event loop before any write settles (NORMAL
  // leaves the per-commit sync to it); without one (in memory), FULL as the fallback.
  const walSync = wal ? WalSync.of(sqlite.name) : undefined;
  sqlite.pragma(walSync ? 'synchronous = NORMAL' : 'synchronous = FULL');
  sqlite.pragma('busy_timeout = 0'); // waits are asynchronous: RegistrySqliteConnection
  cacheStatements(sqlite);
  const db = new Kysely<Database>({ dialect: new RegistrySqliteDialect(sqlite, walSync) });
  const { error, results } = await new Migrator({ db, provider: new StaticMigrationProvider('sqlite') }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    await db.destroy();
    throw new Error(`metadata migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return db;
}
