import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  blobFile,
  Descriptor,
  deterministicBytes,
  errorCodes,
  fileSize,
  filesUnder,
  OciClient,
  PushedImage,
  sha256,
  sleep,
  uploadDataFile,
} from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';

jest.setTimeout(30_000);

/** Running GC: upload expiry, dry runs, recovery from a crash mid-pass, the run history. */

const blobsOf = (image: PushedImage): Descriptor[] => [image.config, ...image.layers];
const bytesOf = (blobs: Descriptor[]): number => blobs.reduce((n, b) => n + b.size, 0);

describe('GC of expired uploads (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;

  beforeAll(async () => {
    registry = await startRegistry({ env: { REGISTRY_UPLOAD_TIMEOUT: '1', REGISTRY_GC_GRACE: '0', REGISTRY_GC_INTERVAL: '0' } });
    client = new OciClient(registry.url);
  });
  afterAll(async () => {
    await registry.stop();
  });

  const patch = (location: string, chunk: Buffer, start: number): Promise<Response> =>
    client.fetch(location, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${start + chunk.length - 1}` },
      body: chunk,
    });

  it('ends an upload idle past the timeout with its staged bytes, and keeps a fresh one', async () => {
    const stale = await client.startUpload('expiry/a');
    expect((await patch(stale, deterministicBytes(100, 'expiry-stale'), 0)).status).toBe(202);
    const staged = uploadDataFile(registry.dataDir, stale);
    expect(fileSize(staged)).toBe(100);

    await sleep(1_300);
    const fresh = await client.startUpload('expiry/a');
    expect((await patch(fresh, deterministicBytes(50, 'expiry-fresh'), 0)).status).toBe(202);
    expect((await client.stats()).uploads.active).toBe(2);

    const report = await client.gc();

    expect(report.deletedUploads).toBe(1);
    expect(fs.existsSync(path.dirname(staged))).toBe(false);
    const get = await client.fetch(stale);
    expect(get.status).toBe(404);
    expect(await errorCodes(get)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    const more = await patch(stale, deterministicBytes(10, 'expiry-late'), 100);
    expect(more.status).toBe(404);
    expect(await errorCodes(more)).toEqual(['BLOB_UPLOAD_UNKNOWN']);

    expect((await client.stats()).uploads.active).toBe(1);
    const next = await patch(fresh, deterministicBytes(50, 'expiry-fresh-2'), 50);
    expect(next.status).toBe(202);
    expect(next.headers.get('range')).toBe('0-99');
  });

  it('counts no expired upload for a session that completed, and leaves no staging directory behind', async () => {
    const data = deterministicBytes(300, 'expiry-completed');
    const location = await client.startUpload('expiry/b');
    expect((await patch(location, data.subarray(0, 100), 0)).status).toBe(202);
    const put = await client.fetch(client.withQuery(location, { digest: sha256(data) }), {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data.subarray(100),
    });
    expect(put.status).toBe(201);
    expect(fs.existsSync(path.dirname(uploadDataFile(registry.dataDir, location)))).toBe(false);
    expect((await client.getVerifiedBlob('expiry/b', sha256(data))).equals(data)).toBe(true);

    expect((await client.gc()).deletedUploads).toBe(0);
  });

  it('removes a stale staging directory that no session owns (a crash mid-request)', async () => {
    const orphan = path.join(registry.dataDir, 'storage', 'uploads', randomUUID());
    fs.mkdirSync(orphan, { recursive: true });
    fs.writeFileSync(path.join(orphan, 'data'), deterministicBytes(64, 'expiry-orphan'));
    const old = new Date(Date.now() - 10_000);
    fs.utimesSync(path.join(orphan, 'data'), old, old);

    const report = await client.gc();

    expect(report.deletedUploads).toBe(1);
    expect(fs.existsSync(orphan)).toBe(false);
  });
});

describe('GC dry run and run history (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;

  beforeAll(async () => {
    registry = await startRegistry({ env: { REGISTRY_GC_GRACE: '0', REGISTRY_GC_INTERVAL: '0', REGISTRY_GC_DELETE_UNTAGGED: 'true' } });
    client = new OciClient(registry.url);
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('reports what a pass would delete without deleting anything, and the next real pass deletes exactly that', async () => {
    const shared = deterministicBytes(10_000, 'dry-shared');
    const kept = await client.pushImage('dry/a', 'kept', { layers: [shared] });
    const untagged = await client.pushImage('dry/a', 'untagged', { layers: [shared, deterministicBytes(500, 'dry-own')] });
    const untaggedOwn = [untagged.config, untagged.layers[1]!];
    const byDigest = await client.pushImage('dry/a', 'by-digest');
    const loose = deterministicBytes(3_000, 'dry-loose');
    await client.pushBlob('dry/b', loose);
    expect(await client.deleteManifest('dry/a', 'untagged')).toBe(202);
    expect(await client.deleteManifest('dry/a', byDigest.digest)).toBe(202);
    const expected = {
      deletedManifests: 1,
      deletedLayers: 5,
      reclaimedBytes: bytesOf([...untaggedOwn, ...blobsOf(byDigest)]) + loose.length,
      deletedUploads: 0,
    };
    const blobsDir = path.join(registry.dataDir, 'storage', 'blobs');
    const filesBefore = filesUnder(blobsDir);
    const statsBefore = await client.stats();

    const dry = await client.gc({ dryRun: true });

    expect(dry).toMatchObject({ ...expected, dryRun: true });
    expect(filesUnder(blobsDir)).toEqual(filesBefore);
    expect(await client.stats()).toEqual(statsBefore);
    await client.pullVerified('dry/a', untagged.digest, untagged.bytes);
    expect((await client.getVerifiedBlob('dry/b', sha256(loose))).equals(loose)).toBe(true);
    for (const blob of blobsOf(byDigest)) expect(fs.existsSync(blobFile(registry.dataDir, blob.digest))).toBe(true);

    const real = await client.gc();

    expect(real).toMatchObject({ ...expected, dryRun: false });
    expect(filesUnder(blobsDir)).toHaveLength(filesBefore.length - 5);
    await client.pullVerified('dry/a', 'kept', kept.bytes);
  });

  it('lists past runs newest first, with their counts, dry-run flag and trigger', async () => {
    await client.gc(); // nothing left over: the runs below count only this blob
    const reports = [];
    await client.pushBlob('runs/a', deterministicBytes(1_234, 'runs-1'));
    reports.push(await client.gc({ dryRun: true }));
    await sleep(5);
    reports.push(await client.gc());
    await sleep(5);
    reports.push(await client.gc());

    const res = await client.fetch('/api/v1/gc/runs');
    expect(res.status).toBe(200);
    const { runs } = (await res.json()) as { runs: Record<string, unknown>[] };
    expect(runs.slice(0, 3)).toEqual(
      [...reports].reverse().map((r) => ({
        id: r.id,
        trigger: 'api',
        dryRun: r.dryRun,
        startedAt: Date.parse(r.startedAt),
        durationMs: r.durationMs,
        deletedLayers: r.deletedLayers,
        reclaimedBytes: r.reclaimedBytes,
        deletedManifests: r.deletedManifests,
        deletedUploads: r.deletedUploads,
        deletedOrphanFiles: r.deletedOrphanFiles,
        error: null,
      })),
    );
    expect(runs.slice(0, 3).map((r) => [r['dryRun'], r['deletedLayers'], r['reclaimedBytes']])).toEqual([
      [false, 0, 0],
      [false, 1, 1_234],
      [true, 1, 1_234],
    ]);
    const startedAt = runs.map((r) => r['startedAt'] as number);
    expect([...startedAt].sort((a, b) => b - a)).toEqual(startedAt);

    const limited = await client.fetch('/api/v1/gc/runs?limit=1');
    expect(((await limited.json()) as { runs: { id: string }[] }).runs.map((r) => r.id)).toEqual([reports[2]!.id]);
  });
});

describe('GC after a crash between a metadata delete and its content delete (e2e)', () => {
  it('removes the queued orphan file on the next pass, and keeps the bytes of a queued digest uploaded again', async () => {
    const env = { REGISTRY_GC_GRACE: '3600', REGISTRY_GC_INTERVAL: '0' };
    let registry = await startRegistry({ env });
    const dataDir = registry.dataDir;
    try {
      let client = new OciClient(registry.url);
      const orphan = deterministicBytes(2_000, 'crash-orphan');
      const revived = deterministicBytes(3_000, 'crash-revived');
      const vanished = deterministicBytes(4_000, 'crash-vanished');
      for (const blob of [orphan, revived, vanished]) await client.pushBlob('crash/a', blob);
      const image = await client.pushImage('crash/a', 'v1');
      await registry.close();

      // What a pass leaves when the process dies after its metadata commit: rows gone, digests
      // queued, files still there (or, for one, already deleted before the queue was cleared).
      const db = new Database(path.join(dataDir, 'registry.db'));
      for (const blob of [orphan, revived, vanished]) {
        db.prepare('delete from repository_blobs where digest = ?').run(sha256(blob));
        db.prepare('delete from blobs where digest = ?').run(sha256(blob));
        db.prepare('insert into gc_pending_deletes (digest, size, queued_at) values (?, ?, ?)').run(sha256(blob), blob.length, Date.now());
      }
      db.close();
      fs.rmSync(blobFile(dataDir, sha256(vanished)));

      registry = await startRegistry({ dataDir, env });
      client = new OciClient(registry.url);
      expect(fs.existsSync(blobFile(dataDir, sha256(orphan)))).toBe(true);
      expect((await client.fetch(`/v2/crash/a/blobs/${sha256(orphan)}`, { method: 'HEAD' })).status).toBe(404);
      await client.pushBlob('crash/b', revived); // uploaded again while still queued

      const report = await client.gc();

      expect(report).toMatchObject({ deletedManifests: 0, deletedLayers: 0 });
      expect(fs.existsSync(blobFile(dataDir, sha256(orphan)))).toBe(false);
      expect(fileSize(blobFile(dataDir, sha256(revived)))).toBe(revived.length);
      expect((await client.getVerifiedBlob('crash/b', sha256(revived))).equals(revived)).toBe(true);
      await client.pullVerified('crash/a', 'v1', image.bytes);
      const check = new Database(path.join(dataDir, 'registry.db'), { readonly: true });
      try {
        expect(check.prepare('select digest from gc_pending_deletes').all()).toEqual([]);
      } finally {
        check.close();
      }
    } finally {
      await registry.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('GC after a crash between an upload renaming its bytes into place and committing them (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;

  beforeAll(async () => {
    registry = await startRegistry({ env: { REGISTRY_GC_GRACE: '3600', REGISTRY_GC_INTERVAL: '0' } });
    client = new OciClient(registry.url);
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('deletes an old blob file no metadata knows within a full round of passes, and keeps young or known ones', async () => {
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    const plant = (data: Buffer, mtime?: Date): string => {
      const file = blobFile(registry.dataDir, sha256(data));
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, data);
      if (mtime) fs.utimesSync(file, mtime, mtime);
      return file;
    };
    const orphan = plant(deterministicBytes(1_500, 'cut-off-upload'), twoHoursAgo);
    const young = plant(deterministicBytes(1_600, 'cut-off-just-now'));
    const knownData = deterministicBytes(1_700, 'known-blob');
    await client.pushBlob('orphans/a', knownData);
    const known = blobFile(registry.dataDir, sha256(knownData));
    fs.utimesSync(known, twoHoursAgo, twoHoursAgo); // old on disk, but a row knows it

    let deletedOrphans = 0;
    for (let pass = 0; pass < 256; pass++) deletedOrphans += (await client.gc()).deletedOrphanFiles;

    expect(deletedOrphans).toBe(1);
    expect(fs.existsSync(orphan)).toBe(false);
    expect(fs.existsSync(young)).toBe(true);
    expect((await client.getVerifiedBlob('orphans/a', sha256(knownData))).equals(knownData)).toBe(true);
  });
});
