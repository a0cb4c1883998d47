import type { Kysely } from 'kysely';
import { removeManifest } from '../manifest/manifest-removal';
import { openDatabase } from './database';
import type { Database } from './schema';
import type { GcRunRecord } from './stores/gc.store';
import { Stores, UnitOfWork } from './unit-of-work';

/** The stores GC, its lock and /_stats stand on, against a real (in-memory) SQLite database. */

const digest = (seed: number): string => `sha256:${seed.toString(16).padStart(64, '0')}`;

let db: Kysely<Database>;
let uow: UnitOfWork;
let stores: Stores;

beforeEach(async () => {
  db = await openDatabase({ dialect: 'sqlite', filename: ':memory:' });
  uow = new UnitOfWork(db);
  stores = uow.stores;
});

afterEach(async () => {
  await db.destroy();
});

/** A blob uploaded to `repository` at `now` (unreferenced from then on). */
async function uploadBlob(seed: number, size: number, now: number, repository = 'r'): Promise<void> {
  await stores.blobs.createOrFind(digest(seed), size, now);
  await stores.repositories.createOrFind(repository, now);
  await stores.blobs.link(repository, digest(seed), now);
}

/** A manifest push with the bookkeeping ManifestService.put does (reference counts, tags, GC clocks). */
async function pushManifest(
  seed: number,
  now: number,
  opts: { repository?: string; blobs?: number[]; children?: number[]; subject?: number; tag?: string } = {},
): Promise<void> {
  const repository = opts.repository ?? 'r';
  const payload = Buffer.from(JSON.stringify({ seed }));
  const blobs = (opts.blobs ?? []).map(digest);
  const children = (opts.children ?? []).map(digest);
  await uow.run(async (s) => {
    await s.repositories.createOrFind(repository, now);
    const created = await s.manifests.create(
      {
        repository,
        digest: digest(seed),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: null,
        subjectDigest: opts.subject === undefined ? null : digest(opts.subject),
        annotations: null,
        size: payload.length,
        payload,
      },
      { blobs, manifests: children },
      now,
    );
    if (created) await s.blobs.adjustRefCounts(blobs, 1, now);
    if (opts.tag !== undefined) await s.tags.upsert(repository, opts.tag, digest(seed), now);
    await s.manifests.refreshUnreferenced(repository, [digest(seed), ...children], now);
  });
}

const deleteManifest = (seed: number, now: number, repository = 'r'): Promise<boolean> => uow.run((s) => removeManifest(s, repository, digest(seed), now));

async function deleteTag(tag: string, seed: number, now: number): Promise<void> {
  await uow.run(async (s) => {
    await s.tags.delete('r', tag);
    await s.manifests.refreshUnreferenced('r', [digest(seed)], now);
  });
}

const candidates = async (cutoff: number, untagged: boolean): Promise<string[]> =>
  (await stores.gc.manifestCandidates(cutoff, untagged, 100)).map((c) => `${c.repository}@${c.digest}`);
const at = (seed: number, repository = 'r'): string => `${repository}@${digest(seed)}`;

