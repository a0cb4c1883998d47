/**
 * skopeo (containers/image) against the registry: push, cross-repository mount, pull, multi-platform
 * index, tags and delete. skopeo keeps manifests and layers byte-identical, so everything is
 * compared with the test images byte for byte. skopeo talks to the registry through the recording
 * proxy, which is how the mount of big2's base layer is asserted.
 */
import { RunResult } from '../utils/clients';
import { OciLayout, diffLayouts } from '../utils/images';
import { uploadedBytes } from '../utils/recording-proxy';
import { expectIdenticalImage, fetchManifest, tagsOf } from '../utils/registry-checks';
import {
  COMMAND_TIMEOUT_MS,
  STEP_TIMEOUT_MS,
  big2SharedBaseLayers,
  describeRealClient,
  expectBig2DeletedLeavingBigIdentical,
  expectBig2PushedIdenticallyWithMountedBase,
  expectPushedIdentically,
  expectTagServes,
  expectTagsAfterTaggingTinyV1,
} from '../utils/real-clients';

type Name = 'tiny' | 'big' | 'big2' | 'multi';

describeRealClient('skopeo', 'skopeo against the registry', (run) => {
  const skopeo = (args: string[]): Promise<RunResult> => run().sandbox.skopeo(args, { timeoutMs: COMMAND_TIMEOUT_MS });
  const docker = (name: Name, tag = 'latest'): string => `docker://${run().ref(name, tag)}`;
  const oci = (name: Name): string => `oci:${run().images.layout(name).dir}:latest`;

  it('pushes tiny and big (skopeo copy oci: -> docker://), keeping manifests and blobs byte-identical', async () => {
    for (const name of ['tiny', 'big'] as const) {
      const { seen } = await run().traffic(() => skopeo(['copy', '--dest-tls-verify=false', oci(name), docker(name)]));
      await expectPushedIdentically(run(), name, seen);
    }
  }, STEP_TIMEOUT_MS);

  it('pushes big2 by mounting the shared base layer from e2e/skopeo/big instead of uploading it', async () => {
    const layers = big2SharedBaseLayers(run().images);
    const { seen } = await run().traffic(() => skopeo(['copy', '--dest-tls-verify=false', oci('big2'), docker('big2')]));
    await expectBig2PushedIdenticallyWithMountedBase(run(), seen, layers);
  }, STEP_TIMEOUT_MS);

  it('pulls tiny, big and big2 back (docker:// -> oci:) byte-identically', async () => {
    const { images, sandbox } = run();
    for (const name of ['tiny', 'big', 'big2'] as const) {
      const out = sandbox.path('out', name);
      const { seen } = await run().traffic(() => skopeo(['copy', '--src-tls-verify=false', docker(name), `oci:${out}:latest`]));
      expect(await diffLayouts(new OciLayout(out), images.layout(name))).toEqual([]);
      // the layers really came from the registry
      const layerBytes = images.manifest(name).layers.reduce((n, l) => n + l.size, 0);
      const downloaded = seen.filter((r) => r.method === 'GET' && r.status === 200).reduce((n, r) => n + r.responseBytes, 0);
      expect(downloaded).toBeGreaterThanOrEqual(layerBytes);
    }
  }, STEP_TIMEOUT_MS);

  it('copies the multi-platform index with --all, resolves each platform, and pulls it back byte-identically', async () => {
    const { images, url, sandbox, repo } = run();
    await skopeo(['copy', '--all', '--dest-tls-verify=false', oci('multi'), docker('multi')]);
    await expectIdenticalImage(url, repo('multi'), 'latest', images.layout('multi'));

    // skopeo inspect resolves the index to the platform's image: its layers and architecture
    const inspect = async (platform: string[]): Promise<{ arch: string; layers: string[] }> => {
      const r = await skopeo(['inspect', '--tls-verify=false', ...platform, docker('multi')]);
      const v: unknown = JSON.parse(r.stdout);
      if (typeof v !== 'object' || v === null || !('Layers' in v) || !Array.isArray(v.Layers) || !('Architecture' in v)) {
        throw new Error(`unexpected skopeo inspect output: ${r.stdout}`);
      }
      return { arch: String(v.Architecture), layers: v.Layers.map(String) };
    };
    const [amd64, arm64] = images.summary('multi').manifests;
    expect(await inspect(['--override-os', 'linux', '--override-arch', 'amd64'])).toEqual({
      arch: 'amd64',
      layers: amd64.layers.map((l) => l.digest),
    });
    expect(await inspect(['--override-os', 'linux', '--override-arch', 'arm64', '--override-variant', 'v8'])).toEqual({
      arch: 'arm64',
      layers: arm64.layers.map((l) => l.digest),
    });

    const out = sandbox.path('out', 'multi');
    await skopeo(['copy', '--all', '--src-tls-verify=false', docker('multi'), `oci:${out}:latest`]);
    expect(await diffLayouts(new OciLayout(out), images.layout('multi'))).toEqual([]);
  }, STEP_TIMEOUT_MS);

  it('tags within a repository without re-uploading and lists tags (HTTP and skopeo list-tags)', async () => {
    const { images, proxy, repo } = run();
    const { seen } = await run().traffic(() =>
      skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', docker('tiny'), docker('tiny', 'v1')]),
    );
    expect(uploadedBytes(seen)).toBe(0);
    await expectTagServes(run(), 'tiny', 'v1', images.summary('tiny').digest);
    await expectTagsAfterTaggingTinyV1(run());

    const listed = await skopeo(['list-tags', '--tls-verify=false', `docker://${proxy.host}/${repo('tiny')}`]);
    const v: unknown = JSON.parse(listed.stdout);
    const tags = typeof v === 'object' && v !== null && 'Tags' in v && Array.isArray(v.Tags) ? v.Tags.map(String) : [];
    expect(tags.sort()).toEqual(['latest', 'v1']);
  }, STEP_TIMEOUT_MS);

  it('deletes manifests by digest (skopeo delete and HTTP DELETE), leaving shared layers of other images intact', async () => {
    const { images, url, repo } = run();
    const tiny = images.summary('tiny').digest;
    const { seen } = await run().traffic(() => skopeo(['delete', '--tls-verify=false', docker('tiny', 'v1')]));
    const deletes = seen.filter((r) => r.method === 'DELETE').map((r) => `${r.path} -> ${r.status}`);
    expect(deletes).toEqual([`/v2/${repo('tiny')}/manifests/${tiny} -> 202`]);
    for (const reference of [tiny, 'latest', 'v1']) expect((await fetchManifest(url, repo('tiny'), reference)).status).toBe(404);
    expect(await tagsOf(url, repo('tiny'))).toEqual([]);

    await expectBig2DeletedLeavingBigIdentical(run());
  }, STEP_TIMEOUT_MS);
});
