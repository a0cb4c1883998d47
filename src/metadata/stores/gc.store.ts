import { sql } from 'kysely';
import type { Executor } from './executor';

export interface BlobCandidate {
  digest: string;
  size: number;
}

export interface ManifestCandidate {
  repository: string;
  digest: string;
}

export interface GcRunRecord {
  id: string;
  trigger: 'schedule' | 'api' | 'cli';
  dryRun: boolean;
  startedAt: number;
  durationMs: number;
  deletedLayers: number;
  reclaimedBytes: number;
  deletedManifests: number;
  deletedUploads: number;
  deletedOrphanFiles: number;
  error: string | null;
}

/**
 * GC's reads and deletes. Candidates come from indexed columns (`blobs.unreferenced_since`,
 * `manifests.unreferenced_since`), so a pass costs what there is to collect, not the size of
 * the store. Every delete re-checks its candidate in the caller's transaction, the same
 * transaction discipline manifest writes follow, so a push racing GC either keeps its blobs
 * or fails with MANIFEST_BLOB_UNKNOWN.
 */
export interface GcStore {
  /** Blobs no manifest references, unreferenced since `cutoff` or earlier. */
  blobCandidates(cutoff: number, limit: number, after?: string): Promise<BlobCandidate[]>;
  /**
   * Deletes the metadata of those `digests` that are still collectable (re-checked here),
   * with their repository links, and queues their content for deletion. Returns them.
   */
  deleteCollectableBlobs(digests: string[], cutoff: number, now: number): Promise<BlobCandidate[]>;
  /**
   * Manifests unreferenced (no tag, no index) since `cutoff` that may go: referrers whose
   * subject is gone, and, when `untagged`, every other unreferenced manifest that is not a
   * referrer of a live subject.
   */
  manifestCandidates(cutoff: number, untagged: boolean, limit: number): Promise<ManifestCandidate[]>;
  isManifestCollectable(candidate: ManifestCandidate, cutoff: number, untagged: boolean): Promise<boolean>;
  /**
   * Referenced blobs that deleting every current manifest candidate would leave unreferenced
   * (for a dry run: with no grace period, a pass collects them right after those manifests).
   */
  blobsReleasedByManifestCandidates(cutoff: number, untagged: boolean): Promise<BlobCandidate[]>;
  /** Blob contents whose metadata is gone but whose bytes may still be in storage. */
  pendingDeletes(limit: number): Promise<BlobCandidate[]>;
  completePendingDeletes(digests: string[]): Promise<void>;
  /** Whether a blob row exists (an upload may have re-created a queued digest). */
  existingBlobs(digests: string[]): Promise<Set<string>>;
  /**
   * Deletes repositories left with nothing (no manifest, tag, blob link or upload session),
   * so that they leave the catalog; returns their names.
   */
  deleteEmptyRepositories(): Promise<string[]>;
  recordRun(run: GcRunRecord): Promise<void>;
  listRuns(limit: number): Promise<GcRunRecord[]>;
}

export class KyselyGcStore implements GcStore {
  constructor(private readonly db: Executor) {}

  async blobCandidates(cutoff: number, limit: number, after?: string): Promise<BlobCandidate[]> {
    let query = this.db
      .selectFrom('blobs')
      .select(['digest', 'size'])
      .where('ref_count', '<=', 0)
      .where('unreferenced_since', '<=', cutoff)
      .orderBy('digest')
      .limit(limit);
    if (after !== undefined) query = query.where('digest', '>', after);
    return (await query.execute()).map((r) => ({ digest: r.digest, size: Number(r.size) }));
  }

  async deleteCollectableBlobs(digests: string[], cutoff: number, now: number): Promise<BlobCandidate[]> {
    if (digests.length === 0) return [];
    const rows = await this.db
      .selectFrom('blobs')
      .select(['digest', 'size'])
      .where('digest', 'in', digests)
      .where('ref_count', '<=', 0)
      .where('unreferenced_since', '<=', cutoff)
      .execute();
    const collectable = rows.map((r) => ({ digest: r.digest, size: Number(r.size) }));
    if (collectable.length === 0) return [];
    const list = collectable.map((c) => c.digest);
    await this.db.deleteFrom('repository_blobs').where('digest', 'in', list).execute();
    await this.db.deleteFrom('blobs').where('digest', 'in', list).execute();
    await this.db
      .insertInto('gc_pending_deletes')
      .values(collectable.map((c) => ({ digest: c.digest, size: c.size, queued_at: now })))
      .onConflict((oc) => oc.column('digest').doNothing())
      .execute();
    return collectable;
  }

  private collectable(untagged: boolean) {
    return sql<boolean>`(case when m.subject_digest is null then ${untagged ? sql`1 = 1` : sql`1 = 0`}
      else not exists (select 1 from manifests s where s.repository = m.repository and s.digest = m.subject_digest) end)`;
  }

