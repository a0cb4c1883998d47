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
import { ImageContent } from '../utils/images';
import { completedUploads, downloadedBlobBytes, expectMountedNotUploaded, uploadedBytes } from '../utils/recording-proxy';
import { ServedImage, deleteManifest, expectSameContent, expectSameIndexContent, fetchManifest, tagsOf } from '../utils/registry-checks';
import { COMMAND_TIMEOUT_MS, STEP_TIMEOUT_MS, describeRealClient } from '../utils/real-clients';

type Name = 'tiny' | 'big' | 'big2' | 'multi';

interface DockerImage {
  id: string;
  architecture: string;
  repoDigests: string[];
  layers: string[];
}

describeRealClient('docker', 'docker against the registry', (run) => {
  const served = new Map<Name, ServedImage>();
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
  const original = async (name: Exclude<Name, 'multi'>): Promise<ImageContent> => (await run().images.layout(name).contents())[0];
  const pushed = (name: Name): ServedImage => {
    const image = served.get(name);
    if (!image) throw new Error(`${name} was not pushed (an earlier test failed)`);
    return image;
  };
  /** docker load, offline: skopeo copies the OCI layout into the daemon as `target`. */
  const load = async (name: Name, target: string, platform: string[] = []): Promise<void> => {
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
  const inspect = async (image: string): Promise<DockerImage> => {
    const v: unknown = JSON.parse(await docker(['image', 'inspect', image]));
    const first: unknown = Array.isArray(v) ? v[0] : undefined;
    if (typeof first !== 'object' || first === null || !('Id' in first) || !('RootFS' in first)) {
      throw new Error(`unexpected docker image inspect output for ${image}`);
    }
    const rootfs = first.RootFS;
    const layers = typeof rootfs === 'object' && rootfs !== null && 'Layers' in rootfs && Array.isArray(rootfs.Layers) ? rootfs.Layers : [];
    const repoDigests = 'RepoDigests' in first && Array.isArray(first.RepoDigests) ? first.RepoDigests : [];
    return {
      id: String(first.Id),
      architecture: 'Architecture' in first ? String(first.Architecture) : '',
      repoDigests: repoDigests.map(String),
      layers: layers.map(String),
    };
  };
  const removeAllImages = async (): Promise<void> => {
    const ids = [...new Set((await docker(['images', '--all', '--quiet', '--no-trunc'])).split('\n').filter(Boolean))];
    if (ids.length > 0) await docker(['image', 'rm', '--force', ...ids]);
    expect(await docker(['images', '--all', '--quiet'])).toBe('');
  };

  it('pushes tiny and big from the daemon (recompressed: same config digest, layers gunzip to the original diff_ids)', async () => {
    const { url, repo, ref } = run();
    for (const name of ['tiny', 'big'] as const) {
      const content = await original(name);
      await load(name, ref(name));
      expect((await inspect(ref(name))).id).toBe(content.configDigest);

      const { result: digest, seen } = await run().traffic(() => push(ref(name)));
      const image = await expectSameContent(url, repo(name), 'latest', content);
      expect(image.digest).toBe(digest);
      const uploaded = completedUploads(seen, repo(name));
      for (const layer of image.manifest.layers) expect(uploaded.has(layer.digest)).toBe(true);
      served.set(name, image);
    }
  }, STEP_TIMEOUT_MS);

  it('pushes big2 by mounting the base layer it shares with big from e2e/docker/big instead of uploading it', async () => {
    const { url, repo, ref } = run();
    const big = pushed('big');
    const content = await original('big2');
    expect(content.diffIds[0]).toBe(big.content.diffIds[0]); // the fixture's premise
    await load('big2', ref('big2'));

    const { result: digest, seen } = await run().traffic(() => push(ref('big2')));
    const image = await expectSameContent(url, repo('big2'), 'latest', content);
    expect(image.digest).toBe(digest);
    // the same compressed base blob as in big, and it arrived by mount, not upload
    const base = big.manifest.layers[0];
    expect(image.manifest.layers[0].digest).toBe(base.digest);
    expectMountedNotUploaded(seen, { repo: repo('big2'), from: repo('big'), digest: base.digest, size: base.size });
    expect(completedUploads(seen, repo('big2')).has(image.manifest.layers[1].digest)).toBe(true);
    served.set('big2', image);
  }, STEP_TIMEOUT_MS);

  it('pulls tiny, big and big2 back into an emptied daemon', async () => {
    const { repo, ref, proxy } = run();
    await removeAllImages();
    const have = new Set<string>();
    for (const name of ['tiny', 'big', 'big2'] as const) {
      const image = pushed(name);
      const { seen } = await run().traffic(() => docker(['pull', '--quiet', ref(name)]));
      const local = await inspect(ref(name));
      expect(local.id).toBe(image.content.configDigest);
      expect(local.repoDigests).toContain(`${proxy.host}/${repo(name)}@${image.digest}`);
      expect(local.layers).toEqual(image.content.diffIds);
      // every layer the daemon did not have yet came from the registry
      for (const layer of image.manifest.layers.filter((l) => !have.has(l.digest))) {
        expect(downloadedBlobBytes(seen, layer.digest)).toBeGreaterThanOrEqual(layer.size);
        have.add(layer.digest);
      }
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
      const { os, architecture, variant } = content.platform;
      await docker(['pull', '--quiet', '--platform', [os, architecture, variant].filter(Boolean).join('/'), ref('multi')]);
      const local = await inspect(ref('multi'));
      expect(local).toMatchObject({ id: content.configDigest, architecture });
      expect(local.layers).toEqual(content.diffIds);
    }
  }, STEP_TIMEOUT_MS);

  it('tags within a repository without re-uploading and lists tags over HTTP', async () => {
    const { url, repo, ref } = run();
    const tiny = pushed('tiny');
    await docker(['pull', '--quiet', ref('tiny')]);
    await docker(['tag', ref('tiny'), ref('tiny', 'v1')]);
    const { result: digest, seen } = await run().traffic(() => push(ref('tiny', 'v1')));
    expect(digest).toBe(tiny.digest);
    expect(uploadedBytes(seen)).toBe(0);

    expect(await tagsOf(url, repo('tiny'))).toEqual(['latest', 'v1']);
    expect(await tagsOf(url, repo('multi'))).toEqual(['amd64', 'arm64', 'latest']);
    for (const name of ['big', 'big2'] as const) expect(await tagsOf(url, repo(name))).toEqual(['latest']);
  }, STEP_TIMEOUT_MS);

  it('deletes a manifest by digest over HTTP, leaving the layers big shares with it intact', async () => {
    const { url, repo } = run();
    const big2 = pushed('big2');
    const big = pushed('big');
    expect(await deleteManifest(url, repo('big2'), big2.digest)).toBe(202);
    expect((await fetchManifest(url, repo('big2'), big2.digest)).status).toBe(404);
    expect((await fetchManifest(url, repo('big2'), 'latest')).status).toBe(404);
    expect(await tagsOf(url, repo('big2'))).toEqual([]);

    // big shares its base layer with the deleted big2: every blob of it is still served intact
    const again = await expectSameContent(url, repo('big'), 'latest', big.content);
    expect(again.digest).toBe(big.digest);
  }, STEP_TIMEOUT_MS);
});
