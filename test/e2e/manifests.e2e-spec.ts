import {
  descriptorOf,
  deterministicBytes,
  EMPTY_JSON,
  errorCodes,
  headerLines,
  imageManifestBytes,
  indexBytes,
  MT,
  OciClient,
  PushedImage,
  rawRequest,
  sha256,
} from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';

jest.setTimeout(30_000);

const FOUR_MIB = 4 * 1024 * 1024;

describe('manifests (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;

  beforeAll(async () => {
    registry = await startRegistry();
    client = new OciClient(registry.url);
  });
  afterAll(async () => {
    await registry.stop();
  });

  /** Pushes a config and one layer to `repo` and returns manifest bytes referencing them. */
  async function imageIn(repo: string, seed: string, extra: Record<string, unknown> = {}): Promise<Buffer> {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
    const layer = deterministicBytes(300, seed);
    await client.pushBlob(repo, config);
    await client.pushBlob(repo, layer);
    return imageManifestBytes(descriptorOf(MT.ociConfig, config), [descriptorOf(MT.ociLayer, layer)], extra);
  }

  async function expectPulled(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    const res = await client.fetch(`/v2/${repo}/manifests/${reference}`, { headers: { Accept: `${mediaType}, ${MT.ociManifest}, ${MT.ociIndex}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(mediaType);
    expect(res.headers.get('content-length')).toBe(String(bytes.length));
    expect(res.headers.get('docker-content-digest')).toBe(sha256(bytes));
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  }

  async function expectStatus(res: Response, status: number, code: string): Promise<void> {
    expect(res.status).toBe(status);
    expect(await errorCodes(res)).toEqual([code]);
  }

  describe('push and pull', () => {
    let bytes: Buffer;
    let digest: string;
    let putResponse: Response;

    beforeAll(async () => {
      bytes = await imageIn('man/basic', 'basic');
      digest = sha256(bytes);
      putResponse = await client.putManifest('man/basic', 'v1', bytes, MT.ociManifest);
    });

    it('answers PUT by tag with 201, Location and Docker-Content-Digest', () => {
      expect(putResponse.status).toBe(201);
      expect(putResponse.headers.get('docker-content-digest')).toBe(digest);
      expect(new URL(putResponse.headers.get('location')!, registry.url).pathname).toBe(`/v2/man/basic/manifests/${digest}`);
    });

    it('serves GET by tag with the exact bytes, the Content-Type without charset, Content-Length and digest', async () => {
      await expectPulled('man/basic', 'v1', bytes, MT.ociManifest);
    });

    it('serves GET by digest with the exact bytes', async () => {
      await expectPulled('man/basic', digest, bytes, MT.ociManifest);
    });

    it('serves HEAD (by tag and by digest) with Content-Type, Content-Length and digest, and no body', async () => {
      for (const reference of ['v1', digest]) {
        const res = await client.fetch(`/v2/man/basic/manifests/${reference}`, { method: 'HEAD' });
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe(MT.ociManifest);
        expect(res.headers.get('content-length')).toBe(String(bytes.length));
        expect(res.headers.get('docker-content-digest')).toBe(digest);
        expect((await res.arrayBuffer()).byteLength).toBe(0);
      }
    });

    it('accepts a PUT by digest and serves it by that digest', async () => {
      const other = await imageIn('man/basic', 'by-digest');
      const res = await client.putManifest('man/basic', sha256(other), other, MT.ociManifest);
      expect(res.status).toBe(201);
      expect(res.headers.get('docker-content-digest')).toBe(sha256(other));
      expect(new URL(res.headers.get('location')!, registry.url).pathname).toBe(`/v2/man/basic/manifests/${sha256(other)}`);
      await expectPulled('man/basic', sha256(other), other, MT.ociManifest);
    });

    it('tags a PUT by digest with ?tag=a&tag=b: one OCI-Tag header per tag, and both tags resolve', async () => {
      const other = await imageIn('man/tagparam', 'tag-param');
      const d = sha256(other);
      const res = await rawRequest(registry.url, {
        method: 'PUT',
        path: `/v2/man/tagparam/manifests/${d}?tag=alpha&tag=beta`,
        headers: { 'Content-Type': MT.ociManifest },
        body: other,
      });
      expect(res.status).toBe(201);
      expect(headerLines(res, 'OCI-Tag').sort()).toEqual(['alpha', 'beta']);
      await expectPulled('man/tagparam', 'alpha', other, MT.ociManifest);
      await expectPulled('man/tagparam', 'beta', other, MT.ociManifest);
    });

    it('refuses a PUT by digest whose body hashes differently with 400 DIGEST_INVALID', async () => {
      const other = await imageIn('man/basic', 'mismatch');
      const res = await client.putManifest('man/basic', sha256('another body'), other, MT.ociManifest);
      await expectStatus(res, 400, 'DIGEST_INVALID');
      await expectStatus(await client.fetch(`/v2/man/basic/manifests/${sha256(other)}`), 404, 'MANIFEST_UNKNOWN');
    });

    it('moves a tag to the manifest pushed last', async () => {
      const next = await imageIn('man/basic', 'moved');
      expect((await client.putManifest('man/basic', 'moving', bytes, MT.ociManifest)).status).toBe(201);
      expect((await client.putManifest('man/basic', 'moving', next, MT.ociManifest)).status).toBe(201);
      await expectPulled('man/basic', 'moving', next, MT.ociManifest);
    });
  });

  describe('validation', () => {
    it('refuses a body that is not JSON with 400 MANIFEST_INVALID', async () => {
      await expectStatus(await client.putManifest('man/invalid', 'v1', '{"schemaVersion": 2,', MT.ociManifest), 400, 'MANIFEST_INVALID');
    });

    it('refuses a Content-Type that contradicts the mediaType field with MANIFEST_INVALID', async () => {
      const bytes = await imageIn('man/invalid', 'ct-mismatch');
      await expectStatus(await client.putManifest('man/invalid', 'v1', bytes, MT.dockerManifest), 400, 'MANIFEST_INVALID');
    });

    it('refuses an image manifest without config or layers with MANIFEST_INVALID', async () => {
      const body = JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest });
      await expectStatus(await client.putManifest('man/invalid', 'v1', body, MT.ociManifest), 400, 'MANIFEST_INVALID');
    });

    it('refuses a manifest whose layer was never pushed with 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const config = Buffer.from('{"os":"linux"}');
      await client.pushBlob('man/missing', config);
      const missing = descriptorOf(MT.ociLayer, deterministicBytes(100, 'never pushed'));
      const body = imageManifestBytes(descriptorOf(MT.ociConfig, config), [missing]);
      await expectStatus(await client.putManifest('man/missing', 'v1', body, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('refuses a manifest whose config was never pushed with 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const layer = deterministicBytes(100, 'layer-only');
      await client.pushBlob('man/missing', layer);
      const body = imageManifestBytes(descriptorOf(MT.ociConfig, Buffer.from('{"never":true}')), [descriptorOf(MT.ociLayer, layer)]);
      await expectStatus(await client.putManifest('man/missing', 'v1', body, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('refuses a manifest whose layer exists only in another repository with MANIFEST_BLOB_UNKNOWN', async () => {
      const bytes = await imageIn('man/other-repo', 'cross-repo');
      await client.pushBlob('man/this-repo', Buffer.from('x'));
      await expectStatus(await client.putManifest('man/this-repo', 'v1', bytes, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('refuses an index whose child manifest is missing with MANIFEST_BLOB_UNKNOWN', async () => {
      const child = await imageIn('man/index-missing', 'child-not-pushed');
      const body = indexBytes([descriptorOf(MT.ociManifest, child, { platform: { architecture: 'amd64', os: 'linux' } })]);
      await expectStatus(await client.putManifest('man/index-missing', 'v1', body, MT.ociIndex), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it.each([
      ['a leading dash', '-tag'],
      ['a leading dot', '.tag'],
      ['129 characters', 'a'.repeat(129)],
      ['a forbidden character', 'tag%21'],
    ])('refuses a tag with %s with 400', async (_what, tag) => {
      const bytes = await imageIn('man/badtag', `bad-tag-${tag}`);
      const res = await client.putManifest('man/badtag', tag, bytes, MT.ociManifest);
      expect(res.status).toBe(400);
      expect((await errorCodes(res)).length).toBe(1);
    });

    it('refuses an invalid ?tag= on a PUT by digest with 400', async () => {
      const bytes = await imageIn('man/badtag', 'bad-tag-param');
      const res = await client.putManifest('man/badtag', sha256(bytes), bytes, MT.ociManifest, '?tag=-nope');
      expect(res.status).toBe(400);
      await res.arrayBuffer();
    });

    it('accepts the longest valid tag (128 characters)', async () => {
      const bytes = await imageIn('man/badtag', 'long-tag');
      const tag = `A${'b'.repeat(127)}`;
      expect((await client.putManifest('man/badtag', tag, bytes, MT.ociManifest)).status).toBe(201);
      await expectPulled('man/badtag', tag, bytes, MT.ociManifest);
    });
  });

  describe('media types and content the registry must accept', () => {
    it('stores an OCI index whose children are present and serves it as an index', async () => {
      const a = await imageIn('man/index', 'index-amd64');
      const b = await imageIn('man/index', 'index-arm64');
      expect((await client.putManifest('man/index', sha256(a), a, MT.ociManifest)).status).toBe(201);
      expect((await client.putManifest('man/index', sha256(b), b, MT.ociManifest)).status).toBe(201);
      const index = indexBytes([
        descriptorOf(MT.ociManifest, a, { platform: { architecture: 'amd64', os: 'linux' } }),
        descriptorOf(MT.ociManifest, b, { platform: { architecture: 'arm64', os: 'linux' } }),
      ]);
      const res = await client.putManifest('man/index', 'multi', index, MT.ociIndex);
      expect(res.status).toBe(201);
      await expectPulled('man/index', 'multi', index, MT.ociIndex);
    });

    it('stores a Docker schema2 manifest and a Docker manifest list', async () => {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', docker: true }));
      const layer = deterministicBytes(500, 'docker-layer');
      await client.pushBlob('man/docker', config);
      await client.pushBlob('man/docker', layer);
      const manifest = imageManifestBytes(descriptorOf(MT.dockerConfig, config), [descriptorOf(MT.dockerLayer, layer)], {}, MT.dockerManifest);
      expect((await client.putManifest('man/docker', 'image', manifest, MT.dockerManifest)).status).toBe(201);
      await expectPulled('man/docker', 'image', manifest, MT.dockerManifest);

      const list = indexBytes([descriptorOf(MT.dockerManifest, manifest, { platform: { architecture: 'amd64', os: 'linux' } })], {}, MT.dockerManifestList);
      expect((await client.putManifest('man/docker', 'list', list, MT.dockerManifestList)).status).toBe(201);
      await expectPulled('man/docker', 'list', list, MT.dockerManifestList);
    });

    it('refuses a Docker manifest list whose child is missing with MANIFEST_BLOB_UNKNOWN', async () => {
      const list = indexBytes([descriptorOf(MT.dockerManifest, Buffer.from('{"missing":true}'))], {}, MT.dockerManifestList);
      await expectStatus(await client.putManifest('man/docker', 'broken-list', list, MT.dockerManifestList), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('stores an artifact manifest with artifactType and the empty config', async () => {
      await client.pushBlob('man/artifact', EMPTY_JSON);
      const payload = Buffer.from('signature payload');
      await client.pushBlob('man/artifact', payload);
      const body = imageManifestBytes(descriptorOf(MT.ociEmpty, EMPTY_JSON), [descriptorOf('application/vnd.example.signature.v1', payload)], {
        artifactType: 'application/vnd.example.signature.v1+json',
      });
      expect((await client.putManifest('man/artifact', 'sig', body, MT.ociManifest)).status).toBe(201);
      await expectPulled('man/artifact', 'sig', body, MT.ociManifest);
      expect((await client.getBlob('man/artifact', sha256(EMPTY_JSON))).toString()).toBe('{}');
    });

    it('accepts a manifest of a custom, unknown media type and serves it with that Content-Type', async () => {
      const mediaType = 'application/vnd.example.custom.thing.v1+json';
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, anything: { goes: [1, 2, 3] } }));
      const res = await client.putManifest('man/custom', 'v1', body, mediaType);
      expect(res.status).toBe(201);
      await expectPulled('man/custom', 'v1', body, mediaType);
    });

    it('accepts custom JSON fields and the descriptor `data` field', async () => {
      const config = Buffer.from('{"os":"linux","custom":true}');
      await client.pushBlob('man/custom', config);
      const body = imageManifestBytes(descriptorOf(MT.ociConfig, config, { data: config.toString('base64') }), [], {
        'x-custom-field': { nested: true },
      });
      expect((await client.putManifest('man/custom', 'fields', body, MT.ociManifest)).status).toBe(201);
      await expectPulled('man/custom', 'fields', body, MT.ociManifest);
    });

    it('accepts a manifest whose subject does not exist and answers with OCI-Subject', async () => {
      const subject = descriptorOf(MT.ociManifest, Buffer.from('{"a manifest":"that is not here"}'));
      const body = await imageIn('man/subject', 'dangling-subject', { subject });
      const res = await client.putManifest('man/subject', sha256(body), body, MT.ociManifest);
      expect(res.status).toBe(201);
      expect(res.headers.get('oci-subject')).toBe(subject.digest);
      await expectPulled('man/subject', sha256(body), body, MT.ociManifest);
    });

    it('accepts a non-distributable layer with urls that was never pushed', async () => {
      const config = Buffer.from('{"os":"windows"}');
      await client.pushBlob('man/foreign', config);
      const foreign = descriptorOf(MT.ociNondistributableLayer, deterministicBytes(1000, 'foreign layer'), { urls: ['https://example.com/layer.tar.gz'] });
      const body = imageManifestBytes(descriptorOf(MT.ociConfig, config), [foreign]);
      expect((await client.putManifest('man/foreign', 'v1', body, MT.ociManifest)).status).toBe(201);
      await expectPulled('man/foreign', 'v1', body, MT.ociManifest);
    });

    it('accepts an empty layers list', async () => {
      const config = Buffer.from('{"os":"linux","empty":true}');
      await client.pushBlob('man/empty-layers', config);
      const body = imageManifestBytes(descriptorOf(MT.ociConfig, config), []);
      expect((await client.putManifest('man/empty-layers', 'v1', body, MT.ociManifest)).status).toBe(201);
      await expectPulled('man/empty-layers', 'v1', body, MT.ociManifest);
    });

    it('accepts a manifest just under 4 MiB (390 annotations of 10 kB) and serves it byte for byte', async () => {
      const annotations: Record<string, string> = {};
      for (let i = 0; i < 390; i++) annotations[`org.example.large.${i}`] = 'x'.repeat(10_000);
      const body = await imageIn('man/large', 'large', { annotations });
      expect(body.length).toBeGreaterThan(3_900_000);
      expect(body.length).toBeLessThan(FOUR_MIB);
      const res = await client.putManifest('man/large', 'v1', body, MT.ociManifest);
      expect(res.status).toBe(201);
      await expectPulled('man/large', 'v1', body, MT.ociManifest);
    });

    it('refuses a manifest over 4 MiB with 413', async () => {
      const annotations: Record<string, string> = { big: 'y'.repeat(FOUR_MIB) };
      const body = await imageIn('man/large', 'too-large', { annotations });
      expect(body.length).toBeGreaterThan(FOUR_MIB);
      const res = await rawRequest(registry.url, { method: 'PUT', path: '/v2/man/large/manifests/too-big', headers: { 'Content-Type': MT.ociManifest }, body });
      expect(res.status).toBe(413);
      await expectStatus(await client.fetch('/v2/man/large/manifests/too-big'), 404, 'MANIFEST_UNKNOWN');
    });
    it('refuses a manifest streamed past 4 MiB without Content-Length with 413', async () => {
      function* pieces(): Generator<Buffer> {
        yield Buffer.from('{"schemaVersion":2,"annotations":{"big":"');
        for (let i = 0; i < 80; i++) yield Buffer.alloc(64 * 1024, 0x61);
        yield Buffer.from('"}}');
      }
      const res = await rawRequest(registry.url, { method: 'PUT', path: '/v2/man/large/manifests/streamed-too-big', headers: { 'Content-Type': MT.ociManifest }, body: pieces() });
      expect(res.status).toBe(413);
      await expectStatus(await client.fetch('/v2/man/large/manifests/streamed-too-big'), 404, 'MANIFEST_UNKNOWN');
    });
  });

  describe('unknown references', () => {
    let image: PushedImage;
    beforeAll(async () => {
      image = await client.pushImage('man/known', 'v1');
    });

    it('answers an unknown tag with 404 MANIFEST_UNKNOWN', async () => {
      await expectStatus(await client.fetch('/v2/man/known/manifests/nope'), 404, 'MANIFEST_UNKNOWN');
      const head = await client.fetch('/v2/man/known/manifests/nope', { method: 'HEAD' });
      expect(head.status).toBe(404);
    });

    it('answers an unknown digest with 404 MANIFEST_UNKNOWN', async () => {
      await expectStatus(await client.fetch(`/v2/man/known/manifests/${sha256('unknown manifest')}`), 404, 'MANIFEST_UNKNOWN');
    });

    it('answers a manifest of another repository with 404', async () => {
      await client.pushImage('man/known-other', 'v1');
      await expectStatus(await client.fetch(`/v2/man/known-other/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN');
    });

    it('answers an unknown repository with 404 NAME_UNKNOWN', async () => {
      await expectStatus(await client.fetch('/v2/man/never-pushed/manifests/v1'), 404, 'NAME_UNKNOWN');
      await expectStatus(await client.fetch(`/v2/man/never-pushed/manifests/${image.digest}`), 404, 'NAME_UNKNOWN');
    });
  });

  describe('delete', () => {
    it('deletes by digest with 202; the manifest and every tag pointing at it are gone', async () => {
      const image = await client.pushImage('man/del', 'one');
      expect((await client.putManifest('man/del', 'two', image.bytes, image.mediaType)).status).toBe(201);
      const keep = await client.pushImage('man/del', 'keep');
      const res = await client.fetch(`/v2/man/del/manifests/${image.digest}`, { method: 'DELETE' });
      expect(res.status).toBe(202);
      await res.arrayBuffer();
      for (const reference of ['one', 'two', image.digest]) {
        await expectStatus(await client.fetch(`/v2/man/del/manifests/${reference}`), 404, 'MANIFEST_UNKNOWN');
      }
      const tags = (await (await client.fetch('/v2/man/del/tags/list')).json()) as { tags: string[] };
      expect(tags.tags).toEqual(['keep']);
      await expectPulled('man/del', 'keep', keep.bytes, keep.mediaType);
      await expectStatus(await client.fetch(`/v2/man/del/manifests/${image.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });

    it('deletes by tag with 202; only the tag goes and the digest still pulls', async () => {
      const image = await client.pushImage('man/deltag', 'gone');
      expect((await client.putManifest('man/deltag', 'stays', image.bytes, image.mediaType)).status).toBe(201);
      const res = await client.fetch('/v2/man/deltag/manifests/gone', { method: 'DELETE' });
      expect(res.status).toBe(202);
      await res.arrayBuffer();
      await expectStatus(await client.fetch('/v2/man/deltag/manifests/gone'), 404, 'MANIFEST_UNKNOWN');
      await expectPulled('man/deltag', image.digest, image.bytes, image.mediaType);
      await expectPulled('man/deltag', 'stays', image.bytes, image.mediaType);
      await expectStatus(await client.fetch('/v2/man/deltag/manifests/gone', { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });
  });
});