describe('GcStore: blob candidates', () => {
  it('lists unreferenced blobs whose clock is at or before the cutoff, by digest, paged', async () => {
    await uploadBlob(1, 10, 100);
    await uploadBlob(2, 20, 200);
    await uploadBlob(3, 30, 100);
    await uploadBlob(4, 40, 300);
    await pushManifest(50, 150, { blobs: [3], tag: 'v1' });

    expect(await stores.gc.blobCandidates(99, 10)).toEqual([]);
    expect(await stores.gc.blobCandidates(200, 10)).toEqual([
      { digest: digest(1), size: 10 },
      { digest: digest(2), size: 20 },
    ]);
    expect((await stores.gc.blobCandidates(1_000, 10)).map((b) => b.digest)).toEqual([digest(1), digest(2), digest(4)]);
    expect((await stores.gc.blobCandidates(1_000, 1)).map((b) => b.digest)).toEqual([digest(1)]);
    expect((await stores.gc.blobCandidates(1_000, 10, digest(1))).map((b) => b.digest)).toEqual([digest(2), digest(4)]);
  });

  it('makes a blob a candidate again from the time its last manifest goes', async () => {
    await uploadBlob(1, 10, 100);
    await pushManifest(50, 150, { blobs: [1], tag: 'v1' });
    await pushManifest(51, 160, { blobs: [1], tag: 'v2' });
    expect(await deleteManifest(50, 400)).toBe(true);
    expect(await stores.gc.blobCandidates(10_000, 10)).toEqual([]);
    expect(await deleteManifest(51, 500)).toBe(true);
    expect(await stores.gc.blobCandidates(499, 10)).toEqual([]);
    expect(await stores.gc.blobCandidates(500, 10)).toEqual([{ digest: digest(1), size: 10 }]);
  });

  it('deletes only the candidates still collectable, with every repository link, and queues their content', async () => {
    await uploadBlob(1, 10, 100);
    await uploadBlob(2, 20, 100);
    await uploadBlob(3, 30, 100);
    await stores.blobs.link('other', digest(3), 100);
    const read = (await stores.gc.blobCandidates(250, 10)).map((b) => b.digest);
    expect(read).toEqual([digest(1), digest(2), digest(3)]);
    // Between the read and the delete: 1 gets a manifest, 2 a HEAD (its grace period restarts).
    await pushManifest(50, 300, { blobs: [1], tag: 'v1' });
    await stores.blobs.touch(digest(2), 300);

    const deleted = await uow.run((s) => s.gc.deleteCollectableBlobs([...read, digest(9)], 250, 400));

    expect(deleted).toEqual([{ digest: digest(3), size: 30 }]);
    expect(await stores.blobs.find(digest(3))).toBeUndefined();
    expect(await stores.blobs.linkedAmong('r', [digest(1), digest(2), digest(3)])).toEqual(new Set([digest(1), digest(2)]));
    expect(await stores.blobs.linkedAmong('other', [digest(3)])).toEqual(new Set());
    expect(await stores.gc.pendingDeletes(10)).toEqual([{ digest: digest(3), size: 30 }]);
    expect(await stores.blobs.find(digest(1))).toEqual({ digest: digest(1), size: 10, refCount: 1 });
    expect(await stores.blobs.find(digest(2))).toEqual({ digest: digest(2), size: 20, refCount: 0 });
  });

  it('deletes nothing for an empty list', async () => {
    await uploadBlob(1, 10, 100);
    expect(await stores.gc.deleteCollectableBlobs([], 1_000, 1_000)).toEqual([]);
    expect(await stores.blobs.find(digest(1))).toBeDefined();
  });

  it('queues a digest once even when it is collected twice before its content is deleted', async () => {
    await uploadBlob(1, 10, 100);
    await stores.gc.deleteCollectableBlobs([digest(1)], 100, 200);
    await uploadBlob(1, 10, 300); // uploaded again
    expect(await stores.gc.deleteCollectableBlobs([digest(1)], 300, 400)).toEqual([{ digest: digest(1), size: 10 }]);
    expect(await stores.gc.pendingDeletes(10)).toEqual([{ digest: digest(1), size: 10 }]);
  });

  it('lists queued deletes oldest first, clears them by digest, and tells which digests have a row again', async () => {
    for (const [seed, queuedAt] of [
      [1, 300],
      [2, 100],
      [3, 200],
    ] as const) {
      await uploadBlob(seed, seed * 10, 0);
      await stores.gc.deleteCollectableBlobs([digest(seed)], 0, queuedAt);
    }
    expect((await stores.gc.pendingDeletes(10)).map((p) => p.digest)).toEqual([digest(2), digest(3), digest(1)]);
    expect((await stores.gc.pendingDeletes(2)).map((p) => p.digest)).toEqual([digest(2), digest(3)]);

    await uploadBlob(3, 30, 500);
    expect(await stores.gc.existingBlobs([digest(1), digest(2), digest(3)])).toEqual(new Set([digest(3)]));
    expect(await stores.gc.existingBlobs([])).toEqual(new Set());

    await stores.gc.completePendingDeletes([digest(2), digest(3)]);
    await stores.gc.completePendingDeletes([]);
    expect(await stores.gc.pendingDeletes(10)).toEqual([{ digest: digest(1), size: 10 }]);
  });
});

