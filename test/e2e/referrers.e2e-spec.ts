import { descriptorOf, Descriptor, EMPTY_JSON, errorCodes, imageManifestBytes, indexBytes, MT, OciClient, PushedImage, sha256 } from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';

jest.setTimeout(30_000);

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

const SBOM = 'application/vnd.example.sbom.v1+json';
const SIGNATURE_CONFIG = 'application/vnd.example.signature.config.v1+json';

describe('referrers (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;
  let subject: PushedImage;
  let subjectDescriptor: Descriptor;
  let sbom: Buffer;
  let signature: Buffer;

  async function referrers(repo: string, digest: string, query = ''): Promise<{ res: Response; index: Index }> {
    const res = await client.fetch(`/v2/${repo}/referrers/${digest}${query}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(MT.ociIndex);
    const index = (await res.json()) as Index;
    expect(index.schemaVersion).toBe(2);
    expect(index.mediaType).toBe(MT.ociIndex);
    return { res, index };
  }

  beforeAll(async () => {
    registry = await startRegistry();
    client = new OciClient(registry.url);
    subject = await client.pushImage('ref/repo', 'v1');
    subjectDescriptor = descriptorOf(subject.mediaType, subject.bytes);

    // An SBOM: artifactType on the manifest, the empty config.
    await client.pushBlob('ref/repo', EMPTY_JSON);
    const sbomLayer = Buffer.from('{"sbom":true}');
    await client.pushBlob('ref/repo', sbomLayer);
    sbom = imageManifestBytes(descriptorOf(MT.ociEmpty, EMPTY_JSON), [descriptorOf(SBOM, sbomLayer)], {
      artifactType: SBOM,
      subject: subjectDescriptor,
      annotations: { 'org.example.kind': 'sbom', 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    });
    const put1 = await client.putManifest('ref/repo', sha256(sbom), sbom, MT.ociManifest);
    expect(put1.status).toBe(201);
    expect(put1.headers.get('oci-subject')).toBe(subject.digest);

    // A signature: no artifactType, so its config media type stands in.
    const sigConfig = Buffer.from('{"signature":"config"}');
    await client.pushBlob('ref/repo', sigConfig);
    signature = imageManifestBytes(descriptorOf(SIGNATURE_CONFIG, sigConfig), [], {
      subject: subjectDescriptor,
      annotations: { 'org.example.kind': 'signature' },
    });
    expect((await client.putManifest('ref/repo', sha256(signature), signature, MT.ociManifest)).status).toBe(201);
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('answers an unknown subject with 200 and an empty OCI index', async () => {
    const { index } = await referrers('ref/repo', sha256('no such subject'));
    expect(index.manifests).toEqual([]);
  });

  it('answers a repository that does not exist with an empty index too', async () => {
    const { index } = await referrers('ref/nowhere', subject.digest);
    expect(index.manifests).toEqual([]);
  });

  it('lists both referrers with mediaType, digest, size, artifactType and annotations', async () => {
    const { res, index } = await referrers('ref/repo', subject.digest);
    expect(res.headers.get('oci-filters-applied')).toBeNull();
    const byDigest = new Map(index.manifests.map((m) => [m.digest, m]));
    expect(byDigest.size).toBe(2);
    expect(byDigest.get(sha256(sbom))).toEqual({
      mediaType: MT.ociManifest,
      digest: sha256(sbom),
      size: sbom.length,
      artifactType: SBOM,
      annotations: { 'org.example.kind': 'sbom', 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' },
    });
    expect(byDigest.get(sha256(signature))).toEqual({
      mediaType: MT.ociManifest,
      digest: sha256(signature),
      size: signature.length,
      artifactType: SIGNATURE_CONFIG,
      annotations: { 'org.example.kind': 'signature' },
    });
  });

  it('filters by ?artifactType= and says so in OCI-Filters-Applied', async () => {
    const { res, index } = await referrers('ref/repo', subject.digest, `?artifactType=${encodeURIComponent(SBOM)}`);
    expect(res.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(index.manifests.map((m) => m.digest)).toEqual([sha256(sbom)]);

    const fallback = await referrers('ref/repo', subject.digest, `?artifactType=${encodeURIComponent(SIGNATURE_CONFIG)}`);
    expect(fallback.index.manifests.map((m) => m.digest)).toEqual([sha256(signature)]);

    const none = await referrers('ref/repo', subject.digest, '?artifactType=application/vnd.example.none');
    expect(none.res.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(none.index.manifests).toEqual([]);
  });

  it('lists an index referrer without artifactType (it has no config to fall back on)', async () => {
    const holder = await client.pushImage('ref/index', 'subject');
    const child = await client.pushImage('ref/index', 'child');
    const index = indexBytes([descriptorOf(child.mediaType, child.bytes)], { subject: descriptorOf(holder.mediaType, holder.bytes) });
    expect((await client.putManifest('ref/index', sha256(index), index, MT.ociIndex)).status).toBe(201);
    const { index: listed } = await referrers('ref/index', holder.digest);
    expect(listed.manifests).toEqual([{ mediaType: MT.ociIndex, digest: sha256(index), size: index.length }]);
  });

  it('does not list referrers pushed to another repository', async () => {
    await client.pushBlob('ref/other', EMPTY_JSON);
    const other = imageManifestBytes(descriptorOf(MT.ociEmpty, EMPTY_JSON), [], { artifactType: SBOM, subject: subjectDescriptor, annotations: { other: 'repo' } });
    expect((await client.putManifest('ref/other', sha256(other), other, MT.ociManifest)).status).toBe(201);
    const { index } = await referrers('ref/repo', subject.digest);
    expect(index.manifests.map((m) => m.digest)).not.toContain(sha256(other));
    const { index: there } = await referrers('ref/other', subject.digest);
    expect(there.manifests.map((m) => m.digest)).toEqual([sha256(other)]);
  });

  it('includes manifests listed in the sha256-<hex> fallback tag', async () => {
    const target = await client.pushImage('ref/fallback', 'v1');
    await client.pushBlob('ref/fallback', EMPTY_JSON);
    const legacy = imageManifestBytes(descriptorOf(MT.ociEmpty, EMPTY_JSON), [], { artifactType: SBOM });
    expect((await client.putManifest('ref/fallback', sha256(legacy), legacy, MT.ociManifest)).status).toBe(201);
    const entry = descriptorOf(MT.ociManifest, legacy, { artifactType: SBOM, annotations: { legacy: 'true' } });
    const tagIndex = indexBytes([entry]);
    const tag = target.digest.replace(':', '-');
    expect((await client.putManifest('ref/fallback', tag, tagIndex, MT.ociIndex)).status).toBe(201);
    const { index } = await referrers('ref/fallback', target.digest);
    expect(index.manifests).toEqual([entry]);
  });

  it.each(['sha256:nothex', 'not-a-digest', 'sha256:' + 'a'.repeat(63)])('answers an invalid digest %s with 400', async (bad) => {
    const res = await client.fetch(`/v2/ref/repo/referrers/${bad}`);
    expect(res.status).toBe(400);
    expect(await errorCodes(res)).toEqual(['DIGEST_INVALID']);
  });
});
