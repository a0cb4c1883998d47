/**
 * podman against the registry: `podman login` (a private --authfile) as a non-admin user, then
 * push from podman's own storage, cross-repository mount, pull, a manifest list built with
 * `podman manifest`, tags and delete, every registry access through the token flow (containers/
 * image GETs a token with the stored Basic credentials). podman recompresses layers on push (new
 * manifest digests), so images are compared by content: the config digest must be the original
 * one and every layer the registry serves must gunzip to the original diff_id. podman talks to the
 * registry (and its token endpoint) through the recording proxy, which is how the mount of big2's
 * base layer and the token requests are asserted. A pull-only user can pull but not push.
 */
import * as fs from 'node:fs';
import { RunResult } from '../utils/clients';
import { RecordedRequest, requestedScopes, tokenRequests, uploadedBytes } from '../utils/recording-proxy';
import { expectSameIndexContent, tagsOf } from '../utils/registry-checks';
import type { Login } from '../utils/tokens';
import {
  COMMAND_TIMEOUT_MS,
  InspectedImage,
  PushedImages,
  STEP_TIMEOUT_MS,
  big2ContentSharingBigsBase,
  describeRealClient,
  expectBig2DeletedLeavingBigSameContent,
  expectBig2PushedSameContentWithMountedBase,
  expectLocalPlatformImage,
  expectNewLayersDownloaded,
  expectPushedSameContent,
  expectReaderPushDenied,
  expectRefused,
  expectTagsAfterTaggingTinyV1,
  originalContent,
  parseImageInspect,
  platformOf,
} from '../utils/real-clients';

