/**
 * podman against the registry: push from podman's own storage, cross-repository mount, pull, a
 * manifest list built with `podman manifest`, tags and delete. podman recompresses layers on push
 * (new manifest digests), so images are compared by content: the config digest must be the
 * original one and every layer the registry serves must gunzip to the original diff_id. podman
 * talks to the registry through the recording proxy, which is how the mount of big2's base layer
 * is asserted.
 */
import * as fs from 'node:fs';
import { ImageContent } from '../utils/images';
import { completedUploads, downloadedBlobBytes, expectMountedNotUploaded, uploadedBytes } from '../utils/recording-proxy';
import { ServedImage, deleteManifest, expectSameContent, expectSameIndexContent, fetchManifest, tagsOf } from '../utils/registry-checks';
import { COMMAND_TIMEOUT_MS, STEP_TIMEOUT_MS, describeRealClient } from '../utils/real-clients';

type Name = 'tiny' | 'big' | 'big2' | 'multi';

interface PodmanImage {
  id: string;
  digest: string;
  architecture: string;
  layers: string[];
}

describeRealClient('podman', 'podman against the registry', (run) => {
  const served = new Map<Name, ServedImage>();
  let pushes = 0;

  const podman = async (args: string[]): Promise<string> =>
    (await run().sandbox.podman(args, { timeoutMs: COMMAND_TIMEOUT_MS })).stdout.trim();
  const original = async (name: Exclude<Name, 'multi'>): Promise<ImageContent> => (await run().images.layout(name).contents())[0];
  const pushed = (name: Name): ServedImage => {
    const image = served.get(name);
    if (!image) throw new Error(`${name} was not pushed (an earlier test failed)`);
    return image;
  };
  /** `podman push` / `podman manifest push` (the `command`); returns the digest podman reports. */
  const push = async (command: string[], image: string, destination: string): Promise<string> => {
    const digestFile = run().sandbox.path('out', `digest-${++pushes}`);
    await podman([...command, '--tls-verify=false', '--digestfile', digestFile, image, `docker://${destination}`]);
    return fs.readFileSync(digestFile, 'utf8').trim();
  };
  const platformOf = ({ platform: p }: ImageContent): string => [p.os, p.architecture, p.variant].filter(Boolean).join('/');
  const inspect = async (image: string): Promise<PodmanImage> => {
    const v: unknown = JSON.parse(await podman(['image', 'inspect', image]));
    const first: unknown = Array.isArray(v) ? v[0] : undefined;
    if (typeof first !== 'object' || first === null || !('Id' in first) || !('RootFS' in first)) {
      throw new Error(`unexpected podman image inspect output for ${image}`);
    }
    const rootfs = first.RootFS;
    const layers = typeof rootfs === 'object' && rootfs !== null && 'Layers' in rootfs && Array.isArray(rootfs.Layers) ? rootfs.Layers : [];
    return {
      id: String(first.Id),
      digest: 'Digest' in first ? String(first.Digest) : '',
      architecture: 'Architecture' in first ? String(first.Architecture) : '',
      layers: layers.map(String),
    };
  };

  it('pushes tiny and big from podman storage (recompressed: same config digest, layers gunzip to the original diff_ids)', async () => {
    const { images, url, repo, ref } = run();
    for (const name of ['tiny', 'big'] as const) {
      const content = await original(name);
      const id = await podman(['pull', '-q', `oci:${images.layout(name).dir}:latest`]);
      expect(`sha256:${id}`).toBe(content.configDigest);

      const { result: digest, seen } = await run().traffic(() => push(['push'], id, ref(name)));
      const image = await expectSameContent(url, repo(name), 'latest', content);
      expect(image.digest).toBe(digest);
      const uploaded = completedUploads(seen, repo(name));
      for (const layer of image.manifest.layers) expect(uploaded.has(layer.digest)).toBe(true);
      served.set(name, image);
    }
  }, STEP_TIMEOUT_MS);

  it('pushes big2 by mounting the base layer it shares with big from e2e/podman/big instead of uploading it', async () => {
    const { images, url, repo, ref } = run();
    const big = pushed('big');
    const content = await original('big2');
    expect(content.diffIds[0]).toBe(big.content.diffIds[0]); // the fixture's premise
    const id = await podman(['pull', '-q', `oci:${images.layout('big2').dir}:latest`]);

    const { result: digest, seen } = await run().traffic(() => push(['push'], id, ref('big2')));
    const image = await expectSameContent(url, repo('big2'), 'latest', content);
    expect(image.digest).toBe(digest);
    // the same compressed base blob as in big, and it arrived by mount, not upload
    const base = big.manifest.layers[0];
    expect(image.manifest.layers[0].digest).toBe(base.digest);
    expectMountedNotUploaded(seen, { repo: repo('big2'), from: repo('big'), digest: base.digest, size: base.size });
    expect(completedUploads(seen, repo('big2')).has(image.manifest.layers[1].digest)).toBe(true);
    served.set('big2', image);
  }, STEP_TIMEOUT_MS);

  it('pulls tiny, big and big2 back into an emptied store', async () => {
    const { ref } = run();
    await podman(['rmi', '--all', '--force']);
    expect(await podman(['images', '--all', '--quiet'])).toBe('');
    const have = new Set<string>();
    for (const name of ['tiny', 'big', 'big2'] as const) {
      const image = pushed(name);
      const { seen } = await run().traffic(() => podman(['pull', '-q', '--tls-verify=false', ref(name)]));
      const local = await inspect(ref(name));
      expect(local).toMatchObject({ id: image.content.configDigest.slice('sha256:'.length), digest: image.digest });
      expect(local.layers).toEqual(image.content.diffIds);
      // every layer podman did not have yet came from the registry
      for (const layer of image.manifest.layers.filter((l) => !have.has(l.digest))) {
        expect(downloadedBlobBytes(seen, layer.digest)).toBeGreaterThanOrEqual(layer.size);
        have.add(layer.digest);
      }
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
      const local = await inspect(ref('multi'));
      expect(local).toMatchObject({ id: content.configDigest.slice('sha256:'.length), architecture: content.platform.architecture });
      expect(local.layers).toEqual(content.diffIds);
    }
  }, STEP_TIMEOUT_MS);

  it('tags within a repository without re-uploading and lists tags (HTTP and podman search --list-tags)', async () => {
    const { url, repo, ref, proxy } = run();
    const tiny = pushed('tiny');
    const id = await podman(['pull', '-q', '--tls-verify=false', ref('tiny')]);
    const { result: digest, seen } = await run().traffic(() => push(['push'], id, ref('tiny', 'v1')));
    expect(digest).toBe(tiny.digest);
    expect(uploadedBytes(seen)).toBe(0);

    expect(await tagsOf(url, repo('tiny'))).toEqual(['latest', 'v1']);
    for (const name of ['big', 'big2', 'multi'] as const) expect(await tagsOf(url, repo(name))).toEqual(['latest']);

    const listed: unknown = JSON.parse(
      await podman(['search', '--list-tags', '--tls-verify=false', '--format', 'json', `${proxy.host}/${repo('tiny')}`]),
    );
    const entry: unknown = Array.isArray(listed) ? listed[0] : undefined;
    const tags = typeof entry === 'object' && entry !== null && 'Tags' in entry && Array.isArray(entry.Tags) ? entry.Tags : [];
    expect(tags.map(String).sort()).toEqual(['latest', 'v1']);
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