describe('GcStore: manifest candidates', () => {
  it('never lists a tagged manifest, and lists an untagged one only when untagged manifests may go', async () => {
    await pushManifest(1, 100, { tag: 'v1' });
    await pushManifest(2, 100); // by digest
    expect(await candidates(1_000, false)).toEqual([]);
    expect(await candidates(1_000, true)).toEqual([at(2)]);
    expect(await candidates(99, true)).toEqual([]);

    await deleteTag('v1', 1, 300);
    expect(await candidates(299, true)).toEqual([at(2)]);
    expect(await candidates(300, true)).toEqual([at(2), at(1)]); // oldest clock first
    expect((await stores.gc.manifestCandidates(300, true, 1)).map((c) => c.digest)).toEqual([digest(2)]);
  });

  it('keeps a referrer while its subject lives, and lists it from its subject deletion on, untagged or not', async () => {
    await pushManifest(1, 100, { tag: 'v1' });
    await pushManifest(2, 100, { subject: 1 });
    expect(await candidates(1_000, true)).toEqual([]);

    expect(await deleteManifest(1, 400)).toBe(true);
    expect(await candidates(399, true)).toEqual([]);
    expect(await candidates(400, false)).toEqual([at(2)]);
    expect(await candidates(400, true)).toEqual([at(2)]);
  });

  it('does not count a subject of another repository as live', async () => {
    await pushManifest(1, 100, { tag: 'v1', repository: 'a' });
    await pushManifest(2, 100, { subject: 1, repository: 'b' });
    expect(await candidates(1_000, false)).toEqual([at(2, 'b')]);
  });

  it('keeps a tagged referrer whatever happens to its subject', async () => {
    await pushManifest(1, 100, { tag: 'v1' });
    await pushManifest(2, 100, { subject: 1, tag: 'sig' });
    await deleteManifest(1, 200);
    expect(await candidates(1_000, true)).toEqual([]);
  });

  it('keeps the manifests an index lists while it lives, and lists them from its deletion on', async () => {
    await pushManifest(1, 100);
    await pushManifest(2, 100);
    await pushManifest(3, 100, { children: [1, 2], tag: 'multi' });
    expect(await candidates(1_000, true)).toEqual([]);

    await deleteTag('multi', 3, 200);
    expect(await candidates(1_000, true)).toEqual([at(3)]);
    expect(await candidates(1_000, false)).toEqual([]);

    expect(await deleteManifest(3, 300)).toBe(true);
    expect(await candidates(299, true)).toEqual([]);
    expect((await candidates(300, true)).sort()).toEqual([at(1), at(2)].sort());
    expect(await candidates(300, false)).toEqual([]);
  });

  it('keeps a manifest listed by a second index when the first one goes', async () => {
    await pushManifest(1, 100);
    await pushManifest(3, 100, { children: [1], tag: 'a' });
    await pushManifest(4, 100, { children: [1], tag: 'b' });
    await deleteManifest(3, 200);
    expect(await candidates(1_000, true)).toEqual([]);
  });

  it('answers isManifestCollectable as the candidate list does', async () => {
    await pushManifest(1, 100, { tag: 'v1' });
    await pushManifest(2, 100);
    await pushManifest(3, 100, { subject: 1 });
    await pushManifest(4, 100, { subject: 99 });
    const check = (seed: number, cutoff: number, untagged: boolean): Promise<boolean> =>
      stores.gc.isManifestCollectable({ repository: 'r', digest: digest(seed) }, cutoff, untagged);
    expect(await check(1, 1_000, true)).toBe(false);
    expect(await check(2, 1_000, true)).toBe(true);
    expect(await check(2, 1_000, false)).toBe(false);
    expect(await check(2, 99, true)).toBe(false);
    expect(await check(3, 1_000, true)).toBe(false);
    expect(await check(4, 1_000, false)).toBe(true);
    expect(await check(5, 1_000, true)).toBe(false); // no such manifest
  });

  it('lists, for a dry run, the referenced blobs that deleting the candidates would release', async () => {
    for (const seed of [10, 11, 12, 13]) await uploadBlob(seed, seed, 0);
    await pushManifest(1, 100, { blobs: [11], tag: 'v1' });
    await pushManifest(2, 100, { blobs: [10, 11, 12] }); // untagged
    await pushManifest(3, 100, { blobs: [12] }); // untagged, shares 12 with 2 only
    await pushManifest(4, 100, { blobs: [13], tag: 'v4' });

    expect(await stores.gc.blobsReleasedByManifestCandidates(1_000, true)).toEqual([
      { digest: digest(10), size: 10 },
      { digest: digest(12), size: 12 },
    ]);
    expect(await stores.gc.blobsReleasedByManifestCandidates(1_000, false)).toEqual([]);
    expect(await stores.gc.blobsReleasedByManifestCandidates(99, true)).toEqual([]);
  });
});

