import { deterministicBytes, errorCodes, OciClient, sha256, sha512 } from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';

jest.setTimeout(30_000);

describe('blobs (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;
  /** 3000 bytes: 2000-5000 runs past its end, 5000-10000 starts past it. */
  const data = deterministicBytes(3000, 'blobs-range');
  let digest: string;

  beforeAll(async () => {
    registry = await startRegistry();
    client = new OciClient(registry.url);
    digest = await client.pushBlob('blobs/a', data);
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('serves GET with the exact bytes, Content-Length, Docker-Content-Digest and ETag', async () => {
    const res = await client.fetch(`/v2/blobs/a/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('3000');
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(res.headers.get('etag')).toBe(`"${digest}"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
  });

  it('serves HEAD with Content-Length, Docker-Content-Digest and ETag and no body', async () => {
    const res = await client.fetch(`/v2/blobs/a/blobs/${digest}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('3000');
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(res.headers.get('etag')).toBe(`"${digest}"`);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it.each([
    ['bytes=500-1499', 500, 1499],
    ['bytes=500-', 500, 2999],
    ['bytes=-500', 2500, 2999],
    ['bytes=2000-5000', 2000, 2999],
  ])('answers Range %s with 206, the exact Content-Range, Content-Length and bytes', async (range, start, end) => {
    const res = await client.fetch(`/v2/blobs/a/blobs/${digest}`, { headers: { Range: range } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/3000`);
    expect(res.headers.get('content-length')).toBe(String(end - start + 1));
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(start, end + 1))).toBe(true);
  });

  it.each(['bytes=500-0', 'bytes=5000-10000', 'bytes=3000-'])('answers an unsatisfiable Range %s with 416', async (range) => {
    const res = await client.fetch(`/v2/blobs/a/blobs/${digest}`, { headers: { Range: range } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */3000');
    await res.arrayBuffer();
  });

  it('answers an unknown blob with 404 BLOB_UNKNOWN (GET and HEAD)', async () => {
    const unknown = sha256('never pushed');
    const res = await client.fetch(`/v2/blobs/a/blobs/${unknown}`);
    expect(res.status).toBe(404);
    expect(await errorCodes(res)).toEqual(['BLOB_UNKNOWN']);
    const head = await client.fetch(`/v2/blobs/a/blobs/${unknown}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
  });

  it('does not serve a blob linked to repository A from repository B', async () => {
    const own = deterministicBytes(100, 'isolated');
    const ownDigest = await client.pushBlob('blobs/iso-a', own);
    await client.pushBlob('blobs/iso-b', deterministicBytes(10, 'other')); // B exists
    const get = await client.fetch(`/v2/blobs/iso-b/blobs/${ownDigest}`);
    expect(get.status).toBe(404);
    expect(await errorCodes(get)).toEqual(['BLOB_UNKNOWN']);
    const head = await client.fetch(`/v2/blobs/iso-b/blobs/${ownDigest}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    const ranged = await client.fetch(`/v2/blobs/iso-b/blobs/${ownDigest}`, { headers: { Range: 'bytes=0-9' } });
    expect(ranged.status).toBe(404);
    await ranged.arrayBuffer();
    expect((await client.getBlob('blobs/iso-a', ownDigest)).equals(own)).toBe(true);
  });

  it('deletes a blob with 202, after which it is 404 in that repository only', async () => {
    const bytes = deterministicBytes(64, 'to-delete');
    const d = await client.pushBlob('blobs/del-a', bytes);
    await client.pushBlob('blobs/del-b', bytes);
    const del = await client.fetch(`/v2/blobs/del-a/blobs/${d}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    await del.arrayBuffer();
    const gone = await client.fetch(`/v2/blobs/del-a/blobs/${d}`);
    expect(gone.status).toBe(404);
    expect(await errorCodes(gone)).toEqual(['BLOB_UNKNOWN']);
    const again = await client.fetch(`/v2/blobs/del-a/blobs/${d}`, { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(await errorCodes(again)).toEqual(['BLOB_UNKNOWN']);
    expect((await client.getBlob('blobs/del-b', d)).equals(bytes)).toBe(true);
  });

  it.each(['sha256:abc', 'sha256:' + 'G'.repeat(64), 'notadigest', 'md5:' + 'a'.repeat(32), 'sha256:' + 'A'.repeat(64)])(
    'answers a malformed or unsupported digest %s with 400 DIGEST_INVALID',
    async (bad) => {
      const res = await client.fetch(`/v2/blobs/a/blobs/${bad}`);
      expect(res.status).toBe(400);
      expect(await errorCodes(res)).toEqual(['DIGEST_INVALID']);
    },
  );

  it('pushes and pulls a sha512 blob', async () => {
    const bytes = deterministicBytes(5000, 'sha512');
    const d = await client.pushBlob('blobs/sha512', bytes, 'sha512');
    expect(d).toBe(sha512(bytes));
    const res = await client.fetch(`/v2/blobs/sha512/blobs/${d}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(d);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
    const head = await client.fetch(`/v2/blobs/sha512/blobs/${d}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('5000');
  });

  it('pushes a sha512 blob through a chunked upload session', async () => {
    const bytes = deterministicBytes(4000, 'sha512-chunked');
    const location = await client.startUpload('blobs/sha512');
    const patch = await client.fetch(location, { method: 'PATCH', headers: { 'Content-Range': '0-3999', 'Content-Type': 'application/octet-stream' }, body: bytes });
    expect(patch.status).toBe(202);
    const put = await client.fetch(client.withQuery(patch.headers.get('location')!, { digest: sha512(bytes) }), { method: 'PUT' });
    expect(put.status).toBe(201);
    expect((await client.getBlob('blobs/sha512', sha512(bytes))).equals(bytes)).toBe(true);
  });
});
