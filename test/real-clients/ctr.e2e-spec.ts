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
import { RecordedRequest, uploadedBytes } from '../utils/recording-proxy';
import { expectIdenticalImage } from '../utils/registry-checks';
import {
  COMMAND_TIMEOUT_MS,
  STEP_TIMEOUT_MS,
  big2SharedBaseLayers,
  describeRealClient,
  expectBig2DeletedLeavingBigIdentical,
  expectBig2PushedIdenticallyWithMountedBase,
  expectManifestDeletedByDigest,
  expectNewLayersDownloaded,
  expectPushedIdentically,
  expectTagServes,
  expectTagsAfterTaggingTinyV1,
} from '../utils/real-clients';

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
    for (const name of ['tiny', 'big'] as const) {
      await importImage(name);
      await expectPushedIdentically(run(), name, await push(name));
    }
  }, STEP_TIMEOUT_MS);

  it('after pulling big, pushes big2 by mounting the shared base layer from e2e/ctr/big instead of uploading it', async () => {
    const { images, ref } = run();
    const layers = big2SharedBaseLayers(images);
    await ctr(NS, ['images', 'pull', '--plain-http', ref('big')]); // labels the base layer with its source repository
    await importImage('big2');
    await expectBig2PushedIdenticallyWithMountedBase(run(), await push('big2'), layers);
  }, STEP_TIMEOUT_MS);

  it('pulls tiny, big and big2 back into an empty namespace (unpacked) byte-identically', async () => {
    const { images } = run();
    const have = new Set<string>();
    for (const name of ['tiny', 'big', 'big2'] as const) {
      const { seen, layout } = await pullBack(name);
      expect(await diffLayouts(layout, images.layout(name))).toEqual([]);
      // every layer the namespace did not have yet came from the registry
      expectNewLayersDownloaded(seen, images.manifest(name).layers, have);
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
    const { images } = run();
    const seen = await push('tiny', 'v1');
    expect(uploadedBytes(seen)).toBe(0);
    await expectTagServes(run(), 'tiny', 'v1', images.summary('tiny').digest);
    await expectTagsAfterTaggingTinyV1(run());
  }, STEP_TIMEOUT_MS);

  it('deletes manifests by digest over HTTP (an index, then an image sharing layers with big)', async () => {
    await expectManifestDeletedByDigest(run(), 'multi', run().images.summary('multi').digest);
    await expectBig2DeletedLeavingBigIdentical(run());
  }, STEP_TIMEOUT_MS);
});
