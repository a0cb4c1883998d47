import { MediaTypes } from '../common/oci/media-types';
import { expectOciError } from '../../test/utils/oci-error';
import { Descriptor, parseDescriptor, parseManifest } from './manifest-parser';

/** A distinct, valid sha256 digest per seed. */
const digest = (seed: number): string => `sha256:${seed.toString(16).padStart(64, '0')}`;
const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const CONFIG = 'application/vnd.oci.image.config.v1+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

const desc = (mediaType: string, seed: number, extra: Partial<Descriptor> = {}): Descriptor => ({ mediaType, digest: digest(seed), size: 100 + seed, ...extra });
const bytes = (json: unknown): Buffer => Buffer.from(JSON.stringify(json));

const ociManifest = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  schemaVersion: 2,
  mediaType: MediaTypes.ociManifest,
  config: desc(CONFIG, 1),
  layers: [desc(LAYER, 2), desc(LAYER, 3)],
  ...extra,
});
const ociIndex = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  schemaVersion: 2,
  mediaType: MediaTypes.ociIndex,
  manifests: [
    desc(MediaTypes.ociManifest, 10, { platform: { os: 'linux', architecture: 'amd64' } } as Partial<Descriptor>),
    desc(MediaTypes.ociManifest, 11),
  ],
  ...extra,
});

