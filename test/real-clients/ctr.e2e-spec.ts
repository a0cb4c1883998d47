/**
 * containerd's ctr (a private containerd) against the registry: push, cross-repository mount,
 * pull, a multi-platform index, tags and delete. ctr keeps manifests and blobs byte-identical, so
 * everything is compared with the test images byte for byte. Pull-backs go into a second
 * namespace; the daemon's content_sharing_policy is "isolated", so they really download, and
 * unpacking checks every layer against the config's diff_ids.
 *
 * ctr only tries a cross-repository mount for content that carries a
 * containerd.io/distribution.source label, i.e. content it pulled - never for imported content.
 * So before pushing big2 the spec pulls big back (the "pull a base image, push an image built on
 * it" flow); that labels the shared base layer with its source repository, and the big2 push must
 * then mount it. The recording proxy in front of the registry is how that is asserted.
 */
import { Containerd } from '../utils/clients';
import { OciLayout, diffLayouts } from '../utils/images';
import { RecordedRequest, completedUploads, downloadedBlobBytes, expectMountedNotUploaded, uploadedBytes } from '../utils/recording-proxy';
import { deleteManifest, expectIdenticalImage, fetchManifest, tagsOf } from '../utils/registry-checks';
import { COMMAND_TIMEOUT_MS, STEP_TIMEOUT_MS, describeRealClient } from '../utils/real-clients';

/** Namespace the test images are imported into and pushed from. */
const NS = 'e2e';
/** Namespace pull-backs go into (no content shared with NS). */
const VERIFY_NS = 'verify';
type Name = 'tiny' | 'big' | 'big2' | 'multi';