describeRealClient('podman', 'podman against the registry', (run) => {
  const pushed = new PushedImages();
  let pushes = 0;

  const podman = async (args: string[]): Promise<string> =>
    (await run().sandbox.podman(args, { timeoutMs: COMMAND_TIMEOUT_MS })).stdout.trim();
  /** The pushing user's auth file (also the sandbox's REGISTRY_AUTH_FILE; given explicitly all the same). */
  const authfile = (): string => run().sandbox.path('auth.json');
  const readerAuthfile = (): string => run().sandbox.path('reader-auth.json');
  /** `podman push` / `podman manifest push` (the `command`); returns the digest podman reports. */
  const push = async (command: string[], image: string, destination: string): Promise<string> => {
    const digestFile = run().sandbox.path('out', `digest-${++pushes}`);
    await podman([...command, '--tls-verify=false', '--authfile', authfile(), '--digestfile', digestFile, image, `docker://${destination}`]);
    return fs.readFileSync(digestFile, 'utf8').trim();
  };
  /** `podman pull` from the registry as the pushing user; returns the image ID. */
  const pull = (ref: string, more: string[] = []): Promise<string> => podman(['pull', '-q', '--tls-verify=false', '--authfile', authfile(), ...more, ref]);
  const inspect = async (image: string): Promise<InspectedImage> => parseImageInspect(await podman(['image', 'inspect', image]), 'podman', image);
  const login = async (who: Login, file: string, allowFailure = false): Promise<{ result: RunResult; seen: RecordedRequest[] }> =>
    run().traffic(() =>
      run().sandbox.podman(['login', '--tls-verify=false', '--authfile', file, '--username', who.user, '--password', who.password, run().proxy.host], {
        timeoutMs: COMMAND_TIMEOUT_MS,
        allowFailure,
      }),
    );
  /** The credentials an auth file holds for the registry (through the proxy), decoded. */
  const storedLogin = (file: string): string | undefined => {
    const v: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    const auths = typeof v === 'object' && v !== null && 'auths' in v && typeof v.auths === 'object' && v.auths !== null ? (v.auths as Record<string, { auth?: string }>) : {};
    const auth = auths[run().proxy.host]?.auth;
    return auth === undefined ? undefined : Buffer.from(auth, 'base64').toString('utf8');
  };

  it('logs in with podman login (the token endpoint checks the password), refusing a wrong one', async () => {
    const { user, creds } = run();
    const wrong = await login({ user: user.user, password: 'not-the-password' }, authfile(), true);
    expectRefused(wrong.result);
    expect(tokenRequests(wrong.seen).map((t) => `${t.method} ${t.status}`)).toEqual(['GET 401']);
    expect(storedLogin(authfile())).toBeUndefined();

    const { seen } = await login(user, authfile());
    // ping, token from the realm on the proxy with Basic credentials, ping again with the token
    expect(tokenRequests(seen).map((t) => ({ method: t.method, basic: t.basic, status: t.status }))).toEqual([{ method: 'GET', basic: true, status: 200 }]);
    expect(seen.filter((r) => r.path === '/v2/').map((r) => `${r.authScheme ?? 'none'} ${r.status}`)).toEqual(['none 401', 'bearer 200']);
    expect(storedLogin(authfile())).toBe(creds(user));
  }, STEP_TIMEOUT_MS);

  it('pushes tiny and big from podman storage (recompressed: same config digest, layers gunzip to the original diff_ids)', async () => {
    const { images, ref } = run();
    for (const name of ['tiny', 'big'] as const) {
      const content = await originalContent(images, name);
      const id = await podman(['pull', '-q', `oci:${images.layout(name).dir}:latest`]);
      expect(`sha256:${id}`).toBe(content.configDigest);

      const traffic = await run().traffic(() => push(['push'], id, ref(name)));
      await expectPushedSameContent(run(), pushed, name, content, traffic);
      const tokens = tokenRequests(traffic.seen);
      expect(tokens.every((t) => t.method === 'GET' && t.basic && t.status === 200)).toBe(true);
      expect(requestedScopes(traffic.seen)).toContain(`repository:${run().repo(name)}:pull,push`);
    }
  }, STEP_TIMEOUT_MS);

  it('pushes big2 by mounting the base layer it shares with big from e2e/podman/big instead of uploading it', async () => {
    const { images, ref } = run();
    const content = await big2ContentSharingBigsBase(run(), pushed);
    const id = await podman(['pull', '-q', `oci:${images.layout('big2').dir}:latest`]);

    const traffic = await run().traffic(() => push(['push'], id, ref('big2')));
    await expectBig2PushedSameContentWithMountedBase(run(), pushed, content, traffic);
    // the token for the mount covered pull on the source repository
    expect(requestedScopes(traffic.seen)).toContain(`repository:${run().repo('big')}:pull`);
  }, STEP_TIMEOUT_MS);

  it('pulls tiny, big and big2 back into an emptied store', async () => {
    const { ref } = run();
    await podman(['rmi', '--all', '--force']);
    expect(await podman(['images', '--all', '--quiet'])).toBe('');
    const have = new Set<string>();
    for (const name of ['tiny', 'big', 'big2'] as const) {
      const image = pushed.get(name);
      const { seen } = await run().traffic(() => pull(ref(name)));
      const local = await inspect(ref(name));
      expect(local).toMatchObject({ id: image.content.configDigest.slice('sha256:'.length), digest: image.digest });
      expect(local.layers).toEqual(image.content.diffIds);
      // every layer podman did not have yet came from the registry
      expectNewLayersDownloaded(seen, image.manifest.layers, have);
    }
  }, STEP_TIMEOUT_MS);

  it('pushes a manifest list built with podman manifest (--all) and pulls each platform back', async () => {
    const { images, direct, repo, ref } = run();
    const originals = await images.layout('multi').contents();
    const list = 'e2e-multi-list';
    await podman(['manifest', 'create', list]);
    for (const content of originals) {
      const id = await podman(['pull', '-q', '--platform', platformOf(content), `oci:${images.layout('multi').dir}:latest`]);
      expect(`sha256:${id}`).toBe(content.configDigest);
      const { variant } = content.platform;
      await podman(['manifest', 'add', ...(variant ? ['--variant', variant] : []), list, `containers-storage:${id}`]);
    }
    const digest = await push(['manifest', 'push', '--all'], list, ref('multi'));
    const index = await expectSameIndexContent(direct, repo('multi'), 'latest', originals);
    expect(index.digest).toBe(digest);

    await podman(['rmi', '--all', '--force']);
    for (const content of originals) {
      await pull(ref('multi'), ['--platform', platformOf(content)]);
      expectLocalPlatformImage(await inspect(ref('multi')), content, content.configDigest.slice('sha256:'.length));
    }
  }, STEP_TIMEOUT_MS);

  it('tags within a repository without re-uploading and lists tags (HTTP and podman search --list-tags)', async () => {
    const { repo, ref, proxy } = run();
    const tiny = pushed.get('tiny');
    const id = await pull(ref('tiny'));
    const { result: digest, seen } = await run().traffic(() => push(['push'], id, ref('tiny', 'v1')));
    expect(digest).toBe(tiny.digest);
    expect(uploadedBytes(seen)).toBe(0);

    await expectTagsAfterTaggingTinyV1(run());

    const listed: unknown = JSON.parse(
      await podman(['search', '--list-tags', '--tls-verify=false', '--authfile', authfile(), '--format', 'json', `${proxy.host}/${repo('tiny')}`]),
    );
    const entry: unknown = Array.isArray(listed) ? listed[0] : undefined;
    const tags = typeof entry === 'object' && entry !== null && 'Tags' in entry && Array.isArray(entry.Tags) ? entry.Tags : [];
    expect(tags.map(String).sort()).toEqual(['latest', 'v1']);
  }, STEP_TIMEOUT_MS);

  it('lets a pull-only user (podman login with its own auth file) pull tiny but refuses its push', async () => {
    const { reader, repo, ref, direct, creds } = run();
    const tiny = pushed.get('tiny');
    await login(reader, readerAuthfile());
    expect(storedLogin(readerAuthfile())).toBe(creds(reader));
    await podman(['rmi', '--all', '--force']);
    const id = await podman(['pull', '-q', '--tls-verify=false', '--authfile', readerAuthfile(), ref('tiny')]);
    expect(`sha256:${id}`).toBe(tiny.content.configDigest);

    const { result, seen } = await run().traffic(() =>
      run().sandbox.podman(['push', '--tls-verify=false', '--authfile', readerAuthfile(), id, `docker://${ref('reader')}`], {
        timeoutMs: COMMAND_TIMEOUT_MS,
        allowFailure: true,
      }),
    );
    expectRefused(result);
    await expectReaderPushDenied(run(), repo('reader'), seen);
    expect(await tagsOf(direct, repo('reader'))).toEqual([]);
  }, STEP_TIMEOUT_MS);

  it('deletes a manifest by digest over HTTP, leaving the layers big shares with it intact', async () => {
    await expectBig2DeletedLeavingBigSameContent(run(), pushed);
  }, STEP_TIMEOUT_MS);
});
