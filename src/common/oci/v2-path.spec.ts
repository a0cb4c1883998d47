import { expectOciError } from '../../../test/utils/oci-error';
import { parseV2Path, V2Request, v2PathOf } from './v2-path';

const SHA256 = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe(parseV2Path.name, () => {
  describe('kinds', () => {
    it.each([
      ['a manifest by tag', '/v2/a/manifests/latest', { kind: 'manifest', name: 'a', ref: 'latest' }],
      ['a manifest by digest', `/v2/a/manifests/${SHA256}`, { kind: 'manifest', name: 'a', ref: SHA256 }],
      ['a blob', `/v2/a/blobs/${SHA256}`, { kind: 'blob', name: 'a', ref: SHA256 }],
      ['an upload start without a trailing slash', '/v2/a/blobs/uploads', { kind: 'uploadStart', name: 'a', ref: '' }],
      ['an upload start with a trailing slash', '/v2/a/blobs/uploads/', { kind: 'uploadStart', name: 'a', ref: '' }],
      ['an upload session', '/v2/a/blobs/uploads/3f2c-9A_b', { kind: 'upload', name: 'a', ref: '3f2c-9A_b' }],
      ['a tag list', '/v2/a/tags/list', { kind: 'tags', name: 'a', ref: '' }],
      ['referrers', `/v2/a/referrers/${SHA256}`, { kind: 'referrers', name: 'a', ref: SHA256 }],
    ])('parses %s', (_, path, expected) => {
      expect(parseV2Path(path)).toEqual(expected);
    });
  });

  describe('multi-segment names', () => {
    it.each([
      ['/v2/a/b/c/manifests/latest', { kind: 'manifest', name: 'a/b/c', ref: 'latest' }],
      [`/v2/a/b/c/blobs/${SHA256}`, { kind: 'blob', name: 'a/b/c', ref: SHA256 }],
      ['/v2/a/b/c/blobs/uploads/', { kind: 'uploadStart', name: 'a/b/c', ref: '' }],
      ['/v2/a/b/c/blobs/uploads/id-1', { kind: 'upload', name: 'a/b/c', ref: 'id-1' }],
      ['/v2/a/b/c/tags/list', { kind: 'tags', name: 'a/b/c', ref: '' }],
      [`/v2/a/b/c/referrers/${SHA256}`, { kind: 'referrers', name: 'a/b/c', ref: SHA256 }],
    ])('parses %s', (path, expected) => {
      expect(parseV2Path(path)).toEqual(expected);
    });
  });

  describe('names whose components are route words', () => {
    it.each([
      ['/v2/blobs/manifests/latest', { kind: 'manifest', name: 'blobs', ref: 'latest' }],
      ['/v2/manifests/manifests/manifests', { kind: 'manifest', name: 'manifests', ref: 'manifests' }],
      [`/v2/manifests/blobs/${SHA256}`, { kind: 'blob', name: 'manifests', ref: SHA256 }],
      ['/v2/tags/list/tags/list', { kind: 'tags', name: 'tags/list', ref: '' }],
      ['/v2/a/tags/tags/list', { kind: 'tags', name: 'a/tags', ref: '' }],
      ['/v2/uploads/blobs/uploads/', { kind: 'uploadStart', name: 'uploads', ref: '' }],
      ['/v2/x/blobs/blobs/uploads/', { kind: 'uploadStart', name: 'x/blobs', ref: '' }],
      ['/v2/x/blobs/blobs/uploads', { kind: 'uploadStart', name: 'x/blobs', ref: '' }],
      ['/v2/x/blobs/uploads/blobs/uploads/id', { kind: 'upload', name: 'x/blobs/uploads', ref: 'id' }],
      [`/v2/x/blobs/uploads/blobs/${SHA256}`, { kind: 'blob', name: 'x/blobs/uploads', ref: SHA256 }],
      ['/v2/a/blobs/uploads/manifests/v1', { kind: 'manifest', name: 'a/blobs/uploads', ref: 'v1' }],
      ['/v2/a/manifests/tags/list', { kind: 'tags', name: 'a/manifests', ref: '' }],
      [`/v2/referrers/referrers/${SHA256}`, { kind: 'referrers', name: 'referrers', ref: SHA256 }],
      ['/v2/v2/manifests/latest', { kind: 'manifest', name: 'v2', ref: 'latest' }],
    ])('parses %s', (path, expected) => {
      expect(parseV2Path(path)).toEqual(expected);
    });
  });

  describe('invalid names', () => {
    it.each([
      ['an uppercase name', '/v2/Library/manifests/latest'],
      ['a percent-encoded slash', '/v2/a%2Fb/manifests/latest'],
      ['a percent-encoded dot-dot', '/v2/%2e%2e/a/manifests/latest'],
      ['a dot-dot component', '/v2/a/../b/manifests/latest'],
      ['a dot component', '/v2/a/./b/tags/list'],
      ['an empty component', '/v2/a//b/blobs/uploads/'],
      ['an empty name', '/v2//manifests/latest'],
      ['a trailing separator', `/v2/a-/blobs/${SHA256}`],
      ['a name over 255 characters', `/v2/${'a'.repeat(256)}/tags/list`],
    ])('rejects %s with NAME_INVALID', (_, path) => {
      expectOciError(() => parseV2Path(path), 'NAME_INVALID', 400);
    });

    it('checks the name before the upload id', () => {
      expectOciError(() => parseV2Path('/v2/A/blobs/uploads/bad.id'), 'NAME_INVALID');
    });
  });

  describe('invalid upload ids', () => {
    it.each([
      ['a dot', '/v2/a/blobs/uploads/bad.id'],
      ['a percent-encoded character', '/v2/a/blobs/uploads/id%20x'],
      ['a colon', '/v2/a/blobs/uploads/id:x'],
      ['65 characters', `/v2/a/blobs/uploads/${'a'.repeat(65)}`],
    ])('rejects an id with %s with BLOB_UPLOAD_UNKNOWN', (_, path) => {
      expectOciError(() => parseV2Path(path), 'BLOB_UPLOAD_UNKNOWN', 404);
    });

    it('accepts an id of 64 characters', () => {
      expect(parseV2Path(`/v2/a/blobs/uploads/${'a'.repeat(64)}`)).toEqual({ kind: 'upload', name: 'a', ref: 'a'.repeat(64) });
    });
  });

  describe('paths that are not repository routes', () => {
    it.each([
      ['the root', '/'],
      ['/v2 without a slash', '/v2'],
      ['the base endpoint', '/v2/'],
      ['the catalog', '/v2/_catalog'],
      ['another API version', '/v3/a/manifests/latest'],
      ['a path that only looks like v2', '/v20/a/manifests/latest'],
      ['a relative path', 'v2/a/manifests/latest'],
      ['a health check', '/healthz'],
      ['a bare repository', '/v2/a'],
      ['an unknown kind', '/v2/a/unknown/x'],
      ['a manifest route without a name', '/v2/manifests/latest'],
      ['a tag route without a name', '/v2/tags/list'],
      ['a tag list with a trailing slash', '/v2/a/tags/list/'],
      ['tags without list', '/v2/a/tags/other'],
      ['a blob route with an extra segment', `/v2/a/blobs/${SHA256}/extra`],
    ])('answers undefined for %s', (_, path) => {
      expect(parseV2Path(path)).toBeUndefined();
    });
  });
});

describe(v2PathOf.name, () => {
  const request = (path: string): V2Request => ({ path }) as unknown as V2Request;

  it('parses the request path once and caches the result on the request', () => {
    const req = request('/v2/a/b/tags/list');
    const first = v2PathOf(req);
    expect(first).toEqual({ kind: 'tags', name: 'a/b', ref: '' });
    expect(req.v2).toBe(first);
    expect(v2PathOf(req)).toBe(first);
  });

  it('answers undefined for a non-repository path and caches nothing', () => {
    const req = request('/v2/');
    expect(v2PathOf(req)).toBeUndefined();
    expect(req.v2).toBeUndefined();
  });
});
