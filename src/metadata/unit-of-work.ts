import { Inject, Injectable } from '@nestjs/common';
import type { Kysely } from 'kysely';
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

/**
 * The way to metadata: `stores` for single statements and reads, `run` for anything that
 * writes more than one row — it hands out stores bound to one transaction, committed when
 * the callback resolves and rolled back when it throws.
 */
@Injectable()
export class UnitOfWork {
  readonly stores: Stores;

  constructor(@Inject(METADATA_DB) private readonly db: Kysely<Database>) {
    this.stores = bind(db);
  }

  run<T>(work: (stores: Stores) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => work(bind(trx)));
  }
}
