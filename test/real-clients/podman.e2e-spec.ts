/**
 * podman against the registry: push from podman's own storage, cross-repository mount, pull, a
 * manifest list built with `podman manifest`, tags and delete. podman recompresses layers on push
 * (new manifest digests), so images are compared by content: the config digest must be the
 * original one and every layer the registry serves must gunzip to the original diff_id. podman
 * talks to the registry through the recording proxy, which is how the mount of big2's base layer
 * is asserted.
 */
import * as fs from 'node:fs';
import { uploadedBytes } from '../utils/recording-proxy';
import { expectSameIndexContent } from '../utils/registry-checks';
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
  /** `podman push` / `podman manifest push` (the `command`); returns the digest podman reports. */
  const push = async (command: string[], image: string, destination: string): Promise<string> => {
    const digestFile = run().sandbox.path('out', `digest-${++pushes}`);
    await podman([...command, '--tls-verify=false', '--digestfile', digestFile, image, `docker://${destination}`]);
    return fs.readFileSync(digestFile, 'utf8').trim();
  };
  const inspect = async (image: string): Promise<InspectedImage> => parseImageInspect(await podman(['image', 'inspect', image]), 'podman', image);

  it('pushes tiny and big from podman storage (recompressed: same config digest, layers gunzip to the original diff_ids)', async () => {
    const { images, ref } = run();
    for (const name of ['tiny', 'big'] as const) {
      const content = await originalContent(images, name);
      const id = await podman(['pull', '-q', `oci:${images.layout(name).dir}:latest`]);
      expect(`sha256:${id}`).toBe(content.configDigest);

      const traffic = await run().traffic(() => push(['push'], id, ref(name)));
      await expectPushedSameContent(run(), pushed, name, content, traffic);
    }
  }, STEP_TIMEOUT_MS);

  it('pushes big2 by mounting the base layer it shares with big from e2e/podman/big instead of uploading it', async () => {
    const { images, ref } = run();
    const content = await big2ContentSharingBigsBase(run(), pushed);
    const id = await podman(['pull', '-q', `oci:${images.layout('big2').dir}:latest`]);

    const traffic = await run().traffic(() => push(['push'], id, ref('big2')));
    await expectBig2PushedSameContentWithMountedBase(run(), pushed, content, traffic);
  }, STEP_TIMEOUT_MS);

  it('pulls tiny, big and big2 back into an emptied store', async () => {
    const { ref } = run();
    await podman(['rmi', '--all', '--force']);
    expect(await podman(['images', '--all', '--quiet'])).toBe('');
    const have = new Set<string>();
    for (const name of ['tiny', 'big', 'big2'] as const) {
      const image = pushed.get(name);
      const { seen } = await run().traffic(() => podman(['pull', '-q', '--tls-verify=false', ref(name)]));
      const local = await inspect(ref(name));
      expect(local).toMatchObject({ id: image.content.configDigest.slice('sha256:'.length), digest: image.digest });
      expect(local.layers).toEqual(image.content.diffIds);
      // every layer podman did not have yet came from the registry
      expectNewLayersDownloaded(seen, image.manifest.layers, have);
    }
  }, STEP_TIMEOUT_MS);

  it('pushes a manifest list built with podman manifest (--all) and pulls each platform back', async () => {
    const { images, url, repo, ref } = run();
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
    const index = await expectSameIndexContent(url, repo('multi'), 'latest', originals);
    expect(index.digest).toBe(digest);

    await podman(['rmi', '--all', '--force']);
    for (const content of originals) {
      await podman(['pull', '-q', '--tls-verify=false', '--platform', platformOf(content), ref('multi')]);
      expectLocalPlatformImage(await inspect(ref('multi')), content, content.configDigest.slice('sha256:'.length));
    }
  }, STEP_TIMEOUT_MS);

  it('tags within a repository without re-uploading and lists tags (HTTP and podman search --list-tags)', async () => {
    const { repo, ref, proxy } = run();
    const tiny = pushed.get('tiny');
    const id = await podman(['pull', '-q', '--tls-verify=false', ref('tiny')]);
    const { result: digest, seen } = await run().traffic(() => push(['push'], id, ref('tiny', 'v1')));
    expect(digest).toBe(tiny.digest);
    expect(uploadedBytes(seen)).toBe(0);

    await expectTagsAfterTaggingTinyV1(run());

    const listed: unknown = JSON.parse(
      await podman(['search', '--list-tags', '--tls-verify=false', '--format', 'json', `${proxy.host}/${repo('tiny')}`]),
    );
    const entry: unknown = Array.isArray(listed) ? listed[0] : undefined;
    const tags = typeof entry === 'object' && entry !== null && 'Tags' in entry && Array.isArray(entry.Tags) ? entry.Tags : [];
    expect(tags.map(String).sort()).toEqual(['latest', 'v1']);
  }, STEP_TIMEOUT_MS);

  it('deletes a manifest by digest over HTTP, leaving the layers big shares with it intact', async () => {
    await expectBig2DeletedLeavingBigSameContent(run(), pushed);
  }, STEP_TIMEOUT_MS);
});
