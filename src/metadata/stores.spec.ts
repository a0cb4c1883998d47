import type { Kysely } from 'kysely';
import { openDatabase } from './database';
import type { Database } from './schema';
import { KyselyBlobStore } from './stores/blob.store';
import { KyselyCounterStore } from './stores/counter.store';
import { KyselyManifestStore, ManifestWithPayload } from './stores/manifest.store';
import { KyselyRepositoryStore } from './stores/repository.store';
import { KyselyTagStore } from './stores/tag.store';
import { KyselyUploadStore } from './stores/upload.store';
import { UnitOfWork } from './unit-of-work';

const digest = (seed: number): string => `sha256:${seed.toString(16).padStart(64, '0')}`;

let db: Kysely<Database>;

beforeEach(async () => {
  db = await openDatabase({ dialect: 'sqlite', filename: ':memory:' });
});

afterEach(async () => {
  await db.destroy();
});

describe(KyselyRepositoryStore.name, () => {
  let repositories: KyselyRepositoryStore;
  beforeEach(() => {
    repositories = new KyselyRepositoryStore(db);
  });

  it('creates a repository once, however often it is asked', async () => {
    await repositories.createOrFind('a/b', 1);
    await repositories.createOrFind('a/b', 2);
    expect(await repositories.exists('a/b')).toBe(true);
    expect(await repositories.list(undefined, 10)).toEqual(['a/b']);
    const row = await db.selectFrom('repositories').select('created_at').where('name', '=', 'a/b').executeTakeFirstOrThrow();
    expect(Number(row.created_at)).toBe(1);
  });

  it('answers false for a repository that was never created', async () => {
    expect(await repositories.exists('nope')).toBe(false);
  });

  it('lists names in lexical order, at most limit, strictly after the cursor', async () => {
    for (const name of ['c', 'a/b', 'b', 'a', 'a-b']) await repositories.createOrFind(name, 1);
    expect(await repositories.list(undefined, 10)).toEqual(['a', 'a-b', 'a/b', 'b', 'c']);
    expect(await repositories.list(undefined, 2)).toEqual(['a', 'a-b']);
    expect(await repositories.list('a-b', 2)).toEqual(['a/b', 'b']);
    expect(await repositories.list('b', 10)).toEqual(['c']);
    expect(await repositories.list('c', 10)).toEqual([]);
  });

  it('pages through every repository exactly once', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `repo${i}`);
    for (const name of names) await repositories.createOrFind(name, 1);
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await repositories.list(after, 3);
      if (page.length === 0) break;
      seen.push(...page);
      after = page[page.length - 1];
    }
    expect(seen).toEqual(names);
  });

  it('answers an empty page for limit 0', async () => {
    await repositories.createOrFind('a', 1);
    expect(await repositories.list(undefined, 0)).toEqual([]);
  });
});

