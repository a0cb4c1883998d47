/**
 * docker (a private dockerd plus the docker CLI) against the registry: push, cross-repository
 * mount, pull, a manifest list made with `docker manifest`, tags and delete. Images get into the
 * daemon offline with `skopeo copy ... docker-daemon:` (a docker load). dockerd recompresses
 * layers on push, so images are compared by content: the config digest (docker's image ID) must
 * be the original one and every layer the registry serves must gunzip to the original diff_id.
 * The daemon talks to the registry through a recording proxy, which is how the mount of big2's
 * base layer is asserted.
 */
import { Dockerd } from '../utils/clients';
import { TestImageName } from '../utils/images';
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

describeRealClient('docker', 'docker against the registry', (run) => {
  const pushed = new PushedImages();
  let dockerd: Dockerd | undefined;

  beforeAll(async () => {
    dockerd = await run().sandbox.startDockerd([run().proxy.host]);
  }, 3 * 60_000);

  const docker = async (args: string[]): Promise<string> => {
    if (!dockerd) throw new Error('dockerd did not start (see the beforeAll error)');
    // DOCKER_CLI_EXPERIMENTAL: `docker manifest` on older (20.10) CLIs
    const env = { DOCKER_CLI_EXPERIMENTAL: 'enabled' };
    return (await dockerd.docker(args, { timeoutMs: COMMAND_TIMEOUT_MS, env })).stdout.trim();
  };
  /** docker load, offline: skopeo copies the OCI layout into the daemon as `target`. */
  const load = async (name: TestImageName, target: string, platform: string[] = []): Promise<void> => {
    if (!dockerd) throw new Error('dockerd did not start (see the beforeAll error)');
    const source = `oci:${run().images.layout(name).dir}:latest`;
    await run().sandbox.skopeo(['copy', '--quiet', ...platform, '--dest-daemon-host', dockerd.host, source, `docker-daemon:${target}`], {
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
  };
  /** docker push; returns the manifest digest docker reports. */
  const push = async (target: string): Promise<string> => {
    const out = await docker(['push', target]);
    const m = /digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(out);
    if (!m) throw new Error(`docker push ${target} reported no digest:\n${out}`);
    return m[1];
  };
  const inspect = async (image: string): Promise<InspectedImage> => parseImageInspect(await docker(['image', 'inspect', image]), 'docker', image);
  const removeAllImages = async (): Promise<void> => {
    const ids = [...new Set((await docker(['images', '--all', '--quiet', '--no-trunc'])).split('\n').filter(Boolean))];
    if (ids.length > 0) await docker(['image', 'rm', '--force', ...ids]);
    expect(await docker(['images', '--all', '--quiet'])).toBe('');
  };

  it('pushes tiny and big from the daemon (recompressed: same config digest, layers gunzip to the original diff_ids)', async () => {
    const { images, ref } = run();
    for (const name of ['tiny', 'big'] as const) {
      const content = await originalContent(images, name);
      await load(name, ref(name));
      expect((await inspect(ref(name))).id).toBe(content.configDigest);

      const traffic = await run().traffic(() => push(ref(name)));
      await expectPushedSameContent(run(), pushed, name, content, traffic);
    }
  }, STEP_TIMEOUT_MS);

  it('pushes big2 by mounting the base layer it shares with big from e2e/docker/big instead of uploading it', async () => {
    const { ref } = run();
    const content = await big2ContentSharingBigsBase(run(), pushed);
    await load('big2', ref('big2'));

    const traffic = await run().traffic(() => push(ref('big2')));
    await expectBig2PushedSameContentWithMountedBase(run(), pushed, content, traffic);
  }, STEP_TIMEOUT_MS);

  it('pulls tiny, big and big2 back into an emptied daemon', async () => {
    const { repo, ref, proxy } = run();
    await removeAllImages();
    const have = new Set<string>();
    for (const name of ['tiny', 'big', 'big2'] as const) {
      const image = pushed.get(name);
      const { seen } = await run().traffic(() => docker(['pull', '--quiet', ref(name)]));
      const local = await inspect(ref(name));
      expect(local.id).toBe(image.content.configDigest);
      expect(local.repoDigests).toContain(`${proxy.host}/${repo(name)}@${image.digest}`);
      expect(local.layers).toEqual(image.content.diffIds);
      // every layer the daemon did not have yet came from the registry
      expectNewLayersDownloaded(seen, image.manifest.layers, have);
    }
  }, STEP_TIMEOUT_MS);

  it('pushes a manifest list made with docker manifest create/annotate/push and pulls each platform back', async () => {
    const { images, url, repo, ref } = run();
    const originals = await images.layout('multi').contents();
    const tags: string[] = [];
    for (const content of originals) {
      const { os, architecture, variant } = content.platform;
      const tag = ref('multi', architecture);
      await load('multi', tag, ['--override-os', os, '--override-arch', architecture, ...(variant ? ['--override-variant', variant] : [])]);
      expect((await inspect(tag)).id).toBe(content.configDigest);
      await push(tag);
      tags.push(tag);
    }
    await docker(['manifest', 'create', '--insecure', ref('multi'), ...tags]);
    for (const [i, content] of originals.entries()) {
      const { variant } = content.platform;
      if (variant) await docker(['manifest', 'annotate', '--variant', variant, ref('multi'), tags[i]]);
    }
    const out = await docker(['manifest', 'push', '--insecure', '--purge', ref('multi')]);
    const index = await expectSameIndexContent(url, repo('multi'), 'latest', originals);
    expect(out).toContain(index.digest);

    await removeAllImages();
    for (const content of originals) {
      await docker(['pull', '--quiet', '--platform', platformOf(content), ref('multi')]);
      expectLocalPlatformImage(await inspect(ref('multi')), content, content.configDigest);
    }
  }, STEP_TIMEOUT_MS);

  it('tags within a repository without re-uploading and lists tags over HTTP', async () => {
    const { ref } = run();
    const tiny = pushed.get('tiny');
    await docker(['pull', '--quiet', ref('tiny')]);
    await docker(['tag', ref('tiny'), ref('tiny', 'v1')]);
    const { result: digest, seen } = await run().traffic(() => push(ref('tiny', 'v1')));
    expect(digest).toBe(tiny.digest);
    expect(uploadedBytes(seen)).toBe(0);

    await expectTagsAfterTaggingTinyV1(run(), { multi: ['amd64', 'arm64', 'latest'] });
  }, STEP_TIMEOUT_MS);

  it('deletes a manifest by digest over HTTP, leaving the layers big shares with it intact', async () => {
    await expectBig2DeletedLeavingBigSameContent(run(), pushed);
  }, STEP_TIMEOUT_MS);
});
