/**
 * Online garbage collection: mark-and-sweep on maintained reference counts, no downtime.
 *
 * Marking is done continuously by every manifest write and delete (reference counts and
 * `unreferenced_since`, in the same transaction as the write), so a GC pass only sweeps
 * candidates read from indexes: its cost follows what there is to collect.
 *
 * A pass, holding the database lock `gc` so that only one runs at a time anywhere:
 *  1. finishes content deletes a crashed earlier pass left queued (gc_pending_deletes);
 *  2. ends expired upload sessions and their staged bytes;
 *  3. deletes collectable manifests (referrers of a deleted subject; untagged manifests when
 *     configured), each re-checked in the transaction that deletes it;
 *  4. deletes blobs unreferenced for longer than the grace period: in one transaction per
 *     batch it re-checks each, removes its repository links and row and queues its content;
 *     then deletes the content and clears the queue. Metadata first, then bytes: a crash in
 *     between leaves only queued orphan files, which step 1 of the next pass removes;
 *  5. forgets repositories left with nothing in them, so they leave the catalog;
 *  6. checks one of the 256 shards of the blob store for files no metadata knows.
 * Against uploads in this process, a per-digest lock (BlobLocks) covers the window between
 * a blob's metadata delete and its content delete. Against manifest pushes, transactions do:
 * a push checks its blobs are linked in the same transaction that references them, and GC
 * deletes only rows whose reference count is still zero in its own transaction.
 */
