/**
 * skopeo (containers/image) against the registry: push, cross-repository mount, pull, multi-platform
 * index, tags and delete, all with a non-admin user's credentials (--creds / --src-creds /
 * --dest-creds) through the token flow: containers/image GETs a token from the challenge's realm
 * with Basic credentials for every repository it touches. skopeo keeps manifests and layers
 * byte-identical, so everything is compared with the test images byte for byte. skopeo talks to
 * the registry (and its token endpoint) through the recording proxy, which is how the mount of
 * big2's base layer and the token requests are asserted. A pull-only user can pull but not push.
 */
import { RunResult } from '../utils/clients';
import { OciLayout, diffLayouts } from '../utils/images';
import { requestedScopes, tokenRequests, uploadedBytes } from '../utils/recording-proxy';
import { expectIdenticalImage, fetchManifest, tagsOf } from '../utils/registry-checks';
import {
  COMMAND_TIMEOUT_MS,
  STEP_TIMEOUT_MS,
  big2SharedBaseLayers,
  describeRealClient,
  expectBig2DeletedLeavingBigIdentical,
  expectBig2PushedIdenticallyWithMountedBase,
  expectPushedIdentically,
  expectReaderPushDenied,
  expectRefused,
  expectTagServes,
  expectTagsAfterTaggingTinyV1,
} from '../utils/real-clients';

type Name = 'tiny' | 'big' | 'big2' | 'multi' | 'reader';