describe(KyselyBlobStore.name, () => {
  let blobs: KyselyBlobStore;
  const unreferencedSince = async (d: string): Promise<number | null> => {
    const row = await db.selectFrom('blobs').select('unreferenced_since').where('digest', '=', d).executeTakeFirstOrThrow();
    return row.unreferenced_since === null ? null : Number(row.unreferenced_since);
  };

  beforeEach(() => {
    blobs = new KyselyBlobStore(db);
  });

  it('answers true only for the call that created the blob', async () => {
    expect(await blobs.createOrFind(digest(1), 10, 100)).toBe(true);
    expect(await blobs.createOrFind(digest(1), 10, 200)).toBe(false);
    expect(await blobs.find(digest(1))).toEqual({ digest: digest(1), size: 10, refCount: 0 });
  });

  it('starts a new blob unreferenced, since its creation', async () => {
    await blobs.createOrFind(digest(1), 10, 100);
    expect(await unreferencedSince(digest(1))).toBe(100);
  });

  it('keeps sizes beyond 32 bits', async () => {
    await blobs.createOrFind(digest(1), 2 ** 40 + 3, 1);
    expect((await blobs.find(digest(1)))?.size).toBe(2 ** 40 + 3);
  });

  it('answers undefined for an unknown blob', async () => {
    expect(await blobs.find(digest(9))).toBeUndefined();
  });

  it('links a blob to a repository once', async () => {
    await blobs.createOrFind(digest(1), 10, 1);
    expect(await blobs.link('a', digest(1), 1)).toBe(true);
    expect(await blobs.link('a', digest(1), 2)).toBe(false);
    expect(await blobs.link('b', digest(1), 2)).toBe(true);
  });

  it('finds a blob only through a repository linked to it', async () => {
    await blobs.createOrFind(digest(1), 10, 1);
    await blobs.link('a', digest(1), 1);
    expect(await blobs.findLinked('a', digest(1))).toEqual({ digest: digest(1), size: 10, refCount: 0 });
    expect(await blobs.findLinked('b', digest(1))).toBeUndefined();
  });

  it('does not find a link whose blob row is missing', async () => {
    await blobs.link('a', digest(1), 1);
    expect(await blobs.findLinked('a', digest(1))).toBeUndefined();
  });

  it('unlinks, answering whether there was a link', async () => {
    await blobs.createOrFind(digest(1), 10, 1);
    await blobs.link('a', digest(1), 1);
    await blobs.link('b', digest(1), 1);
    expect(await blobs.unlink('a', digest(1))).toBe(true);
    expect(await blobs.unlink('a', digest(1))).toBe(false);
    expect(await blobs.findLinked('a', digest(1))).toBeUndefined();
    expect(await blobs.findLinked('b', digest(1))).toBeDefined();
    expect(await blobs.find(digest(1))).toBeDefined();
  });

  it('answers which of several digests a repository is linked to', async () => {
    for (const seed of [1, 2, 3]) await blobs.createOrFind(digest(seed), seed, 1);
    await blobs.link('a', digest(1), 1);
    await blobs.link('a', digest(3), 1);
    await blobs.link('b', digest(2), 1);
    expect(await blobs.linkedAmong('a', [digest(1), digest(2), digest(3), digest(4)])).toEqual(new Set([digest(1), digest(3)]));
    expect(await blobs.linkedAmong('a', [])).toEqual(new Set());
    expect(await blobs.linkedAmong('c', [digest(1)])).toEqual(new Set());
  });

  it('clears unreferenced_since when a blob gains a reference and sets it when the last one goes', async () => {
    await blobs.createOrFind(digest(1), 10, 100);
    await blobs.adjustRefCounts([digest(1)], 1, 200);
    expect((await blobs.find(digest(1)))?.refCount).toBe(1);
    expect(await unreferencedSince(digest(1))).toBeNull();

    await blobs.adjustRefCounts([digest(1)], 1, 300);
    await blobs.adjustRefCounts([digest(1)], -1, 400);
    expect((await blobs.find(digest(1)))?.refCount).toBe(1);
    expect(await unreferencedSince(digest(1))).toBeNull();

    await blobs.adjustRefCounts([digest(1)], -1, 500);
    expect((await blobs.find(digest(1)))?.refCount).toBe(0);
    expect(await unreferencedSince(digest(1))).toBe(500);
  });

  it('adjusts every listed blob and leaves the others alone', async () => {
    for (const seed of [1, 2, 3]) await blobs.createOrFind(digest(seed), seed, 1);
    await blobs.adjustRefCounts([digest(1), digest(2)], 1, 2);
    expect((await blobs.find(digest(1)))?.refCount).toBe(1);
    expect((await blobs.find(digest(2)))?.refCount).toBe(1);
    expect((await blobs.find(digest(3)))?.refCount).toBe(0);
    expect(await unreferencedSince(digest(3))).toBe(1);
  });

  it('ignores digests that have no blob row', async () => {
    await blobs.adjustRefCounts([digest(7)], 1, 1);
    expect(await blobs.find(digest(7))).toBeUndefined();
  });

  it('does nothing for an empty list', async () => {
    await expect(blobs.adjustRefCounts([], -1, 1)).resolves.toBeUndefined();
  });
});

