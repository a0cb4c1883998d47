import * as fs from 'node:fs';
import { blobFile, Descriptor, descriptorOf, deterministicBytes, errorCodes, indexBytes, MT, OciClient, PushedImage, sha256, sleep } from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';

jest.setTimeout(30_000);

/** What GC may collect and what it must keep: tags, digests, indexes, referrers, grace periods. */

const GC_NOW = { REGISTRY_GC_GRACE: '0', REGISTRY_GC_INTERVAL: '0' };

const blobsOf = (image: PushedImage): Descriptor[] => [image.config, ...image.layers];
const bytesOf = (blobs: Descriptor[]): number => blobs.reduce((n, b) => n + b.size, 0);

function onDisk(registry: RunningRegistry, digest: string): boolean {
  return fs.existsSync(blobFile(registry.dataDir, digest));
}

function expectFiles(registry: RunningRegistry, present: string[], absent: string[]): void {
  expect(present.filter((d) => !onDisk(registry, d))).toEqual([]);
  expect(absent.filter((d) => onDisk(registry, d))).toEqual([]);
}

async function expectManifestGone(client: OciClient, repo: string, digest: string): Promise<void> {
  const res = await client.fetch(`/v2/${repo}/manifests/${digest}`);
  expect(res.status).toBe(404);
  // NAME_UNKNOWN once GC also dropped the repository because nothing was left in it.
  expect([['MANIFEST_UNKNOWN'], ['NAME_UNKNOWN']]).toContainEqual(await errorCodes(res));
}

async function expectBlobGone(client: OciClient, repo: string, digest: string): Promise<void> {
  const res = await client.fetch(`/v2/${repo}/blobs/${digest}`);
  expect(res.status).toBe(404);
  expect(await errorCodes(res)).toEqual(['BLOB_UNKNOWN']);
}

