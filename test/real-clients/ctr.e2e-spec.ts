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
 *
 * Every push and pull runs with a non-admin user's `--user user:password`. containerd's
 * authorizer then POSTs to the token endpoint first (OAuth2 `grant_type=password`, client_id
 * containerd-client) and falls back to GET only on an error; with the registry answering the POST
 * properly, no GET to /token happens at all. A pull-only user can pull but not push.
 */
import { Containerd, RunResult } from '../utils/clients';
import { OciLayout, diffLayouts } from '../utils/images';
import { RecordedRequest, TokenRequest, requestedScopes, tokenRequests, uploadedBytes } from '../utils/recording-proxy';
import { expectIdenticalImage, tagsOf } from '../utils/registry-checks';
import type { Login } from '../utils/tokens';
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
  expectReaderPushDenied,
  expectRefused,
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

  const ctrRun = (namespace: string, args: string[], allowFailure = false): Promise<RunResult> => {
    if (!containerd) throw new Error('containerd did not start (see the beforeAll error)');
    return containerd.ctr(namespace, args, { timeoutMs: COMMAND_TIMEOUT_MS, allowFailure });
  };
  const ctr = async (namespace: string, args: string[]): Promise<string> => (await ctrRun(namespace, args)).stdout;
  /** `--user user:password` for ctr images push/pull (the pushing user unless given). */
  const user = (login?: Login): string[] => ['--user', run().creds(login)];
  /** Token requests of a push or pull: containerd's OAuth2 password POSTs, all answered (no GET fallback). */
  const expectPasswordGrants = (seen: readonly RecordedRequest[], login: Login = run().user): TokenRequest[] => {
    const tokens = tokenRequests(seen);
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens.map((t) => `${t.method} ${t.grantType} ${t.clientId} ${t.status}`)).toEqual(tokens.map(() => 'POST password containerd-client 200'));
    expect(seen.filter((r) => r.path === '/token').map((r) => r.form?.get('username'))).toEqual(tokens.map(() => login.user));
    return tokens;
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
  const push = async (name: Name, tag = 'latest'): Promise<RecordedRequest[]> => {
    const { seen } = await run().traffic(() => ctr(NS, ['images', 'push', '--plain-http', ...user(), run().ref(name, tag), local(name)]));
    expectPasswordGrants(seen);
    return seen;
  };
  /** Pulls into the verify namespace (unpacking it) and exports it to an OCI layout to compare byte for byte. */
  const pullBack = async (name: Name): Promise<{ seen: RecordedRequest[]; layout: OciLayout }> => {
    const { ref, sandbox } = run();
    const { seen } = await run().traffic(() => ctr(VERIFY_NS, ['images', 'pull', '--plain-http', ...user(), '--all-platforms', ref(name)]));
    expectPasswordGrants(seen);
    const archive = sandbox.path('out', `pulled-${name}.tar`);
    const dir = sandbox.path('out', `pulled-${name}`);
    await ctr(VERIFY_NS, ['images', 'export', '--all-platforms', archive, ref(name)]);
    await sh('mkdir', ['-p', dir]);
    await sh('tar', ['-C', dir, '-xf', archive]);
    return { seen, layout: new OciLayout(dir) };
  };

  it('pushes tiny and big (imported OCI archives), keeping manifests and blobs byte-identical', async () => {
    const { repo } = run();
    for (const name of ['tiny', 'big'] as const) {
      await importImage(name);
      const seen = await push(name);
      await expectPushedIdentically(run(), name, seen);
      expect(requestedScopes(seen)).toContain(`repository:${repo(name)}:pull,push`);
    }
  }, STEP_TIMEOUT_MS);

  it('after pulling big, pushes big2 by mounting the shared base layer from e2e/ctr/big instead of uploading it', async () => {
    const { images, ref } = run();
    const layers = big2SharedBaseLayers(images);
    await ctr(NS, ['images', 'pull', '--plain-http', ...user(), ref('big')]); // labels the base layer with its source repository
    await importImage('big2');
    const seen = await push('big2');
    await expectBig2PushedIdenticallyWithMountedBase(run(), seen, layers);
    // the token for the mount covered pull on the source repository
    expect(requestedScopes(seen)).toContain(`repository:${run().repo('big')}:pull`);
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
    const { images, direct, repo } = run();
    await importImage('multi');
    await push('multi');
    await expectIdenticalImage(direct, repo('multi'), 'latest', images.layout('multi'));
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

  it('lets a pull-only user pull tiny but refuses its push, and refuses a wrong password', async () => {
    const { reader, ref, repo, direct, images } = run();
    const pulled = await run().traffic(() => ctr('reader', ['images', 'pull', '--plain-http', ...user(reader), ref('tiny')]));
    expectPasswordGrants(pulled.seen, reader);
    expect(pulled.seen.some((r) => r.path === `/v2/${repo('tiny')}/blobs/${images.manifest('tiny').layers[0].digest}` && r.status === 200)).toBe(true);

    const { result, seen } = await run().traffic(() => ctrRun('reader', ['images', 'push', '--plain-http', ...user(reader), ref('reader'), ref('tiny')], true));
    expectRefused(result);
    await expectReaderPushDenied(run(), repo('reader'), seen);
    expectPasswordGrants(seen, reader);
    expect(await tagsOf(direct, repo('reader'))).toEqual([]);

    const wrong = await run().traffic(() =>
      ctrRun('reader', ['images', 'pull', '--plain-http', '--user', `${run().user.user}:not-the-password`, ref('big')], true),
    );
    expectRefused(wrong.result);
    expect(tokenRequests(wrong.seen).map((t) => `${t.method} ${t.grantType ?? ''} ${t.status}`)).toContain('POST password 401');
  }, STEP_TIMEOUT_MS);

  it('deletes manifests by digest over HTTP (an index, then an image sharing layers with big)', async () => {
    await expectManifestDeletedByDigest(run(), 'multi', run().images.summary('multi').digest);
    await expectBig2DeletedLeavingBigIdentical(run());
  }, STEP_TIMEOUT_MS);
});
