import { OciClient, parseErrorBody, rawHead, rawRequest, sha256 } from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';

jest.setTimeout(30_000);

describe('API base and error bodies (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;
  const missing = sha256('nothing here');

  beforeAll(async () => {
    registry = await startRegistry();
    client = new OciClient(registry.url);
    await client.pushImage('base/repo', 'v1');
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('answers GET /v2/ with 200 and Docker-Distribution-API-Version: registry/2.0', async () => {
    const res = await client.fetch('/v2/');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    await res.arrayBuffer();
  });

  it('keeps the connection after an error to a request without a body, and closes it when a body was left unread', async () => {
    const keepAlive = { Connection: 'keep-alive' };
    const unmatched = await rawRequest(registry.url, { method: 'GET', path: '/nope', headers: keepAlive });
    expect(unmatched.status).toBe(404);
    expect(unmatched.headers.connection).toBe('keep-alive');
    const refused = await rawRequest(registry.url, { method: 'POST', path: '/v2/Bad..Name/blobs/uploads/', headers: keepAlive, body: Buffer.alloc(64 * 1024, 1) });
    expect(refused.status).toBe(400);
    expect(refused.headers.connection).toBe('close');
  });

  it('answers GET /v2 (no trailing slash) the same way', async () => {
    const res = await client.fetch('/v2');
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    await res.arrayBuffer();
  });

  const failures: [string, string, RequestInit, number, string][] = [
    ['unknown blob', `/v2/base/repo/blobs/${missing}`, {}, 404, 'BLOB_UNKNOWN'],
    ['unknown manifest', '/v2/base/repo/manifests/nope', {}, 404, 'MANIFEST_UNKNOWN'],
    ['unknown repository', '/v2/base/none/manifests/v1', {}, 404, 'NAME_UNKNOWN'],
    ['invalid name', '/v2/Base/repo/manifests/v1', {}, 400, 'NAME_INVALID'],
    ['malformed digest', '/v2/base/repo/blobs/sha256:xyz', {}, 400, 'DIGEST_INVALID'],
    ['unknown upload', '/v2/base/repo/blobs/uploads/0a0b0c0d-1111-2222-3333-444455556666', {}, 404, 'BLOB_UPLOAD_UNKNOWN'],
    ['invalid tag', '/v2/base/repo/manifests/-bad', {}, 400, 'TAG_INVALID'],
    ['invalid page size', '/v2/base/repo/tags/list?n=abc', {}, 400, 'PAGINATION_NUMBER_INVALID'],
    ['invalid manifest', '/v2/base/repo/manifests/x', { method: 'PUT', body: 'not json', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } }, 400, 'MANIFEST_INVALID'],
  ];

  it.each(failures)('writes a JSON {"errors":[{code,message,detail}]} body for %s', async (_what, path, init, status, code) => {
    const res = await client.fetch(path, init);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    const errors = parseErrorBody(await res.text());
    expect(errors.map((e) => e.code)).toEqual([code]);
    expect(errors[0]!.message.length).toBeGreaterThan(0);
  });

  it('writes a JSON error body for a path that is no route at all', async () => {
    const res = await client.fetch('/v2/base/repo/nothing/here');
    expect(res.status).toBe(404);
    expect(parseErrorBody(await res.text()).length).toBe(1);
  });

  it('writes a JSON error body for a method a route does not have', async () => {
    const res = await client.fetch('/v2/base/repo/tags/list', { method: 'DELETE' });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(parseErrorBody(await res.text()).length).toBe(1);
  });

  it('writes a JSON error body for an unsatisfiable Range (416)', async () => {
    const image = await client.pushImage('base/range', 'v1');
    const res = await client.fetch(`/v2/base/range/blobs/${image.config.digest}`, { headers: { Range: 'bytes=99999-' } });
    expect(res.status).toBe(416);
    expect(parseErrorBody(await res.text()).length).toBe(1);
  });

  it.each([
    ['unknown blob', `/v2/base/repo/blobs/${missing}`, 404],
    ['unknown manifest', '/v2/base/repo/manifests/nope', 404],
    ['unknown repository', '/v2/base/none/manifests/v1', 404],
    ['invalid name', '/v2/Base/repo/blobs/' + missing, 400],
    ['malformed digest', '/v2/base/repo/blobs/sha256:xyz', 400],
  ])('sends no body with a HEAD error (%s)', async (_what, path, status) => {
    const raw = await rawHead(registry.port, path);
    expect(raw.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
    const end = raw.indexOf('\r\n\r\n');
    expect(end).toBeGreaterThan(0);
    expect(raw.slice(end + 4)).toBe('');
    expect(raw.toLowerCase()).toContain('docker-distribution-api-version: registry/2.0');
  });

  it('serves a repository name with several components (a/b/c)', async () => {
    const image = await client.pushImage('a/b/c', 'latest');
    const res = await rawRequest(registry.url, { method: 'GET', path: '/v2/a/b/c/manifests/latest' });
    expect(res.status).toBe(200);
    expect(res.body.equals(image.bytes)).toBe(true);
  });
});