describe('GcStore: run history', () => {
  const run = (id: string, startedAt: number, extra: Partial<GcRunRecord> = {}): GcRunRecord => ({
    id,
    trigger: 'api',
    dryRun: false,
    startedAt,
    durationMs: 5,
    deletedLayers: 1,
    reclaimedBytes: 2 ** 40,
    deletedManifests: 2,
    deletedUploads: 3,
    deletedOrphanFiles: 4,
    error: null,
    ...extra,
  });

  it('lists recorded runs newest first, at most limit, as recorded', async () => {
    await stores.gc.recordRun(run('a', 100));
    await stores.gc.recordRun(run('c', 300, { dryRun: true, trigger: 'schedule' }));
    await stores.gc.recordRun(run('b', 200, { error: 'disk full' }));
    expect(await stores.gc.listRuns(10)).toEqual([run('c', 300, { dryRun: true, trigger: 'schedule' }), run('b', 200, { error: 'disk full' }), run('a', 100)]);
    expect((await stores.gc.listRuns(1)).map((r) => r.id)).toEqual(['c']);
  });
});

describe('LockStore', () => {
  const acquire = (holder: string, now: number, name = 'gc'): Promise<boolean> => uow.run((s) => s.locks.acquire(name, holder, 1_000, now));

  it('gives a free lock, refuses it to others until it expires, and lets its holder renew it', async () => {
    expect(await acquire('a', 0)).toBe(true);
    expect(await acquire('b', 500)).toBe(false);
    expect(await acquire('a', 600)).toBe(true); // renewed: now expires at 1600
    expect(await acquire('b', 1_500)).toBe(false);
    expect(await acquire('b', 1_601)).toBe(true); // a crashed holder cannot block forever
    expect(await acquire('a', 1_700)).toBe(false);
  });

  it('frees the lock on release by its holder only', async () => {
    expect(await acquire('a', 0)).toBe(true);
    await stores.locks.release('gc', 'b');
    expect(await acquire('b', 1)).toBe(false);
    await stores.locks.release('gc', 'a');
    expect(await acquire('b', 2)).toBe(true);
  });

  it('keeps locks of different names apart', async () => {
    expect(await acquire('a', 0, 'gc')).toBe(true);
    expect(await acquire('b', 0, 'other')).toBe(true);
  });

  it('gives the lock to exactly one of many concurrent callers', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => acquire(`h${i}`, 10)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

describe('StatsStore', () => {
  it('counts stored bytes once and referenced bytes once per repository', async () => {
    await uploadBlob(1, 100, 0, 'a');
    await stores.blobs.link('b', digest(1), 0);
    await uploadBlob(2, 20, 0, 'b');
    await stores.uploads.create({ id: 'u', repository: 'a', offset: 0, startedAt: 0, updatedAt: 0 });
    await pushManifest(10, 50, { repository: 'a', blobs: [1], tag: 'v1' });
    await pushManifest(11, 70, { repository: 'b', blobs: [1, 2] });

    expect(await stores.stats.totals()).toEqual({ repositories: 2, manifests: 2, blobs: 2, storedBytes: 120, linkedBytes: 220, activeUploads: 1 });
    expect(await stores.stats.repositories()).toEqual([
      { name: 'a', tags: 1, imageCount: 1, totalSize: 100, lastPush: 50 },
      { name: 'b', tags: 0, imageCount: 1, totalSize: 120, lastPush: 70 },
    ]);
    await stores.tags.upsert('a', 'later', digest(10), 90);
    expect((await stores.stats.repositories())[0]).toEqual({ name: 'a', tags: 2, imageCount: 1, totalSize: 100, lastPush: 90 });
  });

  it('answers null lastPush for a repository without manifests', async () => {
    await uploadBlob(1, 5, 0, 'empty');
    expect(await stores.stats.repositories()).toEqual([{ name: 'empty', tags: 0, imageCount: 0, totalSize: 5, lastPush: null }]);
  });
});