describe('GC with a zero grace period, deleting untagged manifests (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;

  beforeAll(async () => {
    registry = await startRegistry({ env: { ...GC_NOW, REGISTRY_GC_DELETE_UNTAGGED: 'true' } });
    client = new OciClient(registry.url);
  });
  afterAll(async () => {
    await registry.stop();
  });
  // Each test starts with nothing collectable, so its reports count only its own work.
  beforeEach(async () => {
    await client.gc();
  });

  it('collects exactly the unshared blobs of an image whose tag was deleted, and every other image still pulls', async () => {
    const base = deterministicBytes(20_000, 'gc-tag-base');
    const a1 = await client.pushImage('gc/tag-a', 'v1', { layers: [base, deterministicBytes(1_111, 'gc-tag-a1')] });
    const a2 = await client.pushImage('gc/tag-a', 'v2', { layers: [base, deterministicBytes(2_222, 'gc-tag-a2')] });
    const b1 = await client.pushImage('gc/tag-b', 'v1', { layers: [base, deterministicBytes(3_333, 'gc-tag-b1')] });
    const before = await client.stats();
    const gone = [a1.config, a1.layers[1]!];

    expect(await client.deleteManifest('gc/tag-a', 'v1')).toBe(202);
    const report = await client.gc();

    expect(report).toMatchObject({ dryRun: false, deletedManifests: 1, deletedLayers: 2, reclaimedBytes: bytesOf(gone), deletedUploads: 0 });
    expectFiles(
      registry,
      [...blobsOf(a2), ...blobsOf(b1)].map((b) => b.digest),
      gone.map((b) => b.digest),
    );
    await expectManifestGone(client, 'gc/tag-a', a1.digest);
    for (const blob of gone) await expectBlobGone(client, 'gc/tag-a', blob.digest);
    expect(await client.pullVerified('gc/tag-a', 'v2', a2.bytes)).toEqual(blobsOf(a2).map((b) => b.digest));
    expect(await client.pullVerified('gc/tag-b', 'v1', b1.bytes)).toEqual(blobsOf(b1).map((b) => b.digest));

    const after = await client.stats();
    expect(after.images).toBe(before.images - 1);
    expect(after.layers.layers).toBe(before.layers.layers - 2);
    expect(after.layers.totalSize).toBe(before.layers.totalSize - report.reclaimedBytes);
  });

  it('collects the blobs of a manifest deleted by digest, with every tag that pointed at it', async () => {
    const image = await client.pushImage('gc/by-digest', 'v1', { layers: [deterministicBytes(4_000, 'gc-by-digest')] });
    expect((await client.putManifest('gc/by-digest', 'also', image.bytes, image.mediaType)).status).toBe(201);
    expect(await client.deleteManifest('gc/by-digest', image.digest)).toBe(202);

    const report = await client.gc();

    expect(report).toMatchObject({ deletedManifests: 0, deletedLayers: 2, reclaimedBytes: bytesOf(blobsOf(image)) });
    expectFiles(registry, [], blobsOf(image).map((b) => b.digest));
    expect((await client.fetch('/v2/gc/by-digest/manifests/also')).status).toBe(404);
  });

  it('drops a repository left with nothing from the catalog, and a new push brings it back', async () => {
    const image = await client.pushImage('gc/emptied', 'v1', { layers: [deterministicBytes(3_000, 'gc-emptied')] });
    const catalog = async (): Promise<string[]> => ((await (await client.fetch('/v2/_catalog')).json()) as { repositories: string[] }).repositories;
    expect(await catalog()).toContain('gc/emptied');

    expect(await client.deleteManifest('gc/emptied', image.digest)).toBe(202);
    expect(await catalog()).toContain('gc/emptied'); // its blobs are still linked until GC runs
    await client.gc();
    expect(await catalog()).not.toContain('gc/emptied');
    expect((await client.fetch('/v2/gc/emptied/tags/list')).status).toBe(404);

    await client.pushImage('gc/emptied', 'v2', { layers: [deterministicBytes(3_000, 'gc-emptied-again')] });
    expect(await catalog()).toContain('gc/emptied');
  });

  it('keeps a re-tagged manifest and collects the one its tag moved away from', async () => {
    const old = await client.pushImage('gc/retag', 'latest');
    const current = await client.pushImage('gc/retag', 'latest');

    const report = await client.gc();

    expect(report).toMatchObject({ deletedManifests: 1, deletedLayers: 2, reclaimedBytes: bytesOf(blobsOf(old)) });
    await expectManifestGone(client, 'gc/retag', old.digest);
    await client.pullVerified('gc/retag', 'latest', current.bytes);
  });

  describe('an image index', () => {
    async function pushIndex(repo: string, seed: string): Promise<{ children: PushedImage[]; index: Buffer }> {
      const children = [
        await client.pushImage(repo, `${seed}-amd64`, { untagged: true, layers: [deterministicBytes(1_500, `${seed}-amd64`)] }),
        await client.pushImage(repo, `${seed}-arm64`, { untagged: true, layers: [deterministicBytes(2_500, `${seed}-arm64`)] }),
      ];
      const index = indexBytes([
        descriptorOf(MT.ociManifest, children[0]!.bytes, { platform: { architecture: 'amd64', os: 'linux' } }),
        descriptorOf(MT.ociManifest, children[1]!.bytes, { platform: { architecture: 'arm64', os: 'linux' } }),
      ]);
      expect((await client.putManifest(repo, 'multi', index, MT.ociIndex)).status).toBe(201);
      return { children, index };
    }

    it('keeps the untagged manifests it lists while it lives, and collects them on the pass after its own', async () => {
      const { children, index } = await pushIndex('gc/index', 'gc-index');
      const childBlobs = children.flatMap(blobsOf);

      expect(await client.gc()).toMatchObject({ deletedManifests: 0, deletedLayers: 0 });
      await client.pullVerified('gc/index', 'multi', index);

      expect(await client.deleteManifest('gc/index', 'multi')).toBe(202);
      // First pass: the now untagged index goes; its children only became unreferenced then.
      expect(await client.gc()).toMatchObject({ deletedManifests: 1, deletedLayers: 0, reclaimedBytes: 0 });
      await expectManifestGone(client, 'gc/index', sha256(index));
      for (const child of children) await client.pullVerified('gc/index', child.digest, child.bytes);

      // Second pass: the children, then their blobs.
      expect(await client.gc()).toMatchObject({ deletedManifests: 2, deletedLayers: 4, reclaimedBytes: bytesOf(childBlobs) });
      for (const child of children) await expectManifestGone(client, 'gc/index', child.digest);
      expectFiles(registry, [], childBlobs.map((b) => b.digest));
      expect(await client.gc()).toMatchObject({ deletedManifests: 0, deletedLayers: 0, reclaimedBytes: 0 });
    });

    it('collects the manifests of an index deleted by digest, and their blobs, in one pass', async () => {
      const { children, index } = await pushIndex('gc/index-digest', 'gc-index-digest');
      expect(await client.deleteManifest('gc/index-digest', sha256(index))).toBe(202);

      const report = await client.gc();

      expect(report).toMatchObject({ deletedManifests: 2, deletedLayers: 4, reclaimedBytes: bytesOf(children.flatMap(blobsOf)) });
    });
  });

  describe('a referrer', () => {
    it('is kept while its subject lives and collected, with its blobs, once the subject is deleted', async () => {
      const subject = await client.pushImage('gc/referrer', 'v1');
      const sbom = await client.pushImage('gc/referrer', 'sbom', {
        untagged: true,
        artifactType: 'application/vnd.example.sbom.v1+json',
        subject: descriptorOf(subject.mediaType, subject.bytes),
      });

      expect(await client.gc()).toMatchObject({ deletedManifests: 0, deletedLayers: 0 });
      await client.pullVerified('gc/referrer', sbom.digest, sbom.bytes);

      expect(await client.deleteManifest('gc/referrer', subject.digest)).toBe(202);
      const report = await client.gc();

      expect(report).toMatchObject({ deletedManifests: 1, deletedLayers: 4, reclaimedBytes: bytesOf([...blobsOf(subject), ...blobsOf(sbom)]) });
      await expectManifestGone(client, 'gc/referrer', sbom.digest);
      expectFiles(registry, [], [...blobsOf(subject), ...blobsOf(sbom)].map((b) => b.digest));
    });
  });
});