describe(parseManifest.name, () => {
  describe('image manifests and indexes', () => {
    it('parses an OCI image manifest: config and layers are required blobs, the config type is the artifact type', () => {
      expect(parseManifest(bytes(ociManifest()), MediaTypes.ociManifest)).toEqual({
        mediaType: MediaTypes.ociManifest,
        artifactType: CONFIG,
        subject: null,
        annotations: null,
        requiredBlobs: [digest(1), digest(2), digest(3)],
        foreignBlobs: [],
        childManifests: [],
      });
    });

    it('parses an OCI index: entries are child manifests and there is no artifact type', () => {
      expect(parseManifest(bytes(ociIndex()), MediaTypes.ociIndex)).toEqual({
        mediaType: MediaTypes.ociIndex,
        artifactType: null,
        subject: null,
        annotations: null,
        requiredBlobs: [],
        foreignBlobs: [],
        childManifests: [digest(10), digest(11)],
      });
    });

    it('parses a Docker schema 2 manifest', () => {
      const manifest = {
        schemaVersion: 2,
        mediaType: MediaTypes.dockerManifest,
        config: desc(DOCKER_CONFIG, 1),
        layers: [desc(DOCKER_LAYER, 2)],
      };
      const parsed = parseManifest(bytes(manifest), MediaTypes.dockerManifest);
      expect(parsed.mediaType).toBe(MediaTypes.dockerManifest);
      expect(parsed.artifactType).toBe(DOCKER_CONFIG);
      expect(parsed.requiredBlobs).toEqual([digest(1), digest(2)]);
    });

    it('parses a Docker manifest list', () => {
      const list = {
        schemaVersion: 2,
        mediaType: MediaTypes.dockerManifestList,
        manifests: [desc(MediaTypes.dockerManifest, 10), desc(MediaTypes.dockerManifest, 11)],
      };
      const parsed = parseManifest(bytes(list), MediaTypes.dockerManifestList);
      expect(parsed.mediaType).toBe(MediaTypes.dockerManifestList);
      expect(parsed.artifactType).toBeNull();
      expect(parsed.childManifests).toEqual([digest(10), digest(11)]);
      expect(parsed.requiredBlobs).toEqual([]);
    });

    it('accepts an image manifest with an empty layer list', () => {
      expect(parseManifest(bytes(ociManifest({ layers: [] })), MediaTypes.ociManifest).requiredBlobs).toEqual([digest(1)]);
    });

    it('accepts an index with no entries', () => {
      expect(parseManifest(bytes(ociIndex({ manifests: [] })), MediaTypes.ociIndex).childManifests).toEqual([]);
    });

    it('accepts custom fields and the data field', () => {
      const manifest = ociManifest({ 'x-custom': { anything: [1, 2] }, config: desc(CONFIG, 1, { data: 'e30=' } as Partial<Descriptor>) });
      expect(parseManifest(bytes(manifest), MediaTypes.ociManifest).requiredBlobs).toEqual([digest(1), digest(2), digest(3)]);
    });

    it('accepts sha512 descriptors and well-formed digests of unregistered algorithms', () => {
      const sha512 = `sha512:${'c'.repeat(128)}`;
      const other = 'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564';
      const manifest = ociManifest({ layers: [{ mediaType: LAYER, digest: sha512, size: 1 }, { mediaType: LAYER, digest: other, size: 1 }] });
      expect(parseManifest(bytes(manifest), MediaTypes.ociManifest).requiredBlobs).toEqual([digest(1), sha512, other]);
    });

    it('accepts a zero-byte descriptor', () => {
      const manifest = ociManifest({ layers: [desc(LAYER, 2, { size: 0 })] });
      expect(parseManifest(bytes(manifest), MediaTypes.ociManifest).requiredBlobs).toEqual([digest(1), digest(2)]);
    });
  });

  describe('artifacts', () => {
    it('parses an artifact with artifactType and the empty config', () => {
      const artifact = ociManifest({
        artifactType: 'application/vnd.example.sbom.v1+json',
        config: { mediaType: MediaTypes.ociEmpty, digest: EMPTY_DIGEST, size: 2 },
        layers: [desc('application/spdx+json', 2)],
      });
      const parsed = parseManifest(bytes(artifact), MediaTypes.ociManifest);
      expect(parsed.artifactType).toBe('application/vnd.example.sbom.v1+json');
      expect(parsed.requiredBlobs).toEqual([EMPTY_DIGEST, digest(2)]);
    });

    it('falls back to config.mediaType when an image manifest has no artifactType', () => {
      const parsed = parseManifest(bytes(ociManifest({ config: desc('application/vnd.example.config+json', 1) })), undefined);
      expect(parsed.artifactType).toBe('application/vnd.example.config+json');
    });

    it('reports no artifact type for an index without artifactType', () => {
      expect(parseManifest(bytes(ociIndex()), undefined).artifactType).toBeNull();
    });

    it('reports the artifactType of an index that has one', () => {
      expect(parseManifest(bytes(ociIndex({ artifactType: 'application/vnd.example+type' })), undefined).artifactType).toBe(
        'application/vnd.example+type',
      );
    });

    it('checks the descriptors of an unknown media type and requires its config, layers and blobs', () => {
      const custom = {
        mediaType: 'application/vnd.example.custom+json',
        config: desc('application/vnd.example.config+json', 1),
        layers: [desc(LAYER, 2)],
        blobs: [desc('application/octet-stream', 3)],
        manifests: [desc(MediaTypes.ociManifest, 4)],
      };
      expect(parseManifest(bytes(custom), 'application/vnd.example.custom+json')).toEqual({
        mediaType: 'application/vnd.example.custom+json',
        artifactType: 'application/vnd.example.config+json',
        subject: null,
        annotations: null,
        requiredBlobs: [digest(1), digest(2), digest(3)],
        foreignBlobs: [],
        childManifests: [digest(4)],
      });
    });

    it('accepts an unknown media type without schemaVersion or descriptors', () => {
      const parsed = parseManifest(bytes({ mediaType: 'application/vnd.example.thing+json', hello: 'world' }), undefined);
      expect(parsed).toMatchObject({ mediaType: 'application/vnd.example.thing+json', artifactType: null, requiredBlobs: [], childManifests: [] });
    });

    it('rejects a malformed descriptor inside an unknown media type', () => {
      const custom = { mediaType: 'application/vnd.example.custom+json', blobs: [{ mediaType: LAYER, digest: 'nope', size: 1 }] };
      const error = expectOciError(() => parseManifest(bytes(custom), undefined), 'MANIFEST_INVALID', 400);
      expect(error.message).toContain('blobs[0].digest');
    });

    it('rejects an unknown media type whose blobs field is not an array', () => {
      expectOciError(() => parseManifest(bytes({ mediaType: 'application/vnd.example+json', blobs: {} }), undefined), 'MANIFEST_INVALID');
    });
  });

  describe('media type: header and field', () => {
    it('rejects a Content-Type that disagrees with the mediaType field', () => {
      const error = expectOciError(() => parseManifest(bytes(ociManifest()), MediaTypes.ociIndex), 'MANIFEST_INVALID', 400);
      expect(error.message).toContain(MediaTypes.ociIndex);
    });

    it('ignores Content-Type parameters when comparing', () => {
      expect(parseManifest(bytes(ociManifest()), `${MediaTypes.ociManifest}; charset=utf-8`).mediaType).toBe(MediaTypes.ociManifest);
    });

    it('takes the media type from a specific Content-Type when the body has no mediaType field', () => {
      const { mediaType: _omitted, ...body } = ociManifest();
      expect(parseManifest(bytes(body), MediaTypes.ociManifest).mediaType).toBe(MediaTypes.ociManifest);
      const docker = { schemaVersion: 2, config: desc(DOCKER_CONFIG, 1), layers: [] };
      expect(parseManifest(bytes(docker), MediaTypes.dockerManifest).mediaType).toBe(MediaTypes.dockerManifest);
    });

    it.each([['application/json'], ['application/octet-stream'], ['text/plain'], ['Application/JSON; charset=utf-8'], [undefined]])(
      'lets the mediaType field decide under the generic Content-Type %j',
      (contentType) => {
        expect(parseManifest(bytes(ociIndex()), contentType).mediaType).toBe(MediaTypes.ociIndex);
      },
    );

    it('infers an index from a manifests array when neither header nor field says', () => {
      const { mediaType: _omitted, ...body } = ociIndex();
      expect(parseManifest(bytes(body), 'application/json').mediaType).toBe(MediaTypes.ociIndex);
    });

    it('infers an image manifest otherwise', () => {
      const { mediaType: _omitted, ...body } = ociManifest();
      const parsed = parseManifest(bytes(body), 'application/json');
      expect(parsed.mediaType).toBe(MediaTypes.ociManifest);
      expect(parsed.requiredBlobs).toEqual([digest(1), digest(2), digest(3)]);
    });

    it('checks the structure of an inferred image manifest', () => {
      expectOciError(() => parseManifest(bytes({ schemaVersion: 2, layers: [] }), 'application/json'), 'MANIFEST_INVALID');
    });

    it('rejects a malformed mediaType field', () => {
      expectOciError(() => parseManifest(bytes(ociManifest({ mediaType: 'not a media type' })), undefined), 'MANIFEST_INVALID');
      expectOciError(() => parseManifest(bytes(ociManifest({ mediaType: 42 })), undefined), 'MANIFEST_INVALID');
    });

    it('rejects a malformed specific Content-Type', () => {
      expectOciError(() => parseManifest(bytes(ociManifest()), 'garbage'), 'MANIFEST_INVALID');
    });

    it('rejects a malformed artifactType', () => {
      expectOciError(() => parseManifest(bytes(ociManifest({ artifactType: 'nope' })), undefined), 'MANIFEST_INVALID');
    });
  });

  describe('refusals', () => {
    it.each([[MediaTypes.dockerSchema1], [MediaTypes.dockerSchema1Signed]])('refuses Docker schema 1 (%s) by header', (type) => {
      const body = { schemaVersion: 1, name: 'a', tag: 'latest', fsLayers: [], history: [] };
      const error = expectOciError(() => parseManifest(bytes(body), type), 'MANIFEST_INVALID', 400);
      expect(error.message).toContain('schema 1');
    });

    it('refuses Docker schema 1 by mediaType field', () => {
      const body = { schemaVersion: 1, mediaType: MediaTypes.dockerSchema1Signed, fsLayers: [] };
      expectOciError(() => parseManifest(bytes(body), 'application/json'), 'MANIFEST_INVALID');
    });

    it('refuses an untyped schema 1 body as an image manifest with the wrong schemaVersion', () => {
      expectOciError(() => parseManifest(bytes({ schemaVersion: 1, name: 'a', fsLayers: [] }), undefined), 'MANIFEST_INVALID');
    });

    it.each([
      ['1', 1],
      ['3', 3],
      ['the string "2"', '2'],
      ['missing', undefined],
    ])('refuses an image manifest with schemaVersion %s', (_, schemaVersion) => {
      const error = expectOciError(() => parseManifest(bytes(ociManifest({ schemaVersion })), undefined), 'MANIFEST_INVALID');
      expect(error.message).toContain('schemaVersion');
    });

    it('refuses an index with schemaVersion other than 2', () => {
      expectOciError(() => parseManifest(bytes(ociIndex({ schemaVersion: 1 })), undefined), 'MANIFEST_INVALID');
    });

    it.each([
      ['invalid JSON', Buffer.from('{"schemaVersion":2,')],
      ['a JSON array', Buffer.from('[]')],
      ['JSON null', Buffer.from('null')],
      ['a JSON string', Buffer.from('"manifest"')],
      ['an empty body', Buffer.alloc(0)],
    ])('refuses %s', (_, body) => {
      expectOciError(() => parseManifest(body, MediaTypes.ociManifest), 'MANIFEST_INVALID', 400);
    });

    it('refuses an image manifest without config', () => {
      const { config: _omitted, ...body } = ociManifest();
      expectOciError(() => parseManifest(bytes(body), undefined), 'MANIFEST_INVALID');
    });

    it('refuses an image manifest without layers', () => {
      const { layers: _omitted, ...body } = ociManifest();
      expectOciError(() => parseManifest(bytes(body), undefined), 'MANIFEST_INVALID');
    });

    it('refuses an index without manifests', () => {
      expectOciError(() => parseManifest(bytes({ schemaVersion: 2, mediaType: MediaTypes.ociIndex }), undefined), 'MANIFEST_INVALID');
    });

    it('refuses layers that are not an array', () => {
      expectOciError(() => parseManifest(bytes(ociManifest({ layers: desc(LAYER, 2) })), undefined), 'MANIFEST_INVALID');
    });
  });

  describe('malformed descriptors', () => {
    it.each([
      ['a negative size', { size: -1 }, 'layers[0].size'],
      ['a fractional size', { size: 1.5 }, 'layers[0].size'],
      ['a string size', { size: '10' }, 'layers[0].size'],
      ['an unsafe integer size', { size: 2 ** 53 }, 'layers[0].size'],
      ['a missing size', { size: undefined }, 'layers[0].size'],
      ['a digest without algorithm', { digest: 'f'.repeat(64) }, 'layers[0].digest'],
      ['a digest with a bad encoding', { digest: 'sha256:abc/def' }, 'layers[0].digest'],
      ['a missing digest', { digest: undefined }, 'layers[0].digest'],
      ['a missing mediaType', { mediaType: undefined }, 'layers[0].mediaType'],
      ['a malformed mediaType', { mediaType: 'tar' }, 'layers[0].mediaType'],
      ['a malformed artifactType', { artifactType: 'x' }, 'layers[0].artifactType'],
      ['urls that are not strings', { urls: [1] }, 'layers[0].urls'],
      ['urls that are not an array', { urls: 'https://example.com/x' }, 'layers[0].urls'],
    ])('refuses a layer with %s, naming where', (_, change, where) => {
      const layer = JSON.parse(JSON.stringify({ ...desc(LAYER, 2), ...change })) as unknown;
      const error = expectOciError(() => parseManifest(bytes(ociManifest({ layers: [layer] })), undefined), 'MANIFEST_INVALID', 400);
      expect(error.message).toContain(where);
    });

    it.each([
      ['null', null],
      ['an array', [desc(LAYER, 2)]],
      ['a string', digest(2)],
    ])('refuses a descriptor that is %s', (_, layer) => {
      expectOciError(() => parseManifest(bytes(ociManifest({ layers: [layer] })), undefined), 'MANIFEST_INVALID');
    });

    it('refuses a malformed config', () => {
      const error = expectOciError(() => parseManifest(bytes(ociManifest({ config: { ...desc(CONFIG, 1), size: -5 } })), undefined), 'MANIFEST_INVALID');
      expect(error.message).toContain('config.size');
    });

    it('refuses a malformed index entry', () => {
      const error = expectOciError(() => parseManifest(bytes(ociIndex({ manifests: [{ mediaType: MediaTypes.ociManifest, size: 1 }] })), undefined), 'MANIFEST_INVALID');
      expect(error.message).toContain('manifests[0].digest');
    });
  });

  describe('annotations', () => {
    it('returns the manifest annotations', () => {
      const annotations = { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', empty: '' };
      expect(parseManifest(bytes(ociManifest({ annotations })), undefined).annotations).toEqual(annotations);
    });

    it.each([
      ['a number value', { a: 1 }],
      ['a null value', { a: null }],
      ['a nested object', { a: { b: 'c' } }],
      ['an array', ['a']],
      ['a string', 'a=b'],
      ['null', null],
    ])('refuses manifest annotations with %s', (_, annotations) => {
      const error = expectOciError(() => parseManifest(bytes(ociManifest({ annotations })), undefined), 'MANIFEST_INVALID');
      expect(error.message).toContain('annotations');
    });

    it('refuses descriptor annotations that are not strings', () => {
      const error = expectOciError(
        () => parseManifest(bytes(ociManifest({ layers: [{ ...desc(LAYER, 2), annotations: { a: true } }] })), undefined),
        'MANIFEST_INVALID',
      );
      expect(error.message).toContain('layers[0].annotations');
    });
  });

  describe('subject', () => {
    it('returns the subject descriptor', () => {
      const subject = desc(MediaTypes.ociManifest, 99, { annotations: { a: 'b' } });
      expect(parseManifest(bytes(ociManifest({ subject })), undefined).subject).toEqual(subject);
    });

    it('does not require the subject to be present', () => {
      const parsed = parseManifest(bytes(ociManifest({ subject: desc(MediaTypes.ociManifest, 99) })), undefined);
      expect(parsed.requiredBlobs).not.toContain(digest(99));
      expect(parsed.childManifests).not.toContain(digest(99));
    });

    it('returns the subject of an index', () => {
      expect(parseManifest(bytes(ociIndex({ subject: desc(MediaTypes.ociIndex, 98) })), undefined).subject?.digest).toBe(digest(98));
    });

    it('refuses a malformed subject', () => {
      const error = expectOciError(() => parseManifest(bytes(ociManifest({ subject: { mediaType: MediaTypes.ociManifest, digest: 'x', size: 1 } })), undefined), 'MANIFEST_INVALID');
      expect(error.message).toContain('subject.digest');
    });
  });

  describe('foreign layers', () => {
    it('lists non-distributable layers with urls as foreign, not required', () => {
      const urls = ['https://example.com/layer.tar.gz'];
      const manifest = ociManifest({
        layers: [
          desc('application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 2, { urls }),
          desc('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', 3, { urls }),
          desc(LAYER, 4),
        ],
      });
      const parsed = parseManifest(bytes(manifest), undefined);
      expect(parsed.foreignBlobs).toEqual([digest(2), digest(3)]);
      expect(parsed.requiredBlobs).toEqual([digest(1), digest(4)]);
    });

    it('requires a non-distributable layer that has no urls', () => {
      const manifest = ociManifest({ layers: [desc('application/vnd.oci.image.layer.nondistributable.v1.tar', 2, { urls: [] })] });
      const parsed = parseManifest(bytes(manifest), undefined);
      expect(parsed.foreignBlobs).toEqual([]);
      expect(parsed.requiredBlobs).toEqual([digest(1), digest(2)]);
    });

    it('requires an ordinary layer even when it has urls', () => {
      const parsed = parseManifest(bytes(ociManifest({ layers: [desc(LAYER, 2, { urls: ['https://example.com/x'] })] })), undefined);
      expect(parsed.foreignBlobs).toEqual([]);
      expect(parsed.requiredBlobs).toEqual([digest(1), digest(2)]);
    });
  });

  describe('deduplication', () => {
    it('lists each required blob once, config included', () => {
      const manifest = ociManifest({ config: desc(CONFIG, 2), layers: [desc(LAYER, 2), desc(LAYER, 3), desc(LAYER, 3), desc(LAYER, 2)] });
      expect(parseManifest(bytes(manifest), undefined).requiredBlobs).toEqual([digest(2), digest(3)]);
    });

    it('lists each child manifest once', () => {
      const index = ociIndex({ manifests: [desc(MediaTypes.ociManifest, 10), desc(MediaTypes.ociManifest, 11), desc(MediaTypes.ociManifest, 10)] });
      expect(parseManifest(bytes(index), undefined).childManifests).toEqual([digest(10), digest(11)]);
    });

    it('lists each foreign blob once', () => {
      const foreign = desc('application/vnd.oci.image.layer.nondistributable.v1.tar', 5, { urls: ['https://example.com/x'] });
      expect(parseManifest(bytes(ociManifest({ layers: [foreign, foreign] })), undefined).foreignBlobs).toEqual([digest(5)]);
    });
  });
});

describe(parseDescriptor.name, () => {
  it('keeps the known optional fields and drops the rest', () => {
    const value = { ...desc(LAYER, 1), artifactType: 'application/vnd.example+json', annotations: { a: 'b' }, urls: ['https://x'], platform: { os: 'linux' } };
    expect(parseDescriptor(value, 'd')).toEqual({
      mediaType: LAYER,
      digest: digest(1),
      size: 101,
      artifactType: 'application/vnd.example+json',
      annotations: { a: 'b' },
      urls: ['https://x'],
    });
  });
});
