/**
 * Connection and request limits of the HTTP server (in process, real sockets):
 * - REGISTRY_HEADERS_TIMEOUT bounds the time to send the header block (slow-loris), while a
 *   slow but steady body is never cut: there is no total request timeout;
 * - REGISTRY_IDLE_TIMEOUT cuts a connection that goes silent, mid-body included;
 * - REGISTRY_MAX_URL_BYTES (414) and REGISTRY_MAX_HEADER_BYTES (431);
 * - REGISTRY_MAX_CONCURRENT_UPLOADS: one upload request too many answers 429 with Retry-After.
 * The manifest body limit (413) is covered by manifests.e2e-spec.ts.
 */
import * as net from 'node:net';
import { deterministicBytes, errorCodes, fileSize, OciClient, parseErrorBody, pathAndQuery, rawRequest, sha256, uploadDataFile, waitFor } from '../utils/oci-client';
import { chunksOf, streamingRequest } from '../utils/slow-http';
import { RunningRegistry, startRegistry } from '../utils/start-registry';

jest.setTimeout(30_000);

const KIB = 1024;

interface RawExchange {
  /** Everything the server wrote, as latin1. */
  received: string;
  /** Request bytes written before the server closed the connection. */
  sent: number;
  /** ms from connecting until the connection closed. */
  closedAfterMs: number;
}

/**
 * Writes `request` over a bare socket, `bytesPerTick` bytes every `intervalMs` (all at once
 * when intervalMs is 0), and records what the server answers until it closes the connection.
 */
function rawExchange(port: number, request: string, intervalMs: number, bytesPerTick = 1): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const bytes = Buffer.from(request, 'latin1');
    const chunks: Buffer[] = [];
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    const tick = (): void => {
      if (socket.destroyed || sent >= bytes.length) return;
      const next = intervalMs === 0 ? bytes.length : Math.min(bytes.length, sent + bytesPerTick);
      socket.write(bytes.subarray(sent, next));
      sent = next;
      if (intervalMs > 0) timer = setTimeout(tick, intervalMs);
    };
    socket.once('connect', tick);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks).toString('latin1'), sent, closedAfterMs: Date.now() - started });
    });
    // A safety net: the test fails on its own expectations, not on a socket left open forever.
    setTimeout(() => socket.destroy(), 20_000).unref();
  });
}