import { HttpException, HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { BlobLocks } from '../blob/blob-locks';
import { Digest, tryParseDigest } from '../common/oci/digest';
import { OciError } from '../common/errors/oci-error';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import { removeManifest } from '../manifest/manifest-removal';
import { MetricsService } from '../metrics/metrics.service';
import type { BlobCandidate, GcRunRecord } from '../metadata/stores/gc.store';
import { UnitOfWork } from '../metadata/unit-of-work';
import type { StorageDriver } from '../storage/storage-driver';
import { storageKeys } from '../storage/storage-keys';
import { STORAGE_DRIVER } from '../storage/storage.tokens';
import { UploadService } from '../upload/upload.service';

export interface GcReport {
  id: string;
  dryRun: boolean;
  /** Blobs deleted (or, in a dry run, that would be). */
  deletedLayers: number;
  reclaimedBytes: number;
  deletedManifests: number;
  deletedUploads: number;
  /** Blob files no metadata knows (an upload cut off between its rename and its commit). */
  deletedOrphanFiles: number;
  durationMs: number;
  startedAt: string;
}

const BATCH = 500;
/** Of the 256 two-hex shards of the blob store, how many one pass checks for orphan files. */
const ORPHAN_SHARDS_PER_PASS = 1;
const ALGORITHMS = ['sha256', 'sha512'] as const;
const DELETE_CONCURRENCY = 16;
/**
 * The GC lease lasts LOCK_TTL_MS and the pass renews it every LOCK_RENEW_MS while it runs, so
 * a pass that dies with its process (a killed cluster worker, a crash) blocks the next one
 * for at most a minute, while a long pass keeps its lease however long it takes.
 */
const LOCK_TTL_MS = 60 * 1000;
const LOCK_RENEW_MS = 15 * 1000;

export class GcAlreadyRunning extends HttpException {
  constructor() {
    super('a garbage collection is already running', HttpStatus.CONFLICT);
  }
}

@Injectable()
export class GcService {
  private readonly logger = new Logger(GcService.name);

  constructor(
    private readonly uow: UnitOfWork,
    private readonly uploads: UploadService,
    private readonly blobLocks: BlobLocks,
    @Inject(STORAGE_DRIVER) private readonly driver: StorageDriver,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
    private readonly metrics: MetricsService,
  ) {}

  /** One pass. Throws GcAlreadyRunning when another holds the lock. */
  async run(options: { dryRun?: boolean; trigger: GcRunRecord['trigger'] }): Promise<GcReport> {
    const dryRun = options.dryRun ?? false;
    if (this.config.readOnly && !dryRun) throw OciError.readOnly();
    const started = Date.now();
    const holder = randomUUID();
    if (!(await this.uow.run((stores) => stores.locks.acquire('gc', holder, LOCK_TTL_MS, Date.now())))) {
      this.metrics.gcRun(options.trigger, 'skipped');
      throw new GcAlreadyRunning();
    }
    const report: GcReport = {
      id: holder,
      dryRun,
      deletedLayers: 0,
      reclaimedBytes: 0,
      deletedManifests: 0,
      deletedUploads: 0,
      deletedOrphanFiles: 0,
      durationMs: 0,
      startedAt: new Date(started).toISOString(),
    };
    let error: string | null = null;
    const renewal = setInterval(() => {
      this.uow.run((stores) => stores.locks.acquire('gc', holder, LOCK_TTL_MS, Date.now())).catch((e: unknown) => this.logger.warn(`gc ${holder}: lease renewal failed: ${String(e)}`));
    }, LOCK_RENEW_MS);
    try {
      if (dryRun) await this.preview(report);
      else await this.sweep(report);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
      throw e;
    } finally {
      clearInterval(renewal);
      report.durationMs = Date.now() - started;
      this.metrics.gcRun(options.trigger, error !== null ? 'failure' : dryRun ? 'dry_run' : 'success', report);
      await this.uow.stores.gc.recordRun({
        id: report.id,
        trigger: options.trigger,
        dryRun,
        startedAt: started,
        durationMs: report.durationMs,
        deletedLayers: report.deletedLayers,
        reclaimedBytes: report.reclaimedBytes,
        deletedManifests: report.deletedManifests,
        deletedUploads: report.deletedUploads,
        deletedOrphanFiles: report.deletedOrphanFiles,
        error,
      });
      await this.uow.stores.locks.release('gc', holder);
    }
    if (report.deletedLayers + report.deletedManifests + report.deletedUploads > 0 && !dryRun) {
      this.logger.log(
        `gc ${report.id}: ${report.deletedManifests} manifests, ${report.deletedLayers} blobs (${report.reclaimedBytes} bytes), ${report.deletedUploads} uploads in ${report.durationMs} ms`,
      );
    }
    return report;
  }

  listRuns(limit: number): Promise<GcRunRecord[]> {
    return this.uow.stores.gc.listRuns(limit);
  }

  private cutoff(): number {
    return Date.now() - this.config.gc.graceMs;
  }

  /**
   * What a pass would delete now: its manifests, the blobs they release when there is no grace
   * period (a pass collects those at once), and the blobs already collectable. Deeper cascades
   * (the children of a deleted index) show up in the next preview, as they go in the next pass.
   */
  private async preview(report: GcReport): Promise<void> {
    const stores = this.uow.stores;
    const untagged = this.config.gc.deleteUntagged;
    const cutoff = this.cutoff();
    report.deletedManifests = (await stores.gc.manifestCandidates(cutoff, untagged, 1_000_000)).length;
    if (this.config.gc.graceMs === 0) {
      const released = await stores.gc.blobsReleasedByManifestCandidates(cutoff, untagged);
      report.deletedLayers += released.length;
      report.reclaimedBytes += released.reduce((sum, b) => sum + b.size, 0);
    }
    let after: string | undefined;
    for (;;) {
      const batch = await stores.gc.blobCandidates(cutoff, BATCH, after);
      if (batch.length === 0) break;
      report.deletedLayers += batch.length;
      report.reclaimedBytes += batch.reduce((sum, b) => sum + b.size, 0);
      after = batch[batch.length - 1]!.digest;
    }
    report.deletedUploads = (await stores.uploads.listIdleSince(Date.now() - this.config.uploadTimeoutMs, 1_000_000)).length;
  }

  private async sweep(report: GcReport): Promise<void> {
    await this.finishPendingDeletes();
    report.deletedUploads = await this.uploads.purgeExpired();
    report.deletedManifests = await this.sweepManifests();
    const blobs = await this.sweepBlobs();
    report.deletedLayers = blobs.count;
    report.reclaimedBytes = blobs.bytes;
    // Checked and deleted in one transaction: a push re-creates its repository in its own.
    await this.uow.run((stores) => stores.gc.deleteEmptyRepositories());
    report.deletedOrphanFiles = await this.sweepOrphanShards();
  }

  private nextShard = Math.floor(Math.random() * 256);

  /**
   * An upload that dies between renaming its bytes into place and committing their metadata
   * leaves a blob file no row knows. Nothing records it (recording it first would cost every
   * push a durable write), so each pass checks the next shard of the store in turn: the whole
   * store every 256 / ORPHAN_SHARDS_PER_PASS passes, at a small, bounded cost per pass. A
   * file is deleted only when it is older than the grace period, no row knows it, and no
   * upload is committing it (its BlobLocks lock is free and held by us while we delete).
   * One shard per pass keeps a pass with nothing to do cheap (~390 files per shard at 100,000
   * blobs); at the default 60 s interval the whole store is checked every ~4 hours, which is
   * plenty for leftovers of crashes.
   */
  private async sweepOrphanShards(): Promise<number> {
    const cutoff = this.cutoff();
    let deleted = 0;
    for (let i = 0; i < ORPHAN_SHARDS_PER_PASS; i++) {
      const shard = (this.nextShard++ % 256).toString(16).padStart(2, '0');
      for (const algorithm of ALGORITHMS) {
        const prefix = `${storageKeys.blobsRoot}/${algorithm}/${shard}`;
        const digests: string[] = [];
        for await (const hex of this.driver.list(prefix)) {
          const digest = tryParseDigest(`${algorithm}:${hex}`); // anything else is not ours to judge
          if (digest) digests.push(digest);
        }
        if (digests.length === 0) continue;
        const known = await this.uow.stores.gc.existingBlobs(digests);
        for (const digest of digests.filter((d) => !known.has(d))) {
          const release = await this.blobLocks.tryAcquire(digest);
          if (!release) continue;
          try {
            const key = storageKeys.blob(digest as Digest);
            const stat = await this.driver.stat(key);
            if (!stat || stat.modifiedAt.getTime() > cutoff) continue;
            if ((await this.uow.stores.gc.existingBlobs([digest])).size > 0) continue;
            await this.driver.delete(key);
            deleted++;
          } finally {
            release();
          }
        }
      }
    }
    return deleted;
  }

  private async sweepManifests(): Promise<number> {
    const untagged = this.config.gc.deleteUntagged;
    const cutoff = this.cutoff();
    let deleted = 0;
    for (;;) {
      const batch = await this.uow.stores.gc.manifestCandidates(cutoff, untagged, BATCH);
      let progressed = 0;
      for (const candidate of batch) {
        const removed = await this.uow.run(async (stores) => {
          if (!(await stores.gc.isManifestCollectable(candidate, cutoff, untagged))) return false;
          return removeManifest(stores, candidate.repository, candidate.digest, Date.now());
        });
        if (removed) progressed++;
      }
      deleted += progressed;
      if (batch.length < BATCH || progressed === 0) return deleted;
    }
  }

  private async sweepBlobs(): Promise<{ count: number; bytes: number }> {
    // Read after the manifest sweep, so blobs it just released count from then on.
    const cutoff = this.cutoff();
    let count = 0;
    let bytes = 0;
    let after: string | undefined;
    for (;;) {
      const batch = await this.uow.stores.gc.blobCandidates(cutoff, BATCH, after);
      if (batch.length === 0) return { count, bytes };
      after = batch[batch.length - 1]!.digest;
      const releases = new Map<string, () => void>();
      for (const c of batch) {
        const release = await this.blobLocks.tryAcquire(c.digest); // busy: an upload is committing it
        if (release) releases.set(c.digest, release);
      }
      try {
        const deleted = await this.uow.run((stores) => stores.gc.deleteCollectableBlobs([...releases.keys()], cutoff, Date.now()));
        await this.deleteContent(deleted);
        count += deleted.length;
        bytes += deleted.reduce((sum, b) => sum + b.size, 0);
      } finally {
        for (const release of releases.values()) release();
      }
    }
  }

  /** Content of queued blobs whose metadata is gone (a crash after an earlier pass's commit). */
  private async finishPendingDeletes(): Promise<void> {
    for (;;) {
      const pending = await this.uow.stores.gc.pendingDeletes(BATCH);
      if (pending.length === 0) return;
      const releases: (() => void)[] = [];
      const mine: BlobCandidate[] = [];
      for (const p of pending) {
        const release = await this.blobLocks.tryAcquire(p.digest);
        if (release) {
          releases.push(release);
          mine.push(p);
        }
      }
      try {
        // A digest uploaded again since it was queued is live: keep its bytes.
        const live = await this.uow.stores.gc.existingBlobs(mine.map((p) => p.digest));
        await this.deleteContent(mine.filter((p) => !live.has(p.digest)));
        await this.uow.stores.gc.completePendingDeletes(mine.filter((p) => live.has(p.digest)).map((p) => p.digest));
      } finally {
        for (const release of releases) release();
      }
      if (mine.length < pending.length) return; // the rest is busy; next pass
    }
  }

  private async deleteContent(blobs: BlobCandidate[]): Promise<void> {
    // A pool that keeps DELETE_CONCURRENCY deletes in flight (not groups that wait for their slowest).
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < blobs.length) await this.driver.delete(storageKeys.blob(blobs[next++]!.digest as Digest));
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, blobs.length) }, worker));
    await this.uow.stores.gc.completePendingDeletes(blobs.map((b) => b.digest));
  }
}
