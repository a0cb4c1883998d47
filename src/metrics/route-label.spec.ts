import { parseV2Path, V2_ROUTES } from '../common/oci/v2-path';
import { routeLabel, templateLabel, UNMATCHED_ROUTE, V2_ROUTE_LABELS } from './route-label';

const SHA256 = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe(routeLabel.name, () => {
  describe('repository routes: the template of their V2 kind, never the name or reference', () => {
    it.each([
      [`/v2/a/blobs/${SHA256}`, '/v2/{name}/blobs/{digest}'],
      [`/v2/a/b/c/blobs/${SHA256}`, '/v2/{name}/blobs/{digest}'],
      [`/v2/a/b/c/blobs/${SHA256}?ns=docker.io`, '/v2/{name}/blobs/{digest}'],
      ['/v2/a/manifests/latest', '/v2/{name}/manifests/{reference}'],
      [`/v2/a/b/c/manifests/${SHA256}`, '/v2/{name}/manifests/{reference}'],
      ['/v2/a/b/c/blobs/uploads/', '/v2/{name}/blobs/uploads/'],
      ['/v2/a/b/c/blobs/uploads', '/v2/{name}/blobs/uploads/'],
      [`/v2/a/b/c/blobs/uploads/?digest=${SHA256}`, '/v2/{name}/blobs/uploads/'],
      ['/v2/a/b/c/blobs/uploads/3f2c-9A_b', '/v2/{name}/blobs/uploads/{uploadId}'],
      ['/v2/a/b/c/blobs/uploads/3f2c-9A_b?_state=x', '/v2/{name}/blobs/uploads/{uploadId}'],
      ['/v2/a/b/c/tags/list?n=10&last=v1', '/v2/{name}/tags/list'],
      [`/v2/a/b/c/referrers/${SHA256}`, '/v2/{name}/referrers/{digest}'],
      // Names made of route words: the kind comes from the v2 parse, not from the first match.
      ['/v2/blobs/uploads/manifests/latest', '/v2/{name}/manifests/{reference}'],
      ['/v2/tags/list/tags/list', '/v2/{name}/tags/list'],
    ])('labels %s as %s', (url, label) => {
      expect(routeLabel({ originalUrl: url, route: { path: '/ignored/:x' } })).toBe(label);
    });

    it('prefers the parse the guard or controller left on the request', () => {
      const v2 = parseV2Path('/v2/a/b/c/manifests/latest')!;
      expect(routeLabel({ originalUrl: '/somewhere/else', v2 })).toBe('/v2/{name}/manifests/{reference}');
    });

    it('labels a path that fails the name grammar by the route Express matched, in the same notation', () => {
      expect(routeLabel({ originalUrl: `/v2/A..B/blobs/${SHA256}`, route: { path: V2_ROUTES.blob } })).toBe(V2_ROUTE_LABELS.blob);
      expect(routeLabel({ originalUrl: '/v2/a/blobs/uploads/bad%2Fid', route: { path: V2_ROUTES.upload } })).toBe(V2_ROUTE_LABELS.upload);
    });

    it('labels an invalid name that matched no route as unmatched', () => {
      expect(routeLabel({ originalUrl: '/v2/UPPER/manifests/latest' })).toBe(UNMATCHED_ROUTE);
    });
  });

  describe('other routes: the matched template', () => {
    it.each([
      ['/v2/', '/v2{/}', '/v2/'],
      ['/v2', '/v2{/}', '/v2/'],
      ['/v2/_catalog?n=5', '/v2/_catalog', '/v2/_catalog'],
      ['/token?service=x&scope=repository:a/b:pull', '/token', '/token'],
      ['/api/v1/users/alice/tokens/42', '/api/v1/users/:name/tokens/:id', '/api/v1/users/{name}/tokens/{id}'],
      ['/metrics', '/metrics', '/metrics'],
    ])('labels %s (route %s) as %s', (url, template, label) => {
      expect(routeLabel({ originalUrl: url, route: { path: template } })).toBe(label);
    });
  });

  describe('nothing matched', () => {
    it.each([
      ['no route at all', undefined],
      ['the catch-all route of a middleware (Nest mounts them with all())', '/{*path}'],
      ['a bare wildcard', '*path'],
      ['a rooted wildcard', '/*path'],
      ['a route object without a string path', 42],
    ])('labels %s as unmatched', (_, path) => {
      const route = path === undefined ? undefined : { path };
      expect(routeLabel({ originalUrl: '/no/such/thing/sha256:abc', route })).toBe(UNMATCHED_ROUTE);
      expect(routeLabel({ originalUrl: '/v2/a/b/c/nothing', route })).toBe(UNMATCHED_ROUTE);
    });
  });
});

describe(templateLabel.name, () => {
  it.each([
    ['/v2/*name/blobs/:digest', '/v2/{name}/blobs/{digest}'],
    ['/v2/*name/blobs/uploads{/}', '/v2/{name}/blobs/uploads/'],
    ['/v2{/}', '/v2/'],
    ['/a/:b{.:ext}', '/a/{b}.{ext}'],
    ['/plain', '/plain'],
  ])('turns %s into %s', (template, label) => {
    expect(templateLabel(template)).toBe(label);
  });

  it('gives every V2 kind a label with no raw parameter syntax left', () => {
    for (const label of Object.values(V2_ROUTE_LABELS)) expect(label).toMatch(/^\/v2\/\{name\}\/[a-z/{}A-Z]*$/);
  });
});