describe('HTTP server limits (e2e)', () => {
  describe('timeouts: REGISTRY_HEADERS_TIMEOUT=1, REGISTRY_IDLE_TIMEOUT=2', () => {
    let registry: RunningRegistry;
    let client: OciClient;

    beforeAll(async () => {
      registry = await startRegistry({ env: { REGISTRY_HEADERS_TIMEOUT: '1', REGISTRY_IDLE_TIMEOUT: '2' } });
      client = new OciClient(registry.url);
    });
    afterAll(async () => {
      await registry.stop();
    });

    it('closes a slow-loris connection (one header byte every 300 ms) within ~2 s, while a slow but steady upload running at the same time completes with 202', async () => {
      const location = await client.startUpload('limits/steady');
      const data = deterministicBytes(20 * 8 * KIB, 'steady'); // 8 KiB every 200 ms: ~4 s, longer than both timeouts
      const started = Date.now();
      const upload = streamingRequest(registry.url, {
        method: 'PATCH',
        path: pathAndQuery(location),
        headers: { 'Content-Type': 'application/octet-stream' },
        chunks: chunksOf(data, 8 * KIB),
        intervalMs: 200,
      });
      const header = `GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:${registry.port}\r\nUser-Agent: slow-loris\r\nAccept: */*\r\n\r\n`;
      const loris = await rawExchange(registry.port, header, 300);

      // Closed by the server: about 1 s of headers timeout plus the check interval, long before the header block was complete.
      expect(loris.closedAfterMs).toBeGreaterThanOrEqual(900);
      expect(loris.closedAfterMs).toBeLessThan(10_000); // generous for a loaded CI box; the whole header block would take ~24 s
      expect(loris.sent).toBeLessThan(header.length);
      expect(loris.received).toMatch(/^(HTTP\/1\.1 408 |$)/); // never served: Node answers 408 (or just closes)

      expect(upload.settledAt()).toBeUndefined(); // the upload was still going when the loris was cut
      const res = await upload.response;
      expect(res.status).toBe(202);
      expect(res.headers['range']).toBe(`0-${data.length - 1}`);
      expect(upload.settledAt()! - started).toBeGreaterThan(3500);

      const put = await client.fetch(client.withQuery(res.headers['location'] as string, { digest: sha256(data) }), { method: 'PUT' });
      expect(put.status).toBe(201);
      expect((await client.getBlob('limits/steady', sha256(data))).equals(data)).toBe(true);
    });

    it('cuts a connection that sends the headers and part of the body, then stays silent longer than REGISTRY_IDLE_TIMEOUT; the session keeps its previous offset', async () => {
      const location = await client.startUpload('limits/silent');
      const data = deterministicBytes(100_000, 'silent');
      const first = await client.fetch(location, { method: 'PATCH', headers: { 'Content-Range': '0-9999' }, body: data.subarray(0, 10_000) });
      expect(first.status).toBe(202);
      const staged = uploadDataFile(registry.dataDir, location);

      const started = Date.now();
      const silent = streamingRequest(registry.url, {
        method: 'PATCH',
        path: pathAndQuery(first.headers.get('location')!),
        headers: { 'Content-Type': 'application/octet-stream' },
        chunks: [data.subarray(10_000, 10_000 + 8 * KIB)],
        intervalMs: 0,
        declaredLength: data.length - 10_000,
        end: false,
      });
      await waitFor(() => fileSize(staged) >= 10_000 + 8 * KIB, 5000, 'the server to stage the first bytes');
      await expect(silent.response).rejects.toThrow(/socket hang up|ECONNRESET/);
      const cutAfter = silent.settledAt()! - started;
      expect(cutAfter).toBeGreaterThanOrEqual(1900);
      expect(cutAfter).toBeLessThan(10_000); // the idle timeout (2 s) cut it; margin for a loaded CI box

      const status = await client.fetch(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-9999');
    });
  });

  describe('sizes: REGISTRY_MAX_URL_BYTES=1024, REGISTRY_MAX_HEADER_BYTES=4096', () => {
    let registry: RunningRegistry;

    beforeAll(async () => {
      registry = await startRegistry({ env: { REGISTRY_MAX_URL_BYTES: '1024', REGISTRY_MAX_HEADER_BYTES: '4096' } });
    });
    afterAll(async () => {
      await registry.stop();
    });

    const urlOfLength = (length: number): string => {
      const base = '/v2/limits/repo/tags/list?pad=';
      return base + 'a'.repeat(length - base.length);
    };

    it('answers a URL longer than REGISTRY_MAX_URL_BYTES with 414 and a JSON error body', async () => {
      const res = await rawRequest(registry.url, { method: 'GET', path: urlOfLength(1025) });
      expect(res.status).toBe(414);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const errors = parseErrorBody(res.body.toString());
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(/1024/);
    });

    it('serves a URL of exactly REGISTRY_MAX_URL_BYTES', async () => {
      const res = await rawRequest(registry.url, { method: 'GET', path: urlOfLength(1024) });
      expect(res.status).toBe(404); // the repository does not exist: routed and answered, not refused for its length
      expect(parseErrorBody(res.body.toString()).map((e) => e.code)).toEqual(['NAME_UNKNOWN']);
    });

    it('answers a header block larger than REGISTRY_MAX_HEADER_BYTES with 431 and closes the connection', async () => {
      const request = `GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:${registry.port}\r\nX-Padding: ${'p'.repeat(5000)}\r\n\r\n`;
      const answer = await rawExchange(registry.port, request, 0);
      expect(answer.received).toMatch(/^HTTP\/1\.1 431 /);
    });

    it('serves a header block under REGISTRY_MAX_HEADER_BYTES', async () => {
      const res = await rawRequest(registry.url, { method: 'GET', path: '/v2/', headers: { 'X-Padding': 'p'.repeat(3000) } });
      expect(res.status).toBe(200);
    });
  });

  describe('REGISTRY_MAX_CONCURRENT_UPLOADS=1', () => {
    let registry: RunningRegistry;
    let client: OciClient;

    beforeAll(async () => {
      registry = await startRegistry({ env: { REGISTRY_MAX_CONCURRENT_UPLOADS: '1' } });
      client = new OciClient(registry.url);
    });
    afterAll(async () => {
      await registry.stop();
    });

    it('answers another upload request with 429 TOOMANYREQUESTS and Retry-After while one PATCH streams, and serves it once that PATCH is done', async () => {
      const location = await client.startUpload('limits/slots');
      const data = deterministicBytes(12 * 16 * KIB, 'slots');
      const blob = deterministicBytes(4 * KIB, 'slots-other');
      const staged = uploadDataFile(registry.dataDir, location);
      const first = streamingRequest(registry.url, {
        method: 'PATCH',
        path: pathAndQuery(location),
        headers: { 'Content-Type': 'application/octet-stream' },
        chunks: chunksOf(data, 16 * KIB),
        intervalMs: 150,
      });
      await waitFor(() => fileSize(staged) > 0, 5000, 'the first PATCH to be under way');

      const start = await client.fetch('/v2/limits/other/blobs/uploads/', { method: 'POST' });
      expect(start.status).toBe(429);
      expect(start.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(await errorCodes(start)).toEqual(['TOOMANYREQUESTS']);
      const monolithic = await client.fetch(`/v2/limits/other/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob });
      expect(monolithic.status).toBe(429);
      expect(monolithic.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      await monolithic.arrayBuffer();
      // Reads are not upload requests: the session's status is served meanwhile.
      expect((await client.fetch(location)).status).toBe(204);
      expect(first.settledAt()).toBeUndefined();

      const res = await first.response;
      expect(res.status).toBe(202);
      expect(res.headers['range']).toBe(`0-${data.length - 1}`);

      expect(await client.pushBlob('limits/other', blob)).toBe(sha256(blob));
      const again = await client.fetch('/v2/limits/other/blobs/uploads/', { method: 'POST' });
      expect(again.status).toBe(202);
    });
  });
});