describeRealClient('ctr', 'ctr (containerd) against the registry', (run) => {
  let containerd: Containerd | undefined;

  beforeAll(async () => {
    containerd = await run().sandbox.startContainerd();
  }, 3 * 60_000);

  const ctr = async (namespace: string, args: string[]): Promise<string> => {
    if (!containerd) throw new Error('containerd did not start (see the beforeAll error)');
    return (await containerd.ctr(namespace, args, { timeoutMs: COMMAND_TIMEOUT_MS })).stdout;
  };
  const sh = async (cmd: string, args: string[]): Promise<void> => {
    await run().sandbox.run(cmd, args, { timeoutMs: COMMAND_TIMEOUT_MS });
  };
  const local = (name: Name): string => `import/${name}:latest`;
  /** ctr images import of the OCI layout (as an OCI archive), all platforms, without unpacking. */
  const importImage = async (name: Name): Promise<void> => {
    const archive = run().sandbox.path('out', `${name}.tar`);
    await sh('tar', ['-C', run().images.layout(name).dir, '-cf', archive, '.']);
    await ctr(NS, ['images', 'import', '--no-unpack', '--all-platforms', '--base-name', `import/${name}`, archive]);
  };
  const push = async (name: Name, tag = 'latest'): Promise<RecordedRequest[]> =>
    (await run().traffic(() => ctr(NS, ['images', 'push', '--plain-http', run().ref(name, tag), local(name)]))).seen;
  /** Pulls into the verify namespace (unpacking it) and exports it to an OCI layout to compare byte for byte. */
  const pullBack = async (name: Name): Promise<{ seen: RecordedRequest[]; layout: OciLayout }> => {
    const { ref, sandbox } = run();
    const { seen } = await run().traffic(() => ctr(VERIFY_NS, ['images', 'pull', '--plain-http', '--all-platforms', ref(name)]));
    const archive = sandbox.path('out', `pulled-${name}.tar`);
    const dir = sandbox.path('out', `pulled-${name}`);
    await ctr(VERIFY_NS, ['images', 'export', '--all-platforms', archive, ref(name)]);
    await sh('mkdir', ['-p', dir]);
    await sh('tar', ['-C', dir, '-xf', archive]);
    return { seen, layout: new OciLayout(dir) };
  };

  it('pushes tiny and big (imported OCI archives), keeping manifests and blobs byte-identical', async () => {
    const { images, url, repo } = run();
    for (const name of ['tiny', 'big'] as const) {
      await importImage(name);
      const seen = await push(name);
      const uploaded = completedUploads(seen, repo(name));
      const m = images.manifest(name);
      for (const digest of [m.config, ...m.layers.map((l) => l.digest)]) expect(uploaded.has(digest)).toBe(true);
      await expectIdenticalImage(url, repo(name), 'latest', images.layout(name));
    }
  }, STEP_TIMEOUT_MS);

  it('after pulling big, pushes big2 by mounting the shared base layer from e2e/ctr/big instead of uploading it', async () => {
    const { images, url, repo, ref } = run();
    const [base, own] = images.manifest('big2').layers;
    expect(base.digest).toBe(images.manifest('big').layers[0].digest); // the fixture's premise
    await ctr(NS, ['images', 'pull', '--plain-http', ref('big')]); // labels the base layer with its source repository
    await importImage('big2');
    const seen = await push('big2');
    expectMountedNotUploaded(seen, { repo: repo('big2'), from: repo('big'), digest: base.digest, size: base.size });
    expect(completedUploads(seen, repo('big2')).has(own.digest)).toBe(true);
    await expectIdenticalImage(url, repo('big2'), 'latest', images.layout('big2'));
  }, STEP_TIMEOUT_MS);

  it('pulls tiny, big and big2 back into an empty namespace (unpacked) byte-identically', async () => {
    const { images } = run();
    const have = new Set<string>();
    for (const name of ['tiny', 'big', 'big2'] as const) {
      const { seen, layout } = await pullBack(name);
      expect(await diffLayouts(layout, images.layout(name))).toEqual([]);
      // every layer the namespace did not have yet came from the registry
      for (const layer of images.manifest(name).layers.filter((l) => !have.has(l.digest))) {
        expect(downloadedBlobBytes(seen, layer.digest)).toBeGreaterThanOrEqual(layer.size);
        have.add(layer.digest);
      }
    }
  }, STEP_TIMEOUT_MS);

  it('pushes the multi-platform index with every platform and pulls it back byte-identically', async () => {
    const { images, url, repo } = run();
    await importImage('multi');
    await push('multi');
    await expectIdenticalImage(url, repo('multi'), 'latest', images.layout('multi'));
    const { layout } = await pullBack('multi');
    expect(await diffLayouts(layout, images.layout('multi'))).toEqual([]);
  }, STEP_TIMEOUT_MS);

  it('tags within a repository without re-uploading and lists tags over HTTP', async () => {
    const { images, url, repo } = run();
    const seen = await push('tiny', 'v1');
    expect(uploadedBytes(seen)).toBe(0);
    const v1 = await fetchManifest(url, repo('tiny'), 'v1');
    expect([v1.status, v1.digest]).toEqual([200, images.summary('tiny').digest]);
    expect(await tagsOf(url, repo('tiny'))).toEqual(['latest', 'v1']);
    for (const name of ['big', 'big2', 'multi'] as const) expect(await tagsOf(url, repo(name))).toEqual(['latest']);
  }, STEP_TIMEOUT_MS);

  it('deletes manifests by digest over HTTP (an index, then an image sharing layers with big)', async () => {
    const { images, url, repo } = run();
    const multi = images.summary('multi').digest;
    expect(await deleteManifest(url, repo('multi'), multi)).toBe(202);
    expect((await fetchManifest(url, repo('multi'), multi)).status).toBe(404);
    expect((await fetchManifest(url, repo('multi'), 'latest')).status).toBe(404);
    expect(await tagsOf(url, repo('multi'))).toEqual([]);

    const big2 = images.summary('big2').digest;
    expect(await deleteManifest(url, repo('big2'), big2)).toBe(202);
    expect((await fetchManifest(url, repo('big2'), big2)).status).toBe(404);
    expect((await fetchManifest(url, repo('big2'), 'latest')).status).toBe(404);
    expect(await tagsOf(url, repo('big2'))).toEqual([]);

    // big shares its base layer with the deleted big2 and must still be whole
    await expectIdenticalImage(url, repo('big'), 'latest', images.layout('big'));
  }, STEP_TIMEOUT_MS);
});
