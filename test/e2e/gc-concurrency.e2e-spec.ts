import * as fs from 'node:fs';
import * as path from 'node:path';
import { blobFile, Descriptor, descriptorOf, deterministicBytes, errorCodes, filesUnder, imageManifestBytes, MT, OciClient, sha256, sleep } from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';
import { makeTempDir, removeDir } from '../utils/temp-dir';

jest.setTimeout(60_000);

/** GC running while clients push and delete: one pass at a time, and no pushed image ever loses a blob. */
describe('GC under concurrent writes (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;
  let dataDir: string;

  beforeAll(async () => {
    // On tmpfs when there is one: fsyncs cost nothing there, so the pace of pushes and passes
    // depends on the CPU, not on a disk other jobs share.
    dataDir = fs.existsSync('/dev/shm') ? makeTempDir('registry-gc-', '/dev/shm') : makeTempDir();
    registry = await startRegistry({ dataDir, env: { REGISTRY_GC_GRACE: '0', REGISTRY_GC_INTERVAL: '0', REGISTRY_GC_DELETE_UNTAGGED: 'true' } });
    client = new OciClient(registry.url);
  });
  afterAll(async () => {
    await registry.stop();
    removeDir(dataDir);
  });

  it('runs one pass at a time: of two concurrent POST /_gc, one answers 409 while the other runs', async () => {
    const runCount = async (): Promise<number> => ((await (await client.fetch('/api/v1/gc/runs?limit=1000')).json()) as { runs: unknown[] }).runs.length;
    let conflicts = 0;
    // A pass with 60 blobs to delete lasts long enough for the second request to find it
    // running; when the two happen not to overlap, both may succeed, so try a few rounds.
    for (let round = 0; round < 3 && conflicts === 0; round++) {
      const blobs = Array.from({ length: 60 }, (_, i) => deterministicBytes(200, `one-at-a-time-${round}-${i}`));
      for (let i = 0; i < blobs.length; i += 10) await Promise.all(blobs.slice(i, i + 10).map((b) => client.pushBlob('once/a', b)));
      const runsBefore = await runCount();

      const results = await Promise.all([client.tryGc(), client.tryGc()]);

      for (const { status } of results) expect([200, 409]).toContain(status);
      const passes = results.filter((r) => r.status === 200);
      expect(passes.length).toBeGreaterThanOrEqual(1);
      // Overlapping or not, every blob is deleted, and counted, exactly once.
      expect(passes.reduce((n, r) => n + r.report!.deletedLayers, 0)).toBe(blobs.length);
      expect(passes.reduce((n, r) => n + r.report!.reclaimedBytes, 0)).toBe(blobs.length * 200);
      expect((await runCount()) - runsBefore).toBe(passes.length); // a refused pass is not recorded
      conflicts += results.length - passes.length;
    }
    expect(conflicts).toBeGreaterThan(0);
  });

  it('keeps every image whole while writers push and delete and GC passes run in a loop', async () => {
    const WRITERS = 4;
    const DURATION_MS = 6_000;
    const MAX_ATTEMPTS = 20;
    const deadline = Date.now() + DURATION_MS;
    const base = deterministicBytes(8_000, 'stress-base');
    const failures: string[] = [];
    let pushes = 0;
    let writersDone = false;

    type Mode = 'post' | 'head' | 'mount';
    interface Live {
      tag: string;
      digest: string;
      bytes: Buffer;
      blobs: Descriptor[];
    }

    /** Makes `data` available in `repo` the way `mode` says a client would. */
    async function provide(repo: string, data: Buffer, mode: Mode): Promise<void> {
      const digest = sha256(data);
      if (mode === 'head') {
        const head = await client.fetch(`/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
        if (head.status === 200) return; // the client skips the upload
        if (head.status !== 404) failures.push(`HEAD ${repo} ${digest}: ${head.status}`);
      } else if (mode === 'mount') {
        const mount = await client.fetch(`/v2/${repo}/blobs/uploads/?mount=${digest}&from=stress/w0`, { method: 'POST' });
        await mount.arrayBuffer();
        if (mount.status === 201) return;
        if (mount.status !== 202) {
          failures.push(`mount ${repo} ${digest}: ${mount.status}`);
          return;
        }
        // Not mountable: complete the session the mount opened instead.
        const put = await client.fetch(client.withQuery(mount.headers.get('location')!, { digest }), {
          method: 'PUT',
          headers: { 'Content-Type': 'application/octet-stream' },
          body: data,
        });
        await put.arrayBuffer();
        if (put.status !== 201) failures.push(`PUT upload ${repo} ${digest}: ${put.status}`);
        return;
      }
      try {
        await client.pushBlob(repo, data);
      } catch (error) {
        failures.push(String(error));
      }
    }

    /** Pushes one image; re-uploads everything and retries on MANIFEST_BLOB_UNKNOWN (GC took a blob first). */
    async function pushImage(writer: number, i: number): Promise<Live | undefined> {
      const repo = `stress/w${writer}`;
      const shared = deterministicBytes(3_000, `stress-shared-${Math.floor(i / 3) % 4}`);
      const own = deterministicBytes(1_000 + 10 * writer + i, `stress-own-${writer}-${i}`);
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, writer, i }));
      const blobs = [descriptorOf(MT.ociConfig, config), ...[base, shared, own].map((l) => descriptorOf(MT.ociLayer, l))];
      const bytes = imageManifestBytes(blobs[0]!, blobs.slice(1));
      const modes: [Buffer, Mode][] = [
        [base, (['post', 'head', 'mount', 'head'] as const)[writer % 4]!],
        [shared, writer % 2 === 1 ? 'head' : 'post'],
        [own, 'post'],
        [config, 'post'],
      ];
      const tag = `t${i}`;
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        await Promise.all(modes.map(([data, mode]) => provide(repo, data, attempt === 0 ? mode : 'post')));
        const res = await client.putManifest(repo, tag, bytes, MT.ociManifest);
        if (res.status === 201) {
          await res.arrayBuffer();
          pushes++;
          return { tag, digest: sha256(bytes), bytes, blobs };
        }
        const codes = res.status === 400 ? await errorCodes(res) : [await res.text()];
        if (res.status !== 400 || codes.join() !== 'MANIFEST_BLOB_UNKNOWN') {
          failures.push(`PUT manifest ${repo}:${tag}: ${res.status} ${codes.join()}`);
          return undefined;
        }
        // GC took one of the blobs first: nothing was stored; the client uploads them again and retries.
        const stored = await client.fetch(`/v2/${repo}/manifests/${sha256(bytes)}`, { method: 'HEAD' });
        if (stored.status !== 404) failures.push(`HEAD manifest ${repo}@${sha256(bytes)} after a refused push: ${stored.status}`);
      }
      // With no grace period, GC may win every race for a while: that is allowed (safety, not
      // liveness, is what a zero grace promises); the image is simply not pushed this time.
      starved++;
      return undefined;
    }

    async function writer(w: number): Promise<Live[]> {
      const repo = `stress/w${w}`;
      const live: Live[] = [];
      for (let i = 0; Date.now() < deadline; i++) {
        const image = await pushImage(w, i);
        if (image) {
          // A manifest that got 201 has every blob, however GC interleaves.
          await client.pullVerified(repo, image.tag, image.bytes).catch((error: unknown) => failures.push(`pull ${repo}:${image.tag}: ${String(error)}`));
          live.push(image);
        }
        if (live.length > 3) {
          const victim = live.shift()!;
          const status = await client.deleteManifest(repo, i % 2 === 0 ? victim.tag : victim.digest);
          if (status !== 202) failures.push(`DELETE ${repo} ${victim.tag}: ${status}`);
        }
      }
      return live;
    }

    let passes = 0;
    let collected = 0;
    let starved = 0;
    async function collector(): Promise<void> {
      for (let n = 0; !writersDone; n++) {
        const { status, report } = await client.tryGc({ dryRun: n % 5 === 4 });
        if (status === 200) {
          passes++;
          if (!report!.dryRun) collected += report!.deletedLayers;
        } else if (status !== 409) {
          failures.push(`POST /_gc: ${status}`);
        }
        // Back to back would starve the writers (with no grace period a blob is collectable
        // from its upload until a manifest references it); short random pauses let them through.
        await sleep(10 + Math.random() * 40);
      }
    }

    const collectors = [collector(), collector()];
    const lives = await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
    writersDone = true;
    await Promise.all(collectors);

    expect(failures).toEqual([]);
    expect(pushes).toBeGreaterThanOrEqual(2 * WRITERS);
    expect(starved).toBeLessThan(pushes);
    expect(passes).toBeGreaterThanOrEqual(5);
    expect(collected).toBeGreaterThan(0);

    // Every tag still present pulls byte-identical, and the tag lists hold exactly those.
    for (const [w, live] of lives.entries()) {
      const repo = `stress/w${w}`;
      const tags = (await (await client.fetch(`/v2/${repo}/tags/list`)).json()) as { tags: string[] };
      expect([...tags.tags].sort()).toEqual(live.map((l) => l.tag).sort());
      for (const image of live) await client.pullVerified(repo, image.tag, image.bytes);
    }

    // Once the writers stop, one pass leaves exactly the blobs of the live images, on disk and in
    // metadata, and a second pass finds nothing.
    await client.gc();
    expect(await client.gc()).toMatchObject({ deletedManifests: 0, deletedLayers: 0, reclaimedBytes: 0 });
    const liveBlobs = new Map(lives.flat().flatMap((l) => l.blobs.map((b) => [b.digest, b.size] as const)));
    const blobsDir = path.join(registry.dataDir, 'storage', 'blobs');
    const expectedFiles = [...liveBlobs.keys()].map((d) => path.relative(blobsDir, blobFile(registry.dataDir, d)).split(path.sep).join('/')).sort();
    expect(filesUnder(blobsDir)).toEqual(expectedFiles);
    const stats = await client.stats();
    expect(stats.images).toBe(lives.flat().length);
    expect(stats.layers.layers).toBe(liveBlobs.size);
    expect(stats.layers.totalSize).toBe([...liveBlobs.values()].reduce((n, s) => n + s, 0));
    expect(filesUnder(path.join(registry.dataDir, 'storage', 'uploads'))).toEqual([]);
  });
});