  async manifestCandidates(cutoff: number, untagged: boolean, limit: number): Promise<ManifestCandidate[]> {
    return this.db
      .selectFrom('manifests as m')
      .select(['m.repository', 'm.digest'])
      .where('m.unreferenced_since', '<=', cutoff)
      .where(this.collectable(untagged))
      .orderBy('m.unreferenced_since')
      .limit(limit)
      .execute();
  }

  async isManifestCollectable(c: ManifestCandidate, cutoff: number, untagged: boolean): Promise<boolean> {
    const row = await this.db
      .selectFrom('manifests as m')
      .select('m.digest')
      .where('m.repository', '=', c.repository)
      .where('m.digest', '=', c.digest)
      .where('m.unreferenced_since', '<=', cutoff)
      .where(this.collectable(untagged))
      .executeTakeFirst();
    return row !== undefined;
  }

  async blobsReleasedByManifestCandidates(cutoff: number, untagged: boolean): Promise<BlobCandidate[]> {
    const rows = await this.db
      .selectFrom('manifest_refs as r')
      .innerJoin('manifests as m', (j) => j.onRef('m.repository', '=', 'r.repository').onRef('m.digest', '=', 'r.manifest_digest'))
      .innerJoin('blobs as b', 'b.digest', 'r.child_digest')
      .select(['b.digest', 'b.size'])
      .where('r.child_kind', '=', 'blob')
      .where('b.ref_count', '>', 0)
      .where('m.unreferenced_since', '<=', cutoff)
      .where(this.collectable(untagged))
      .groupBy(['b.digest', 'b.size', 'b.ref_count'])
      .having(sql<boolean>`b.ref_count - count(*) <= 0`)
      .orderBy('b.digest')
      .execute();
    return rows.map((r) => ({ digest: r.digest, size: Number(r.size) }));
  }

  async pendingDeletes(limit: number): Promise<BlobCandidate[]> {
    const rows = await this.db.selectFrom('gc_pending_deletes').select(['digest', 'size']).orderBy('queued_at').limit(limit).execute();
    return rows.map((r) => ({ digest: r.digest, size: Number(r.size) }));
  }

  async completePendingDeletes(digests: string[]): Promise<void> {
    if (digests.length > 0) await this.db.deleteFrom('gc_pending_deletes').where('digest', 'in', digests).execute();
  }

  async existingBlobs(digests: string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await this.db.selectFrom('blobs').select('digest').where('digest', 'in', digests).execute();
    return new Set(rows.map((r) => r.digest));
  }

  async deleteEmptyRepositories(): Promise<string[]> {
    const empty = this.db
      .selectFrom('repositories as r')
      .select('r.name')
      .where(sql<boolean>`not exists (select 1 from manifests m where m.repository = r.name)`)
      .where(sql<boolean>`not exists (select 1 from tags t where t.repository = r.name)`)
      .where(sql<boolean>`not exists (select 1 from repository_blobs rb where rb.repository = r.name)`)
      .where(sql<boolean>`not exists (select 1 from uploads u where u.repository = r.name)`);
    const names = (await empty.execute()).map((r) => r.name);
    if (names.length > 0) await this.db.deleteFrom('repositories').where('name', 'in', names).execute();
    return names;
  }

  async recordRun(run: GcRunRecord): Promise<void> {
    await this.db
      .insertInto('gc_runs')
      .values({
        id: run.id,
        trigger: run.trigger,
        dry_run: run.dryRun ? 1 : 0,
        started_at: run.startedAt,
        duration_ms: run.durationMs,
        deleted_blobs: run.deletedLayers,
        reclaimed_bytes: run.reclaimedBytes,
        deleted_manifests: run.deletedManifests,
        deleted_uploads: run.deletedUploads,
        deleted_orphan_files: run.deletedOrphanFiles,
        error: run.error,
      })
      .execute();
  }

  async listRuns(limit: number): Promise<GcRunRecord[]> {
    const rows = await this.db.selectFrom('gc_runs').selectAll().orderBy('started_at', 'desc').limit(limit).execute();
    return rows.map((r) => ({
      id: r.id,
      trigger: r.trigger as GcRunRecord['trigger'],
      dryRun: Number(r.dry_run) === 1,
      startedAt: Number(r.started_at),
      durationMs: Number(r.duration_ms),
      deletedLayers: Number(r.deleted_blobs),
      reclaimedBytes: Number(r.reclaimed_bytes),
      deletedManifests: Number(r.deleted_manifests),
      deletedUploads: Number(r.deleted_uploads),
      deletedOrphanFiles: Number(r.deleted_orphan_files),
      error: r.error,
    }));
  }
}
