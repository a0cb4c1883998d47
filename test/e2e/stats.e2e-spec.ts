import * as path from 'node:path';
import { blobFile, descriptorOf, deterministicBytes, fileSize, filesUnder, imageManifestBytes, MT, OciClient, sha256 } from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';

jest.setTimeout(30_000);

/**
 * The dedup example of /_stats: image v1 (base + app layer) and v2 (the same base + another
 * app layer), v2 also pushed to a second repository. The registry stores every blob once.
 */
describe('/_stats (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;

  const base = deterministicBytes(40_000, 'stats-base');
  const app1 = deterministicBytes(3_000, 'stats-app1');
  const app2 = deterministicBytes(5_000, 'stats-app2');
  const cfg1 = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, v: 1 }));
  const cfg2 = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, v: 2 }));
  const v1 = imageManifestBytes(descriptorOf(MT.ociConfig, cfg1), [descriptorOf(MT.ociLayer, base), descriptorOf(MT.ociLayer, app1)]);
  const v2 = imageManifestBytes(descriptorOf(MT.ociConfig, cfg2), [descriptorOf(MT.ociLayer, base), descriptorOf(MT.ociLayer, app2)]);
  const stored = [base, app1, app2, cfg1, cfg2];
  const storedBytes = stored.reduce((n, b) => n + b.length, 0);
  const otherBytes = base.length + app2.length + cfg2.length;

  beforeAll(async () => {
    registry = await startRegistry({ env: { REGISTRY_GC_INTERVAL: '0' } });
    client = new OciClient(registry.url);
  });
  afterAll(async () => {
    await registry.stop();
  });

  const expectCreated = async (res: Response): Promise<void> => {
    expect(res.status).toBe(201);
    await res.arrayBuffer();
  };

  it('reports an empty registry with zeros and every documented field', async () => {
    expect(await client.stats()).toEqual({
      repositories: 0,
      images: 0,
      layers: { layers: 0, totalSize: 0, cacheHits: 0, cacheMisses: 0, hitRate: 0 },
      repositoryDetails: [],
      uploads: { active: 0 },
      dedup: { referencedBytes: 0, storedBytes: 0, savedBytes: 0, ratio: 1 },
    });
  });

  it('stores a base layer shared by two images and two repositories once, counting hits and misses', async () => {
    const started = Date.now();

    // v1: every blob is new (3 misses).
    for (const blob of [cfg1, base, app1]) await client.pushBlob('stats/app', blob);
    await expectCreated(await client.putManifest('stats/app', 'v1', v1, MT.ociManifest));
    let stats = await client.stats();
    expect(stats.layers).toEqual({ layers: 3, totalSize: cfg1.length + base.length + app1.length, cacheHits: 0, cacheMisses: 3, hitRate: 0 });

    // v2: a HEAD finds the base (hit) so it is not uploaded; app2 and cfg2 are new (misses).
    const head = await client.fetch(`/v2/stats/app/blobs/${sha256(base)}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    for (const blob of [app2, cfg2]) await client.pushBlob('stats/app', blob);
    await expectCreated(await client.putManifest('stats/app', 'v2', v2, MT.ociManifest));
    stats = await client.stats();
    expect(stats.layers).toEqual({ layers: 5, totalSize: storedBytes, cacheHits: 1, cacheMisses: 5, hitRate: 1 / 6 });

    // v2 in another repository: a mount from stats/app, a mount from anywhere and a
    // re-upload of an existing digest are all hits, and store nothing new.
    const mount = await client.fetch(`/v2/stats/other/blobs/uploads/?mount=${sha256(base)}&from=stats/app`, { method: 'POST' });
    expect(mount.status).toBe(201);
    const mountAnywhere = await client.fetch(`/v2/stats/other/blobs/uploads/?mount=${sha256(cfg2)}`, { method: 'POST' });
    expect(mountAnywhere.status).toBe(201);
    await client.pushBlob('stats/other', app2);
    await expectCreated(await client.putManifest('stats/other', 'v2', v2, MT.ociManifest));

    stats = await client.stats();
    const finished = Date.now();
    expect(stats.layers).toEqual({ layers: 5, totalSize: storedBytes, cacheHits: 4, cacheMisses: 5, hitRate: 4 / 9 });
    expect(stats.repositories).toBe(2);
    expect(stats.images).toBe(3);
    expect(stats.uploads).toEqual({ active: 0 });
    expect(stats.repositoryDetails).toEqual([
      { name: 'stats/app', tags: 2, imageCount: 2, totalSize: storedBytes, lastPush: expect.any(String) },
      { name: 'stats/other', tags: 1, imageCount: 1, totalSize: otherBytes, lastPush: expect.any(String) },
    ]);
    for (const repo of stats.repositoryDetails) {
      const lastPush = Date.parse(repo.lastPush!);
      expect(lastPush).toBeGreaterThanOrEqual(started);
      expect(lastPush).toBeLessThanOrEqual(finished);
    }
    expect(stats.dedup.referencedBytes).toBe(storedBytes + otherBytes);
    expect(stats.dedup.storedBytes).toBe(storedBytes);
    expect(stats.dedup.savedBytes).toBe(otherBytes);
    expect(stats.dedup.ratio).toBeCloseTo((storedBytes + otherBytes) / storedBytes, 10);

    // On disk: exactly one file per blob, of its size — not two copies of the base.
    const blobsDir = path.join(registry.dataDir, 'storage', 'blobs');
    const expectedFiles = stored.map((b) => path.relative(blobsDir, blobFile(registry.dataDir, sha256(b))).split(path.sep).join('/')).sort();
    expect(filesUnder(blobsDir)).toEqual(expectedFiles);
    for (const blob of stored) expect(fileSize(blobFile(registry.dataDir, sha256(blob)))).toBe(blob.length);
    const onDisk = filesUnder(blobsDir).reduce((n, f) => n + fileSize(path.join(blobsDir, f)), 0);
    expect(onDisk).toBe(stats.layers.totalSize);
  });

  it('counts neither a HEAD nor a mount of an unknown blob, and counts open upload sessions', async () => {
    const before = await client.stats();
    const unknown = sha256('stats: never pushed');
    const head = await client.fetch(`/v2/stats/app/blobs/${unknown}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    // A mount that cannot be served opens an ordinary upload session instead (202).
    const mount = await client.fetch(`/v2/stats/app/blobs/uploads/?mount=${unknown}&from=stats/other`, { method: 'POST' });
    expect(mount.status).toBe(202);
    const second = await client.startUpload('stats/app');
    let stats = await client.stats();
    expect(stats.layers).toEqual(before.layers);
    expect(stats.uploads).toEqual({ active: 2 });

    const cancel = await client.fetch(second, { method: 'DELETE' });
    expect(cancel.status).toBe(204);
    stats = await client.stats();
    expect(stats.uploads).toEqual({ active: 1 });
    const cancelMount = await client.fetch(mount.headers.get('location')!, { method: 'DELETE' });
    expect(cancelMount.status).toBe(204);
    expect((await client.stats()).uploads).toEqual({ active: 0 });
  });

  it('moves lastPush and the tag count when an existing image gets another tag', async () => {
    const before = (await client.stats()).repositoryDetails.find((r) => r.name === 'stats/other')!;
    await new Promise((r) => setTimeout(r, 5));
    await expectCreated(await client.putManifest('stats/other', 'latest', v2, MT.ociManifest));
    const after = (await client.stats()).repositoryDetails.find((r) => r.name === 'stats/other')!;
    expect(after.tags).toBe(2);
    expect(after.imageCount).toBe(1);
    expect(after.totalSize).toBe(before.totalSize);
    expect(Date.parse(after.lastPush!)).toBeGreaterThan(Date.parse(before.lastPush!));
  });
});
