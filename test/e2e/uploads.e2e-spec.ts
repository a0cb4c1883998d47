import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  abortMidBody,
  blobFile,
  deterministicBytes,
  errorCodes,
  fileSize,
  filesUnder,
  OciClient,
  pathAndQuery,
  rawRequest,
  sha256,
  uploadDataFile,
} from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';

jest.setTimeout(30_000);

describe('blob uploads (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;

  beforeAll(async () => {
    registry = await startRegistry();
    client = new OciClient(registry.url);
  });
  afterAll(async () => {
    await registry.stop();
  });

  async function patch(location: string, chunk: Buffer, range?: [number, number]): Promise<Response> {
    return client.fetch(location, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', ...(range && { 'Content-Range': `${range[0]}-${range[1]}` }) },
      body: chunk,
    });
  }

  async function put(location: string, digest: string | undefined, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
    const url = digest === undefined ? client.url(location) : client.withQuery(location, { digest });
    return fetch(url, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', ...headers }, ...(body && { body }) });
  }

  async function expectBlob(repo: string, data: Buffer): Promise<void> {
    const res = await client.fetch(`/v2/${repo}/blobs/${sha256(data)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-content-digest')).toBe(sha256(data));
    expect(res.headers.get('content-length')).toBe(String(data.length));
    const body = Buffer.from(await res.arrayBuffer());
    expect(sha256(body)).toBe(sha256(data));
  }

  it('opens a session on POST with 202, Location, Docker-Upload-UUID and Range', async () => {
    const res = await client.fetch('/v2/up/basic/blobs/uploads/', { method: 'POST' });
    expect(res.status).toBe(202);
    const location = res.headers.get('location');
    const uuid = res.headers.get('docker-upload-uuid');
    expect(location).toBeTruthy();
    expect(uuid).toBeTruthy();
    expect(new URL(location!, registry.url).pathname).toBe(`/v2/up/basic/blobs/uploads/${uuid}`);
    expect(res.headers.get('range')).toBe('0-0');
    const second = await client.fetch('/v2/up/basic/blobs/uploads/', { method: 'POST' });
    expect(second.headers.get('location')).not.toBe(location); // every session is unique
  });

  it('accepts a monolithic POST ?digest= with the body (201, Location of the blob)', async () => {
    const data = deterministicBytes(2048, 'monolithic');
    const res = await client.fetch(`/v2/up/mono/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: data });
    expect(res.status).toBe(201);
    expect(new URL(res.headers.get('location')!, registry.url).pathname).toBe(`/v2/up/mono/blobs/${sha256(data)}`);
    expect(res.headers.get('docker-content-digest')).toBe(sha256(data));
    await expectBlob('up/mono', data);
  });

  it('refuses a monolithic POST whose body does not match ?digest= and stores nothing', async () => {
    const data = deterministicBytes(100, 'mono-bad');
    const claimed = sha256('something else');
    const res = await client.fetch(`/v2/up/mono-bad/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: data });
    expect(res.status).toBe(400);
    expect(await errorCodes(res)).toEqual(['DIGEST_INVALID']);
    for (const d of [claimed, sha256(data)]) {
      expect(fs.existsSync(blobFile(registry.dataDir, d))).toBe(false);
    }
  });

  it('completes POST + PUT carrying the whole body', async () => {
    const data = deterministicBytes(4096, 'post-put');
    const location = await client.startUpload('up/postput');
    const res = await put(location, sha256(data), data);
    expect(res.status).toBe(201);
    expect(new URL(res.headers.get('location')!, registry.url).pathname).toBe(`/v2/up/postput/blobs/${sha256(data)}`);
    expect(res.headers.get('docker-content-digest')).toBe(sha256(data));
    await expectBlob('up/postput', data);
  });

  it('appends several PATCH chunks with Content-Range, each answered with 202 and the inclusive Range', async () => {
    const data = deterministicBytes(10_000, 'chunked');
    let location = await client.startUpload('up/chunked');
    for (const [start, end] of [
      [0, 3332],
      [3333, 6665],
      [6666, 9999],
    ] as const) {
      const res = await patch(location, data.subarray(start, end + 1), [start, end]);
      expect(res.status).toBe(202);
      expect(res.headers.get('range')).toBe(`0-${end}`);
      expect(res.headers.get('docker-upload-uuid')).toBeTruthy();
      location = res.headers.get('location')!;
      expect(location).toBeTruthy();
    }
    const res = await put(location, sha256(data));
    expect(res.status).toBe(201);
    await expectBlob('up/chunked', data);
  });

  it('accepts a streamed PATCH without Content-Range', async () => {
    const data = deterministicBytes(50_000, 'streamed');
    const location = await client.startUpload('up/streamed');
    const first = await patch(location, data.subarray(0, 20_000));
    expect(first.status).toBe(202);
    expect(first.headers.get('range')).toBe('0-19999');
    const second = await patch(first.headers.get('location')!, data.subarray(20_000));
    expect(second.status).toBe(202);
    expect(second.headers.get('range')).toBe('0-49999');
    expect((await put(second.headers.get('location')!, sha256(data))).status).toBe(201);
    await expectBlob('up/streamed', data);
  });

  it('accepts a streamed PATCH with chunked transfer encoding (no Content-Length)', async () => {
    const data = deterministicBytes(300_000, 'transfer-chunked');
    const location = await client.startUpload('up/te-chunked');
    function* pieces(): Generator<Buffer> {
      for (let i = 0; i < data.length; i += 7_777) yield data.subarray(i, Math.min(i + 7_777, data.length));
    }
    const res = await rawRequest(registry.url, { method: 'PATCH', path: pathAndQuery(location), headers: { 'Content-Type': 'application/octet-stream' }, body: pieces() });
    expect(res.status).toBe(202);
    expect(res.headers['range']).toBe(`0-${data.length - 1}`);
    expect((await put(res.headers['location']!, sha256(data))).status).toBe(201);
    await expectBlob('up/te-chunked', data);
  });

  it('answers an out-of-order chunk with 416 and the current Range, and the session goes on', async () => {
    const data = deterministicBytes(3000, 'out-of-order');
    const location = await client.startUpload('up/ooo');
    expect((await patch(location, data.subarray(0, 1000), [0, 999])).status).toBe(202);
    const gap = await patch(location, data.subarray(2000), [2000, 2999]);
    expect(gap.status).toBe(416);
    expect(gap.headers.get('range')).toBe('0-999');
    expect(gap.headers.get('location')).toBeTruthy();
    await gap.arrayBuffer();
    const overlap = await patch(location, data.subarray(500, 1500), [500, 1499]);
    expect(overlap.status).toBe(416);
    expect(overlap.headers.get('range')).toBe('0-999');
    await overlap.arrayBuffer();
    const status = await client.fetch(location);
    expect(status.headers.get('range')).toBe('0-999');
    expect((await patch(location, data.subarray(1000), [1000, 2999])).status).toBe(202);
    expect((await put(location, sha256(data))).status).toBe(201);
    await expectBlob('up/ooo', data);
  });

  it('answers GET on the session with 204, Location and Range', async () => {
    const location = await client.startUpload('up/status');
    const empty = await client.fetch(location);
    expect(empty.status).toBe(204);
    expect(empty.headers.get('range')).toBe('0-0');
    expect(empty.headers.get('location')).toBeTruthy();
    await patch(location, deterministicBytes(1234, 'status'), [0, 1233]);
    const res = await client.fetch(location);
    expect(res.status).toBe(204);
    expect(res.headers.get('range')).toBe('0-1233');
    expect(res.headers.get('docker-upload-uuid')).toBeTruthy();
    expect(new URL(res.headers.get('location')!, registry.url).pathname).toBe(new URL(location, registry.url).pathname);
  });

  it('accepts the final chunk in the closing PUT (with and without Content-Range)', async () => {
    const data = deterministicBytes(6000, 'final-chunk');
    const a = await client.startUpload('up/final');
    await patch(a, data.subarray(0, 4000), [0, 3999]);
    const withRange = await put(a, sha256(data), data.subarray(4000), { 'Content-Range': '4000-5999' });
    expect(withRange.status).toBe(201);
    await expectBlob('up/final', data);

    const other = deterministicBytes(6000, 'final-chunk-2');
    const b = await client.startUpload('up/final');
    await patch(b, other.subarray(0, 10));
    const without = await put(b, sha256(other), other.subarray(10));
    expect(without.status).toBe(201);
    await expectBlob('up/final', other);
  });

  it('refuses a PUT whose digest does not match with 400 DIGEST_INVALID and stores no blob', async () => {
    const data = deterministicBytes(2000, 'mismatch');
    const claimed = sha256('not the content');
    const location = await client.startUpload('up/mismatch');
    await patch(location, data, [0, 1999]);
    const res = await put(location, claimed);
    expect(res.status).toBe(400);
    expect(await errorCodes(res)).toEqual(['DIGEST_INVALID']);
    for (const d of [claimed, sha256(data)]) {
      const head = await client.fetch(`/v2/up/mismatch/blobs/${d}`, { method: 'HEAD' });
      expect(head.status).toBe(404);
      expect(fs.existsSync(blobFile(registry.dataDir, d))).toBe(false);
    }
  });

  it('refuses a PUT without a digest with 400', async () => {
    const location = await client.startUpload('up/nodigest');
    await patch(location, Buffer.from('abc'), [0, 2]);
    const res = await put(location, undefined);
    expect(res.status).toBe(400);
    expect(await errorCodes(res)).toEqual(['DIGEST_INVALID']);
    expect((await client.fetch(location)).status).toBe(204); // the session survives
  });

  it('refuses a PUT with a malformed digest with 400 DIGEST_INVALID', async () => {
    const location = await client.startUpload('up/baddigest');
    const res = await put(location, 'sha256:nothex');
    expect(res.status).toBe(400);
    expect(await errorCodes(res)).toEqual(['DIGEST_INVALID']);
  });

  it('cancels a session on DELETE with 204; it is then 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await client.startUpload('up/cancel');
    await patch(location, Buffer.from('some bytes'), [0, 9]);
    const staged = uploadDataFile(registry.dataDir, location);
    expect(fs.existsSync(staged)).toBe(true);
    const del = await client.fetch(location, { method: 'DELETE' });
    expect(del.status).toBe(204);
    const get = await client.fetch(location);
    expect(get.status).toBe(404);
    expect(await errorCodes(get)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    const again = await patch(location, Buffer.from('more'), [10, 13]);
    expect(again.status).toBe(404);
    expect(await errorCodes(again)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    expect(fs.existsSync(path.dirname(staged))).toBe(false); // staged bytes are gone
  });

  it('answers an upload id used under another repository with 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await client.startUpload('up/owner');
    await patch(location, Buffer.from('0123456789'), [0, 9]);
    const foreign = new URL(location, registry.url).pathname.replace('/v2/up/owner/', '/v2/up/intruder/');
    await client.pushBlob('up/intruder', Buffer.from('exists')); // the other repository exists
    for (const init of [{}, { method: 'PATCH', body: Buffer.from('x') }, { method: 'DELETE' }] as RequestInit[]) {
      const res = await client.fetch(foreign, init);
      expect(res.status).toBe(404);
      expect(await errorCodes(res)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    }
    const putRes = await put(foreign, sha256('0123456789'));
    expect(putRes.status).toBe(404);
    expect(await errorCodes(putRes)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    const own = await client.fetch(location);
    expect(own.status).toBe(204);
    expect(own.headers.get('range')).toBe('0-9');
  });

  it('stores a 0-byte blob (session and monolithic)', async () => {
    const empty = Buffer.alloc(0);
    const location = await client.startUpload('up/empty');
    const res = await put(location, sha256(empty));
    expect(res.status).toBe(201);
    const get = await client.fetch(`/v2/up/empty/blobs/${sha256(empty)}`);
    expect(get.status).toBe(200);
    expect(get.headers.get('content-length')).toBe('0');
    expect(get.headers.get('docker-content-digest')).toBe(sha256(empty));
    expect((await get.arrayBuffer()).byteLength).toBe(0);
    const mono = await client.fetch(`/v2/up/empty2/blobs/uploads/?digest=${sha256(empty)}`, { method: 'POST' });
    expect(mono.status).toBe(201);
    const head = await client.fetch(`/v2/up/empty2/blobs/${sha256(empty)}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('0');
  });

  describe('cross-repository mount', () => {
    const data = deterministicBytes(1500, 'mount');
    const digest = sha256(data);
    beforeAll(async () => {
      await client.pushBlob('mount/source', data);
    });

    it('mounts a blob linked in `from` with 201 and the blob Location', async () => {
      const res = await client.fetch(`/v2/mount/target/blobs/uploads/?mount=${digest}&from=mount/source`, { method: 'POST' });
      expect(res.status).toBe(201);
      expect(new URL(res.headers.get('location')!, registry.url).pathname).toBe(`/v2/mount/target/blobs/${digest}`);
      expect(res.headers.get('docker-content-digest')).toBe(digest);
      await expectBlob('mount/target', data);
    });

    it('opens an upload session (202) when the blob is not linked in `from`', async () => {
      await client.pushBlob('mount/elsewhere', deterministicBytes(10, 'mount-elsewhere'));
      const res = await client.fetch(`/v2/mount/target2/blobs/uploads/?mount=${digest}&from=mount/elsewhere`, { method: 'POST' });
      expect(res.status).toBe(202);
      const location = res.headers.get('location')!;
      expect(new URL(location, registry.url).pathname).toMatch(/^\/v2\/mount\/target2\/blobs\/uploads\/[A-Za-z0-9_-]+$/);
      expect((await client.fetch(`/v2/mount/target2/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
      // the session is a real one
      expect((await put(location, digest, data)).status).toBe(201);
      await expectBlob('mount/target2', data);
    });

    it('opens an upload session (202) for a blob the registry does not have', async () => {
      const res = await client.fetch(`/v2/mount/target3/blobs/uploads/?mount=${sha256('unknown')}&from=mount/source`, { method: 'POST' });
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toBeTruthy();
    });

    it('mounts an existing blob without `from` with 201', async () => {
      const res = await client.fetch(`/v2/mount/anonymous/blobs/uploads/?mount=${digest}`, { method: 'POST' });
      expect(res.status).toBe(201);
      expect(new URL(res.headers.get('location')!, registry.url).pathname).toBe(`/v2/mount/anonymous/blobs/${digest}`);
      await expectBlob('mount/anonymous', data);
    });
  });

  it('leaves the session at its previous offset when a Content-Range PATCH is cut off mid-body, and it continues', async () => {
    const data = deterministicBytes(400_000, 'interrupted-range');
    const location = await client.startUpload('up/interrupted');
    expect((await patch(location, data.subarray(0, 100_000), [0, 99_999])).status).toBe(202);
    const staged = uploadDataFile(registry.dataDir, location);
    await abortMidBody(
      registry.url,
      { method: 'PATCH', path: pathAndQuery(location), headers: { 'Content-Range': '100000-399999' }, declaredLength: 300_000, head: data.subarray(100_000, 250_000) },
      () => fileSize(staged) >= 250_000,
    );
    const status = await client.fetch(location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-99999');
    const rest = await patch(location, data.subarray(100_000), [100_000, 399_999]);
    expect(rest.status).toBe(202);
    expect(rest.headers.get('range')).toBe('0-399999');
    expect((await put(location, sha256(data))).status).toBe(201);
    await expectBlob('up/interrupted', data);
  });

  it('leaves the session at its previous offset when a streamed PATCH is cut off mid-body, and it continues', async () => {
    const data = deterministicBytes(400_000, 'interrupted-stream');
    const location = await client.startUpload('up/interrupted');
    expect((await patch(location, data.subarray(0, 100_000))).status).toBe(202);
    const staged = uploadDataFile(registry.dataDir, location);
    await abortMidBody(
      registry.url,
      { method: 'PATCH', path: pathAndQuery(location), declaredLength: 300_000, head: data.subarray(100_000, 250_000) },
      () => fileSize(staged) >= 250_000,
    );
    // The next chunk queues behind the aborted one, so this also proves the abort released it.
    const rest = await patch(location, data.subarray(100_000));
    expect(rest.status).toBe(202);
    expect(rest.headers.get('range')).toBe('0-399999');
    expect((await put(location, sha256(data))).status).toBe(201);
    await expectBlob('up/interrupted', data);
  });
});

describe('blob uploads under concurrency and restarts (e2e)', () => {
  it('stores a blob pushed by 8 concurrent clients exactly once', async () => {
    const registry = await startRegistry();
    try {
      const client = new OciClient(registry.url);
      const data = deterministicBytes(512 * 1024, 'concurrent');
      const digest = sha256(data);
      const statuses = await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          if (i % 2 === 0) {
            const res = await client.fetch(`/v2/conc/repo/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data });
            return res.status;
          }
          const location = await client.startUpload('conc/repo');
          const chunk = await client.fetch(location, { method: 'PATCH', headers: { 'Content-Range': `0-${data.length / 2 - 1}` }, body: data.subarray(0, data.length / 2) });
          if (chunk.status !== 202) return chunk.status;
          const res = await fetch(client.withQuery(chunk.headers.get('location')!, { digest }), { method: 'PUT', body: data.subarray(data.length / 2) });
          return res.status;
        }),
      );
      expect(statuses).toEqual(Array(8).fill(201));
      const blobsRoot = path.join(registry.dataDir, 'storage', 'blobs');
      expect(filesUnder(blobsRoot)).toEqual([path.relative(blobsRoot, blobFile(registry.dataDir, digest)).split(path.sep).join('/')]);
      expect(filesUnder(path.join(registry.dataDir, 'storage', 'uploads'))).toEqual([]);
      expect(sha256(await client.getBlob('conc/repo', digest))).toBe(digest);
    } finally {
      await registry.stop();
    }
  });

  it('resumes an upload after a registry restart from the offset it had reached', async () => {
    const first = await startRegistry();
    let second: RunningRegistry | undefined;
    try {
      const data = deterministicBytes(200_000, 'restart');
      const digest = sha256(data);
      const before = new OciClient(first.url);
      const location = await before.startUpload('restart/repo');
      const chunk = await before.fetch(location, { method: 'PATCH', headers: { 'Content-Range': '0-119999' }, body: data.subarray(0, 120_000) });
      expect(chunk.status).toBe(202);
      await first.close();

      second = await startRegistry({ dataDir: first.dataDir });
      const after = new OciClient(second.url);
      const status = await after.fetch(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-119999');
      const rest = await after.fetch(location, { method: 'PATCH', headers: { 'Content-Range': '120000-199999' }, body: data.subarray(120_000) });
      expect(rest.status).toBe(202);
      expect(rest.headers.get('range')).toBe('0-199999');
      const put = await fetch(after.withQuery(location, { digest }), { method: 'PUT' });
      expect(put.status).toBe(201);
      expect(put.headers.get('docker-content-digest')).toBe(digest);
      expect(sha256(await after.getBlob('restart/repo', digest))).toBe(digest);
    } finally {
      await second?.close();
      await first.stop();
    }
  });
});
