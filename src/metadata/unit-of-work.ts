import { Inject, Injectable } from '@nestjs/common';
import { sql, type Kysely, type Transaction } from 'kysely';
import { SKIP_WAL_SYNC } from './database';
import { METADATA_DB } from './metadata.tokens';
import type { Database } from './schema';
import { AccessTokenStore, KyselyAccessTokenStore } from './stores/access-token.store';
import { AuditStore, KyselyAuditStore } from './stores/audit.store';
import { BlobStore, KyselyBlobStore } from './stores/blob.store';
import { CounterStore, KyselyCounterStore } from './stores/counter.store';
import type { Executor } from './stores/executor';
import { GcStore, KyselyGcStore } from './stores/gc.store';
import { KyselyLockStore, LockStore } from './stores/lock.store';
import { KyselyManifestStore, ManifestStore } from './stores/manifest.store';
import { KyselyPolicyStore, PolicyStore } from './stores/policy.store';
import { KyselyRefreshTokenStore, RefreshTokenStore } from './stores/refresh-token.store';
import { KyselyRepositoryStore, RepositoryStore } from './stores/repository.store';
import { KyselyStatsStore, StatsStore } from './stores/stats.store';
import { KyselyTagStore, TagStore } from './stores/tag.store';
import { KyselyUploadStore, UploadStore } from './stores/upload.store';
import { KyselyUserStore, UserStore } from './stores/user.store';

/** Every store, bound to one executor (the database, or one transaction). */
export interface Stores {
  repositories: RepositoryStore;
  blobs: BlobStore;
  manifests: ManifestStore;
  tags: TagStore;
  uploads: UploadStore;
  counters: CounterStore;
  gc: GcStore;
  locks: LockStore;
  stats: StatsStore;
  users: UserStore;
  accessTokens: AccessTokenStore;
  refreshTokens: RefreshTokenStore;
  policies: PolicyStore;
  audit: AuditStore;
}

function bind(db: Executor): Stores {
  return {
    repositories: new KyselyRepositoryStore(db),
    blobs: new KyselyBlobStore(db),
    manifests: new KyselyManifestStore(db),
    tags: new KyselyTagStore(db),
    uploads: new KyselyUploadStore(db),
    counters: new KyselyCounterStore(db),
    gc: new KyselyGcStore(db),
    locks: new KyselyLockStore(db),
    stats: new KyselyStatsStore(db),
    users: new KyselyUserStore(db),
    accessTokens: new KyselyAccessTokenStore(db),
    refreshTokens: new KyselyRefreshTokenStore(db),
    policies: new KyselyPolicyStore(db),
    audit: new KyselyAuditStore(db),
  };
}

/** Units committed together at most (a bound on the time one commit keeps the others waiting). */
const MAX_GROUP = 64;

export interface UnitOptions {
  /**
   * False for soft state: the unit settles once committed, without waiting for the commit to
   * reach the disk, so a power loss may take it back. Only for writes whose loss a client
   * recovers from by itself, such as an upload session's progress: its staged bytes are not
   * fsync'd before the blob's commit either, and a session found behind its bytes (or gone)
   * makes the client start the upload again. Default true.
   */
  durable?: boolean;
}

interface PendingUnit {
  work: (stores: Stores) => Promise<unknown>;
  durable: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * The way to metadata: `stores` for single statements and reads, `run` for anything that
 * writes more than one row — it hands out stores bound to a transaction, and resolves once
 * that transaction is committed; when the callback throws, none of its writes are kept.
 *
 * Group commit: a durable commit costs an fsync (of the WAL, see WalSync), and that fsync, not
 * the statements, is what limits small writes. Units that become ready in the same
 * turn of the event loop (32 blob pushes in flight each end with one) are committed by one
 * transaction, each inside its own savepoint: a unit that throws is rolled back to its
 * savepoint and rejected alone, the others commit. Each unit's promise settles only after
 * the commit, so nothing is acknowledged before it is durable. A unit alone in its group runs
 * as a plain transaction. A group of soft units only (`durable: false`) does not wait for the
 * fsync.
 */
@Injectable()
export class UnitOfWork {
  readonly stores: Stores;
  private readonly queue: PendingUnit[] = [];
  private flushing = false;

  constructor(@Inject(METADATA_DB) private readonly db: Kysely<Database>) {
    this.stores = bind(db);
  }

  run<T>(work: (stores: Stores) => Promise<T>, options: UnitOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, durable: options.durable ?? true, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushing) {
        this.flushing = true;
        // After the I/O callbacks of this turn: every unit they start joins the same group.
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) await this.commitGroup(this.queue.splice(0, MAX_GROUP));
    } finally {
      this.flushing = false;
    }
  }

  private async commitGroup(group: PendingUnit[]): Promise<void> {
    const outcomes: Outcome[] = [];
    try {
      await this.db.transaction().execute(async (trx) => {
        if (!group.some((unit) => unit.durable)) await sql.raw(SKIP_WAL_SYNC).execute(trx);
        const stores = bind(trx);
        if (group.length === 1) {
          outcomes.push({ ok: true, value: await group[0]!.work(stores) });
          return;
        }
        for (const unit of group) outcomes.push(await this.inSavepoint(trx, stores, unit));
      });
    } catch (error) {
      for (const unit of group) unit.reject(error); // the commit (or the only unit) failed: nothing was kept
      return;
    }
    group.forEach((unit, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    });
  }

  private async inSavepoint(trx: Transaction<Database>, stores: Stores, unit: PendingUnit): Promise<Outcome> {
    await sql`savepoint unit`.execute(trx);
    try {
      const value = await unit.work(stores);
      await sql`release unit`.execute(trx);
      return { ok: true, value };
    } catch (error) {
      await sql`rollback to unit`.execute(trx);
      await sql`release unit`.execute(trx);
      return { ok: false, error };
    }
  }
}