describe('GC with a zero grace period, keeping untagged manifests (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;

  beforeAll(async () => {
    registry = await startRegistry({ env: { ...GC_NOW, REGISTRY_GC_DELETE_UNTAGGED: 'false' } });
    client = new OciClient(registry.url);
  });
  afterAll(async () => {
    await registry.stop();
  });
  beforeEach(async () => {
    await client.gc();
  });

  it('keeps a manifest whose tag was deleted, with its blobs, and collects them once it is deleted by digest', async () => {
    const image = await client.pushImage('keep/untagged', 'v1');
    expect(await client.deleteManifest('keep/untagged', 'v1')).toBe(202);

    expect(await client.gc()).toMatchObject({ deletedManifests: 0, deletedLayers: 0, reclaimedBytes: 0 });
    await client.pullVerified('keep/untagged', image.digest, image.bytes);
    expectFiles(registry, blobsOf(image).map((b) => b.digest), []);

    expect(await client.deleteManifest('keep/untagged', image.digest)).toBe(202);
    expect(await client.gc()).toMatchObject({ deletedManifests: 0, deletedLayers: 2, reclaimedBytes: bytesOf(blobsOf(image)) });
    expectFiles(registry, [], blobsOf(image).map((b) => b.digest));
  });

  it('keeps the manifests of a deleted index (untagged) but still collects a referrer of a deleted subject', async () => {
    const child = await client.pushImage('keep/misc', 'child', { untagged: true });
    const index = indexBytes([descriptorOf(MT.ociManifest, child.bytes)]);
    expect((await client.putManifest('keep/misc', 'multi', index, MT.ociIndex)).status).toBe(201);
    const subject = await client.pushImage('keep/misc', 'subject');
    const signature = await client.pushImage('keep/misc', 'sig', { untagged: true, subject: descriptorOf(subject.mediaType, subject.bytes) });

    expect(await client.deleteManifest('keep/misc', sha256(index))).toBe(202);
    expect(await client.deleteManifest('keep/misc', subject.digest)).toBe(202);
    const report = await client.gc();

    expect(report).toMatchObject({ deletedManifests: 1, deletedLayers: 4, reclaimedBytes: bytesOf([...blobsOf(subject), ...blobsOf(signature)]) });
    await expectManifestGone(client, 'keep/misc', signature.digest);
    await client.pullVerified('keep/misc', child.digest, child.bytes);
  });
});