describe(KyselyManifestStore.name, () => {
  let manifests: KyselyManifestStore;
  let tags: KyselyTagStore;

  const manifest = (seed: number, extra: Partial<ManifestWithPayload> = {}): ManifestWithPayload => {
    const payload = Buffer.from(`{"schemaVersion":2,  "seed":${seed}}\n`);
    return {
      repository: 'a/b',
      digest: digest(seed),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.oci.image.config.v1+json',
      subjectDigest: null,
      annotations: null,
      size: payload.length,
      payload,
      ...extra,
    };
  };
  const refCount = async (): Promise<number> => Number((await db.selectFrom('manifest_refs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

  beforeEach(() => {
    manifests = new KyselyManifestStore(db);
    tags = new KyselyTagStore(db);
  });

  it('stores a manifest with its exact bytes and finds it again', async () => {
    const m = manifest(1, { annotations: { 'org.example': 'v', empty: '' } });
    expect(await manifests.create(m, { blobs: [], manifests: [] }, 1)).toBe(true);
    const found = await manifests.find('a/b', digest(1));
    expect(found).toEqual(m);
    expect(found!.payload.equals(m.payload)).toBe(true);
    expect(Buffer.isBuffer(found!.payload)).toBe(true);
  });

  it('answers false and writes nothing when the manifest already exists', async () => {
    await manifests.create(manifest(1), { blobs: [digest(10)], manifests: [] }, 1);
    expect(await manifests.create(manifest(1, { mediaType: 'other/type' }), { blobs: [digest(11)], manifests: [digest(12)] }, 2)).toBe(false);
    expect((await manifests.find('a/b', digest(1)))?.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect((await manifests.references('a/b', digest(1))).blobs).toEqual([digest(10)]);
    expect(await refCount()).toBe(1);
  });

  it('keeps the same digest apart in different repositories', async () => {
    await manifests.create(manifest(1), { blobs: [], manifests: [] }, 1);
    expect(await manifests.create(manifest(1, { repository: 'other' }), { blobs: [], manifests: [] }, 1)).toBe(true);
    expect(await manifests.exists('other', digest(1))).toBe(true);
    expect(await manifests.exists('third', digest(1))).toBe(false);
  });

  it('records blob references apart from child manifests', async () => {
    await manifests.create(manifest(1), { blobs: [digest(10), digest(11)], manifests: [digest(20)] }, 1);
    expect(((await manifests.references('a/b', digest(1))).blobs).sort()).toEqual([digest(10), digest(11)]);
    expect(await refCount()).toBe(3);
  });

  it('tolerates a digest that is both a blob and a child, and duplicates', async () => {
    await manifests.create(manifest(1), { blobs: [digest(10), digest(10)], manifests: [digest(10)] }, 1);
    expect((await manifests.references('a/b', digest(1))).blobs).toEqual([digest(10)]);
    expect(await refCount()).toBe(2);
  });

  it('records more references than one insert statement carries', async () => {
    const blobs = Array.from({ length: 1234 }, (_, i) => digest(1000 + i));
    await manifests.create(manifest(1), { blobs, manifests: [] }, 1);
    expect(((await manifests.references('a/b', digest(1))).blobs).sort()).toEqual([...blobs].sort());
  });

  it('finds a manifest through a tag', async () => {
    await manifests.create(manifest(1), { blobs: [], manifests: [] }, 1);
    await tags.upsert('a/b', 'latest', digest(1), 1);
    expect(await manifests.findByTag('a/b', 'latest')).toEqual(manifest(1));
    expect(await manifests.findByTag('a/b', 'other')).toBeUndefined();
    expect(await manifests.findByTag('elsewhere', 'latest')).toBeUndefined();
  });

  it('finds nothing through a tag whose manifest is gone', async () => {
    await tags.upsert('a/b', 'latest', digest(1), 1);
    expect(await manifests.findByTag('a/b', 'latest')).toBeUndefined();
  });

  it('does not find a manifest of another repository through a tag', async () => {
    await manifests.create(manifest(1, { repository: 'other' }), { blobs: [], manifests: [] }, 1);
    await tags.upsert('a/b', 'latest', digest(1), 1);
    expect(await manifests.findByTag('a/b', 'latest')).toBeUndefined();
  });

  it('answers which of several digests are manifests of the repository', async () => {
    await manifests.create(manifest(1), { blobs: [], manifests: [] }, 1);
    await manifests.create(manifest(2), { blobs: [], manifests: [] }, 1);
    await manifests.create(manifest(3, { repository: 'other' }), { blobs: [], manifests: [] }, 1);
    expect(await manifests.existingAmong('a/b', [digest(1), digest(3), digest(4), digest(2)])).toEqual(new Set([digest(1), digest(2)]));
    expect(await manifests.existingAmong('a/b', [])).toEqual(new Set());
  });

  it('deletes a manifest with its reference rows, answering whether it existed', async () => {
    await manifests.create(manifest(1), { blobs: [digest(10)], manifests: [digest(20)] }, 1);
    await manifests.create(manifest(2), { blobs: [digest(10)], manifests: [] }, 1);
    expect(await manifests.delete('a/b', digest(1))).toBe(true);
    expect(await manifests.find('a/b', digest(1))).toBeUndefined();
    expect((await manifests.references('a/b', digest(1))).blobs).toEqual([]);
    expect((await manifests.references('a/b', digest(2))).blobs).toEqual([digest(10)]);
    expect(await refCount()).toBe(1);
    expect(await manifests.delete('a/b', digest(1))).toBe(false);
  });

  it('lists the referrers of a subject in one repository, oldest first', async () => {
    const subject = digest(100);
    await manifests.create(manifest(3, { subjectDigest: subject, annotations: { k: 'v' } }), { blobs: [], manifests: [] }, 30);
    await manifests.create(manifest(1, { subjectDigest: subject }), { blobs: [], manifests: [] }, 10);
    await manifests.create(manifest(2, { subjectDigest: subject }), { blobs: [], manifests: [] }, 30);
    await manifests.create(manifest(4, { subjectDigest: digest(101) }), { blobs: [], manifests: [] }, 5);
    await manifests.create(manifest(5, { subjectDigest: subject, repository: 'other' }), { blobs: [], manifests: [] }, 5);
    await manifests.create(manifest(6), { blobs: [], manifests: [] }, 5);
    const referrers = await manifests.listReferrers('a/b', subject);
    expect(referrers.map((r) => r.digest)).toEqual([digest(1), digest(2), digest(3)]);
    const { payload: _payload, ...withoutPayload } = manifest(3, { subjectDigest: subject, annotations: { k: 'v' } });
    expect(referrers[2]).toEqual(withoutPayload);
    expect(referrers[2]).not.toHaveProperty('payload');
  });

  it('lists no referrers for an unknown subject', async () => {
    expect(await manifests.listReferrers('a/b', digest(100))).toEqual([]);
  });
});

describe(KyselyTagStore.name, () => {
  let tags: KyselyTagStore;
  beforeEach(() => {
    tags = new KyselyTagStore(db);
  });

  it('creates a tag and resolves it', async () => {
    await tags.upsert('a', 'latest', digest(1), 1);
    expect(await tags.resolve('a', 'latest')).toBe(digest(1));
    expect(await tags.resolve('a', 'other')).toBeUndefined();
    expect(await tags.resolve('b', 'latest')).toBeUndefined();
  });

  it('moves an existing tag to another manifest', async () => {
    await tags.upsert('a', 'latest', digest(1), 1);
    await tags.upsert('a', 'latest', digest(2), 2);
    expect(await tags.resolve('a', 'latest')).toBe(digest(2));
    expect(await tags.list('a', undefined, 10)).toEqual(['latest']);
    const row = await db.selectFrom('tags').select('updated_at').where('name', '=', 'latest').executeTakeFirstOrThrow();
    expect(Number(row.updated_at)).toBe(2);
  });

  it('lists tags in byte order, at most limit, strictly after the cursor, of one repository only', async () => {
    for (const tag of ['b', 'a', 'C', '1', '_x', 'a.b', 'a-b']) await tags.upsert('repo', tag, digest(1), 1);
    await tags.upsert('other', 'zzz', digest(1), 1);
    expect(await tags.list('repo', undefined, 100)).toEqual(['1', 'C', '_x', 'a', 'a-b', 'a.b', 'b']);
    expect(await tags.list('repo', undefined, 3)).toEqual(['1', 'C', '_x']);
    expect(await tags.list('repo', '_x', 2)).toEqual(['a', 'a-b']);
    expect(await tags.list('repo', 'b', 10)).toEqual([]);
    expect(await tags.list('repo', 'B', 10)).toEqual(['C', '_x', 'a', 'a-b', 'a.b', 'b']);
  });

  it('deletes one tag, answering whether it existed', async () => {
    await tags.upsert('a', 'v1', digest(1), 1);
    await tags.upsert('a', 'v2', digest(1), 1);
    expect(await tags.delete('a', 'v1')).toBe(true);
    expect(await tags.delete('a', 'v1')).toBe(false);
    expect(await tags.list('a', undefined, 10)).toEqual(['v2']);
  });

  it('deletes every tag of a manifest in one repository and counts them', async () => {
    await tags.upsert('a', 'v1', digest(1), 1);
    await tags.upsert('a', 'v2', digest(1), 1);
    await tags.upsert('a', 'v3', digest(2), 1);
    await tags.upsert('b', 'v1', digest(1), 1);
    expect(await tags.deleteForManifest('a', digest(1))).toBe(2);
    expect(await tags.list('a', undefined, 10)).toEqual(['v3']);
    expect(await tags.resolve('b', 'v1')).toBe(digest(1));
    expect(await tags.deleteForManifest('a', digest(1))).toBe(0);
  });
});

describe(KyselyUploadStore.name, () => {
  let uploads: KyselyUploadStore;
  const session = { id: 'u1', repository: 'a/b', offset: 0, startedAt: 100, updatedAt: 100 };

  beforeEach(() => {
    uploads = new KyselyUploadStore(db);
  });

  it('creates and finds a session', async () => {
    await uploads.create(session);
    expect(await uploads.find('u1')).toEqual(session);
    expect(await uploads.find('u2')).toBeUndefined();
  });

  it('refuses a second session with the same id', async () => {
    await uploads.create(session);
    // Not toThrow(): better-sqlite3's native addon keeps the SqliteError class of the first
    // jest module registry that loaded it, so in a reused worker it fails `instanceof Error`.
    await expect(uploads.create({ ...session, repository: 'other' })).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    expect(await uploads.find('u1')).toEqual(session);
  });

  it('advances the offset only from the expected offset (compare-and-set)', async () => {
    await uploads.create(session);
    expect(await uploads.updateProgress('u1', 0, 100, 200)).toBe(true);
    expect(await uploads.find('u1')).toEqual({ ...session, offset: 100, updatedAt: 200 });
    // A second writer that also started from 0 loses, and changes nothing.
    expect(await uploads.updateProgress('u1', 0, 50, 300)).toBe(false);
    expect(await uploads.find('u1')).toEqual({ ...session, offset: 100, updatedAt: 200 });
    expect(await uploads.updateProgress('u1', 100, 2 ** 40, 400)).toBe(true);
    expect((await uploads.find('u1'))?.offset).toBe(2 ** 40);
  });

  it('answers false when the session is gone', async () => {
    expect(await uploads.updateProgress('missing', 0, 1, 1)).toBe(false);
  });

  it('deletes a session, answering whether it existed', async () => {
    await uploads.create(session);
    expect(await uploads.delete('u1')).toBe(true);
    expect(await uploads.delete('u1')).toBe(false);
    expect(await uploads.find('u1')).toBeUndefined();
  });

  it('lists sessions idle since before a time, stalest first, at most limit', async () => {
    await uploads.create({ ...session, id: 'fresh', updatedAt: 500 });
    await uploads.create({ ...session, id: 'stale', updatedAt: 100 });
    await uploads.create({ ...session, id: 'staler', updatedAt: 50 });
    await uploads.create({ ...session, id: 'edge', updatedAt: 300 });
    expect((await uploads.listIdleSince(300, 10)).map((u) => u.id)).toEqual(['staler', 'stale']);
    expect((await uploads.listIdleSince(1000, 1)).map((u) => u.id)).toEqual(['staler']);
  });

  it('counts the sessions updated at or after a time', async () => {
    expect(await uploads.countActiveSince(0)).toBe(0);
    await uploads.create({ ...session, id: 'fresh', updatedAt: 500 });
    await uploads.create({ ...session, id: 'edge', updatedAt: 300 });
    await uploads.create({ ...session, id: 'stale', updatedAt: 100 });
    expect(await uploads.countActiveSince(300)).toBe(2);
    expect(await uploads.countActiveSince(0)).toBe(3);
    expect(await uploads.countActiveSince(501)).toBe(0);
  });
});

describe(KyselyCounterStore.name, () => {
  let counters: KyselyCounterStore;
  beforeEach(() => {
    counters = new KyselyCounterStore(db);
  });

  it('reads 0 for a counter never incremented', async () => {
    expect(await counters.get('dedup_hits')).toBe(0);
  });

  it('increments by one or by a given amount', async () => {
    await counters.increment('dedup_hits');
    expect(await counters.get('dedup_hits')).toBe(1);
    await counters.increment('dedup_hits', 5);
    expect(await counters.get('dedup_hits')).toBe(6);
  });

  it('keeps counters apart', async () => {
    await counters.increment('dedup_hits', 2);
    await counters.increment('dedup_misses');
    expect(await counters.get('dedup_hits')).toBe(2);
    expect(await counters.get('dedup_misses')).toBe(1);
  });

  it('loses no increment when many run at once', async () => {
    await Promise.all(Array.from({ length: 25 }, () => counters.increment('dedup_misses')));
    expect(await counters.get('dedup_misses')).toBe(25);
  });
});

describe(UnitOfWork.name, () => {
  let uow: UnitOfWork;
  beforeEach(() => {
    uow = new UnitOfWork(db);
  });

  it('commits the work of every store when the callback resolves, answering its result', async () => {
    const result = await uow.run(async (stores) => {
      await stores.repositories.createOrFind('a', 1);
      await stores.blobs.createOrFind(digest(1), 1, 1);
      await stores.tags.upsert('a', 'latest', digest(2), 1);
      return 'done';
    });
    expect(result).toBe('done');
    expect(await uow.stores.repositories.exists('a')).toBe(true);
    expect(await uow.stores.blobs.find(digest(1))).toBeDefined();
    expect(await uow.stores.tags.resolve('a', 'latest')).toBe(digest(2));
  });

  it('rolls everything back when the callback throws, and rethrows the same error', async () => {
    await uow.stores.counters.increment('dedup_hits');
    const failure = new Error('boom');
    await expect(
      uow.run(async (stores) => {
        await stores.repositories.createOrFind('a', 1);
        await stores.blobs.createOrFind(digest(1), 1, 1);
        await stores.counters.increment('dedup_hits', 10);
        await stores.uploads.create({ id: 'u1', repository: 'a', offset: 0, startedAt: 1, updatedAt: 1 });
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await uow.stores.repositories.exists('a')).toBe(false);
    expect(await uow.stores.blobs.find(digest(1))).toBeUndefined();
    expect(await uow.stores.counters.get('dedup_hits')).toBe(1);
    expect(await uow.stores.uploads.find('u1')).toBeUndefined();
  });

  it('sees its own uncommitted writes inside the transaction', async () => {
    await uow.run(async (stores) => {
      await stores.repositories.createOrFind('a', 1);
      expect(await stores.repositories.exists('a')).toBe(true);
    });
  });

  it('stays usable after a rollback', async () => {
    await uow.run(() => Promise.reject(new Error('first'))).catch(() => undefined);
    await uow.run((stores) => stores.repositories.createOrFind('a', 1));
    expect(await uow.stores.repositories.exists('a')).toBe(true);
  });

  describe('group commit', () => {
    it('commits units started in the same turn in one transaction, each with its own result', async () => {
      const transactions = jest.spyOn(db, 'transaction'); // calls through
      const results = await Promise.all(
        [1, 2, 3, 4, 5].map((i) =>
          uow.run(async (stores) => {
            await stores.repositories.createOrFind(`g/${i}`, i);
            return i * 10;
          }),
        ),
      );
      expect(results).toEqual([10, 20, 30, 40, 50]);
      expect(transactions).toHaveBeenCalledTimes(1);
      transactions.mockRestore();
      expect(await uow.stores.repositories.list(undefined, 10)).toEqual(['g/1', 'g/2', 'g/3', 'g/4', 'g/5']);
    });

    it('rolls back and rejects only the unit that throws; the others of its group commit', async () => {
      const failure = new Error('unit 2 fails');
      const settled = await Promise.allSettled([
        uow.run((stores) => stores.repositories.createOrFind('ok/1', 1)),
        uow.run(async (stores) => {
          await stores.repositories.createOrFind('bad/2', 2);
          await stores.counters.increment('dedup_hits', 5);
          throw failure;
        }),
        uow.run((stores) => stores.counters.increment('dedup_misses', 3)),
      ]);
      expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((settled[1] as PromiseRejectedResult).reason).toBe(failure);
      expect(await uow.stores.repositories.list(undefined, 10)).toEqual(['ok/1']);
      expect(await uow.stores.counters.get('dedup_hits')).toBe(0);
      expect(await uow.stores.counters.get('dedup_misses')).toBe(3);
    });

    it('settles a unit only after its commit: a failed commit rejects every unit of the group and keeps none', async () => {
      const commit = new Error('disk full');
      const original = db.transaction.bind(db);
      const spy = jest.spyOn(db, 'transaction').mockImplementation(() => {
        const builder = original();
        return { execute: async (fn: Parameters<typeof builder.execute>[0]) => builder.execute(async (trx) => { await fn(trx); throw commit; }) } as unknown as ReturnType<typeof original>;
      });
      try {
        const settled = await Promise.allSettled([uow.run((stores) => stores.repositories.createOrFind('c/1', 1)), uow.run((stores) => stores.repositories.createOrFind('c/2', 2))]);
        expect(settled).toEqual([
          { status: 'rejected', reason: commit },
          { status: 'rejected', reason: commit },
        ]);
      } finally {
        spy.mockRestore();
      }
      expect(await uow.stores.repositories.list(undefined, 10)).toEqual([]);
    });

    it('takes units that arrive while a group commits into the next group', async () => {
      const order: string[] = [];
      const first = uow.run(async (stores) => {
        await stores.repositories.createOrFind('n/1', 1);
        order.push('first');
        void uow.run(async (s) => {
          await s.repositories.createOrFind('n/2', 2);
          order.push('second');
        });
      });
      await first;
      await uow.run(async () => undefined); // queued behind the second
      expect(order).toEqual(['first', 'second']);
      expect(await uow.stores.repositories.exists('n/2')).toBe(true);
    });
  });
});