describeRealClient('skopeo', 'skopeo against the registry', (run) => {
  const skopeo = (args: string[], allowFailure = false): Promise<RunResult> =>
    run().sandbox.skopeo(args, { timeoutMs: COMMAND_TIMEOUT_MS, allowFailure });
  const docker = (name: Name, tag = 'latest'): string => `docker://${run().ref(name, tag)}`;
  const oci = (name: Exclude<Name, 'reader'>): string => `oci:${run().images.layout(name).dir}:latest`;
  /** Credentials of the pushing user for both ends of a copy (only the docker:// end uses them). */
  const creds = (...flags: ('--src-creds' | '--dest-creds' | '--creds')[]): string[] => flags.map((f) => `${f}=${run().creds()}`);

  it('pushes tiny and big (skopeo copy oci: -> docker://), keeping manifests and blobs byte-identical', async () => {
    const { repo } = run();
    for (const name of ['tiny', 'big'] as const) {
      const { seen } = await run().traffic(() => skopeo(['copy', '--dest-tls-verify=false', ...creds('--dest-creds'), oci(name), docker(name)]));
      await expectPushedIdentically(run(), name, seen);
      // tokens came from the realm on the proxy (GET with Basic credentials), for pull and push on the repository
      const tokens = tokenRequests(seen);
      expect(tokens.length).toBeGreaterThan(0);
      expect(tokens.every((t) => t.method === 'GET' && t.basic && t.status === 200)).toBe(true);
      expect(requestedScopes(seen)).toContain(`repository:${repo(name)}:pull,push`);
      // and every registry request after the first challenge carried a bearer token
      expect(seen.filter((r) => r.path.startsWith('/v2/') && r.status === 401 && r.authScheme === 'bearer')).toEqual([]);
    }
  }, STEP_TIMEOUT_MS);

  it('pushes big2 by mounting the shared base layer from e2e/skopeo/big instead of uploading it', async () => {
    const { repo } = run();
    const layers = big2SharedBaseLayers(run().images);
    const { seen } = await run().traffic(() => skopeo(['copy', '--dest-tls-verify=false', ...creds('--dest-creds'), oci('big2'), docker('big2')]));
    await expectBig2PushedIdenticallyWithMountedBase(run(), seen, layers);
    // the token for the mount covered pull on the source repository
    expect(requestedScopes(seen)).toContain(`repository:${repo('big')}:pull`);
  }, STEP_TIMEOUT_MS);

  it('pulls tiny, big and big2 back (docker:// -> oci:) byte-identically', async () => {
    const { images, sandbox } = run();
    for (const name of ['tiny', 'big', 'big2'] as const) {
      const out = sandbox.path('out', name);
      const { seen } = await run().traffic(() => skopeo(['copy', '--src-tls-verify=false', ...creds('--src-creds'), docker(name), `oci:${out}:latest`]));
      expect(await diffLayouts(new OciLayout(out), images.layout(name))).toEqual([]);
      // the layers really came from the registry
      const layerBytes = images.manifest(name).layers.reduce((n, l) => n + l.size, 0);
      const downloaded = seen.filter((r) => r.method === 'GET' && r.status === 200).reduce((n, r) => n + r.responseBytes, 0);
      expect(downloaded).toBeGreaterThanOrEqual(layerBytes);
    }
  }, STEP_TIMEOUT_MS);

  it('copies the multi-platform index with --all, resolves each platform, and pulls it back byte-identically', async () => {
    const { images, direct, sandbox, repo } = run();
    await skopeo(['copy', '--all', '--dest-tls-verify=false', ...creds('--dest-creds'), oci('multi'), docker('multi')]);
    await expectIdenticalImage(direct, repo('multi'), 'latest', images.layout('multi'));

    // skopeo inspect resolves the index to the platform's image: its layers and architecture
    const inspect = async (platform: string[]): Promise<{ arch: string; layers: string[] }> => {
      const r = await skopeo(['inspect', '--tls-verify=false', ...creds('--creds'), ...platform, docker('multi')]);
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
    await skopeo(['copy', '--all', '--src-tls-verify=false', ...creds('--src-creds'), docker('multi'), `oci:${out}:latest`]);
    expect(await diffLayouts(new OciLayout(out), images.layout('multi'))).toEqual([]);
  }, STEP_TIMEOUT_MS);

  it('tags within a repository without re-uploading and lists tags (HTTP and skopeo list-tags)', async () => {
    const { images, proxy, repo } = run();
    const { seen } = await run().traffic(() =>
      skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', ...creds('--src-creds', '--dest-creds'), docker('tiny'), docker('tiny', 'v1')]),
    );
    expect(uploadedBytes(seen)).toBe(0);
    await expectTagServes(run(), 'tiny', 'v1', images.summary('tiny').digest);
    await expectTagsAfterTaggingTinyV1(run());

    const listed = await skopeo(['list-tags', '--tls-verify=false', ...creds('--creds'), `docker://${proxy.host}/${repo('tiny')}`]);
    const v: unknown = JSON.parse(listed.stdout);
    const tags = typeof v === 'object' && v !== null && 'Tags' in v && Array.isArray(v.Tags) ? v.Tags.map(String) : [];
    expect(tags.sort()).toEqual(['latest', 'v1']);
  }, STEP_TIMEOUT_MS);

  it('lets a pull-only user pull tiny but refuses its push, and refuses a wrong password', async () => {
    const { images, sandbox, reader, repo, direct } = run();
    const out = sandbox.path('out', 'reader-tiny');
    await skopeo(['copy', '--src-tls-verify=false', `--src-creds=${run().creds(reader)}`, docker('tiny'), `oci:${out}:latest`]);
    expect(await diffLayouts(new OciLayout(out), images.layout('tiny'))).toEqual([]);

    const { result, seen } = await run().traffic(() =>
      skopeo(['copy', '--dest-tls-verify=false', `--dest-creds=${run().creds(reader)}`, oci('tiny'), docker('reader')], true),
    );
    expectRefused(result);
    await expectReaderPushDenied(run(), repo('reader'), seen);
    // the token endpoint granted reader pull only (a missing permission is not an error there)
    expect(tokenRequests(seen).every((t) => t.status === 200)).toBe(true);
    expect(await tagsOf(direct, repo('reader'))).toEqual([]);

    const wrong = await run().traffic(() =>
      skopeo(['inspect', '--tls-verify=false', `--creds=${run().user.user}:not-the-password`, docker('tiny')], true),
    );
    expectRefused(wrong.result);
    expect(tokenRequests(wrong.seen).map((t) => `${t.method} ${t.status}`)).toContain('GET 401');
  }, STEP_TIMEOUT_MS);

  it('deletes manifests by digest (skopeo delete and HTTP DELETE), leaving shared layers of other images intact', async () => {
    const { images, direct, repo } = run();
    const tiny = images.summary('tiny').digest;
    const { seen } = await run().traffic(() => skopeo(['delete', '--tls-verify=false', ...creds('--creds'), docker('tiny', 'v1')]));
    const deletes = seen.filter((r) => r.method === 'DELETE').map((r) => `${r.path} -> ${r.status}`);
    expect(deletes).toEqual([`/v2/${repo('tiny')}/manifests/${tiny} -> 202`]);
    for (const reference of [tiny, 'latest', 'v1']) expect((await fetchManifest(direct, repo('tiny'), reference)).status).toBe(404);
    expect(await tagsOf(direct, repo('tiny'))).toEqual([]);

    await expectBig2DeletedLeavingBigIdentical(run());
  }, STEP_TIMEOUT_MS);
});