describe('GC grace period (e2e)', () => {
  it('keeps an unreferenced blob within the grace period and collects it when the grace period is 0', async () => {
    let registry = await startRegistry({ env: { REGISTRY_GC_GRACE: '3600', REGISTRY_GC_INTERVAL: '0', REGISTRY_GC_DELETE_UNTAGGED: 'true' } });
    const dataDir = registry.dataDir;
    try {
      let client = new OciClient(registry.url);
      const loose = deterministicBytes(7_000, 'grace-loose');
      await client.pushBlob('grace/a', loose);
      const kept = await client.pushImage('grace/a', 'kept');
      const deleted = await client.pushImage('grace/a', 'deleted');
      expect(await client.deleteManifest('grace/a', 'deleted')).toBe(202);

      expect(await client.gc()).toMatchObject({ deletedManifests: 0, deletedLayers: 0, reclaimedBytes: 0 });
      expect((await client.getVerifiedBlob('grace/a', sha256(loose))).equals(loose)).toBe(true);
      await client.pullVerified('grace/a', deleted.digest, deleted.bytes);

      // The same data, restarted with no grace period.
      await registry.close();
      registry = await startRegistry({ dataDir, env: { REGISTRY_GC_GRACE: '0', REGISTRY_GC_INTERVAL: '0', REGISTRY_GC_DELETE_UNTAGGED: 'true' } });
      client = new OciClient(registry.url);
      const report = await client.gc();

      expect(report).toMatchObject({ deletedManifests: 1, deletedLayers: 3, reclaimedBytes: loose.length + bytesOf(blobsOf(deleted)) });
      expectFiles(registry, blobsOf(kept).map((b) => b.digest), [sha256(loose), ...blobsOf(deleted).map((b) => b.digest)]);
      await client.pullVerified('grace/a', 'kept', kept.bytes);
    } finally {
      await registry.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('restarts the grace period of an unreferenced blob on a HEAD, a mount and a re-upload', async () => {
    const registry = await startRegistry({ env: { REGISTRY_GC_GRACE: '2', REGISTRY_GC_INTERVAL: '0' } });
    try {
      const client = new OciClient(registry.url);
      const [headed, mounted, reuploaded, untouched] = ['head', 'mount', 'reupload', 'untouched'].map((s) => deterministicBytes(1_000, `grace-${s}`)) as [
        Buffer,
        Buffer,
        Buffer,
        Buffer,
      ];
      for (const blob of [headed, mounted, reuploaded, untouched]) await client.pushBlob('grace/a', blob);

      await sleep(1_000);
      expect((await client.fetch(`/v2/grace/a/blobs/${sha256(headed)}`, { method: 'HEAD' })).status).toBe(200);
      expect((await client.fetch(`/v2/grace/b/blobs/uploads/?mount=${sha256(mounted)}&from=grace/a`, { method: 'POST' })).status).toBe(201);
      await client.pushBlob('grace/a', reuploaded);

      // 2.3 s after the push, 1.3 s after the touches: only the untouched blob is past its grace period.
      await sleep(1_300);
      const first = await client.gc();
      expect(first).toMatchObject({ deletedLayers: 1, reclaimedBytes: untouched.length });
      expectFiles(registry, [headed, mounted, reuploaded].map((b) => sha256(b)), [sha256(untouched)]);
      expect((await client.getVerifiedBlob('grace/b', sha256(mounted))).equals(mounted)).toBe(true);

      await sleep(900);
      const second = await client.gc();
      expect(second).toMatchObject({ deletedLayers: 3, reclaimedBytes: 3_000 });
      expectFiles(registry, [], [headed, mounted, reuploaded].map((b) => sha256(b)));
    } finally {
      await registry.stop();
    }
  });
});
