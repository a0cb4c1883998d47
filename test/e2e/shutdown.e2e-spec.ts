/**
 * Graceful shutdown of the real process (`node dist/main.js`, built by `npm run build`): on
 * SIGTERM or SIGINT it stops accepting connections, lets requests in flight finish (up to
 * REGISTRY_SHUTDOWN_TIMEOUT), cuts what is left, closes the app and exits 0. Uploads are durable
 * across the restart: the session and its staged bytes are on disk, and a chunk lands whole or
 * not at all, so a cut-off chunk leaves the session where its last complete chunk put it.
 */
import { deterministicBytes, fileSize, OciClient, pathAndQuery, sha256, uploadDataFile, waitFor } from '../utils/oci-client';
import { killServerProcesses, ServerProcess, startServerProcess } from '../utils/server-process';
import { chunksOf, connectionRefused, streamingRequest } from '../utils/slow-http';
import { makeTempDir, removeDir } from '../utils/temp-dir';

jest.setTimeout(60_000);

const KIB = 1024;
const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Polls an async condition every 25 ms. */
async function eventually(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('graceful shutdown of the server process (e2e)', () => {
  const dirs: string[] = [];
  const dataDir = (): string => {
    const dir = makeTempDir('registry-shutdown-');
    dirs.push(dir);
    return dir;
  };

  afterEach(() => killServerProcesses()); // a failed test must not leave a server behind
  afterAll(() => {
    killServerProcesses();
    for (const dir of dirs) removeDir(dir);
  });

  /** Restarts on `dir`, checks the upload stands at `offset` bytes, sends the rest, and verifies the blob. */
  async function resumeAfterRestart(dir: string, repo: string, location: string, data: Buffer, offset: number): Promise<void> {
    const server: ServerProcess = await startServerProcess({ dataDir: dir });
    try {
      const client = new OciClient(server.url);
      const status = await client.fetch(location);
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe(`0-${offset - 1}`);
      const rest = await client.fetch(location, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${data.length - 1}` },
        body: data.subarray(offset),
      });
      expect(rest.status).toBe(202);
      expect(rest.headers.get('range')).toBe(`0-${data.length - 1}`);
      const put = await client.fetch(client.withQuery(rest.headers.get('location')!, { digest: sha256(data) }), { method: 'PUT' });
      expect(put.status).toBe(201);
      expect(put.headers.get('docker-content-digest')).toBe(sha256(data));
      const blob = await client.getBlob(repo, sha256(data));
      expect(blob.length).toBe(data.length);
      expect(blob.equals(data)).toBe(true);
    } finally {
      await server.stop();
    }
  }

  it.each(SIGNALS)(
    'on %s lets a slow PATCH in flight finish with 202, refuses new connections, exits 0 within REGISTRY_SHUTDOWN_TIMEOUT, and the upload resumes after a restart',
    async (signal) => {
      const SHUTDOWN_TIMEOUT_S = 10;
      const dir = dataDir();
      const server = await startServerProcess({ dataDir: dir, env: { REGISTRY_SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT_S) } });
      const repo = `shutdown/${signal.toLowerCase()}`;
      const slow = 20 * 64 * KIB; // 64 KiB every 100 ms: ~2 s
      const data = deterministicBytes(slow + 300_000, `graceful-${signal}`);
      const location = await new OciClient(server.url).startUpload(repo);
      const staged = uploadDataFile(dir, location);

      const patch = streamingRequest(server.url, {
        method: 'PATCH',
        path: pathAndQuery(location),
        headers: { 'Content-Type': 'application/octet-stream' },
        chunks: chunksOf(data.subarray(0, slow), 64 * KIB),
        intervalMs: 100,
      });
      await waitFor(() => patch.sent() >= 8 * 64 * KIB && fileSize(staged) > 0, 10_000, 'the slow PATCH to be under way');
      const sentAtSignal = patch.sent();
      const signalledAt = Date.now();
      server.signal(signal);

      // The listening socket closes right away, while the PATCH is still streaming.
      await eventually(() => connectionRefused(server.port), 3000, 'new connections to be refused');
      expect(patch.settledAt()).toBeUndefined();
      expect(sentAtSignal).toBeLessThan(slow);

      const res = await patch.response;
      expect(res.status).toBe(202);
      expect(res.headers['range']).toBe(`0-${slow - 1}`);
      expect(patch.sent()).toBe(slow);

      const exit = await server.waitForExit((SHUTDOWN_TIMEOUT_S + 5) * 1000);
      expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
      expect(exit.at - signalledAt).toBeLessThan(SHUTDOWN_TIMEOUT_S * 1000);

      await resumeAfterRestart(dir, repo, location, data, slow);
    },
  );

  it.each(SIGNALS)(
    'on %s with REGISTRY_SHUTDOWN_TIMEOUT=1 cuts a PATCH that never finishes, still exits 0 promptly, and after a restart the upload resumes from the bytes it had accepted',
    async (signal) => {
      const dir = dataDir();
      const server = await startServerProcess({ dataDir: dir, env: { REGISTRY_SHUTDOWN_TIMEOUT: '1' } });
      const repo = `stalled/${signal.toLowerCase()}`;
      const data = deterministicBytes(700_000, `stalled-${signal}`);
      const accepted = 200_000;
      const client = new OciClient(server.url);
      const location = await client.startUpload(repo);
      const staged = uploadDataFile(dir, location);
      const first = await client.fetch(location, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${accepted - 1}` },
        body: data.subarray(0, accepted),
      });
      expect(first.status).toBe(202);

      // 64 KiB of a 500 000-byte chunk, then silence (the idle timeout, 120 s by default, is far away).
      const stalled = streamingRequest(server.url, {
        method: 'PATCH',
        path: pathAndQuery(first.headers.get('location')!),
        headers: { 'Content-Type': 'application/octet-stream' },
        chunks: [data.subarray(accepted, accepted + 64 * KIB)],
        intervalMs: 0,
        declaredLength: data.length - accepted,
        end: false,
      });
      await waitFor(() => fileSize(staged) >= accepted + 64 * KIB, 10_000, 'the server to stage the stalled PATCH');
      const signalledAt = Date.now();
      server.signal(signal);

      await expect(stalled.response).rejects.toThrow(/socket hang up|ECONNRESET|EPIPE/);
      const exit = await server.waitForExit(10_000);
      expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
      // It waited for the request the full second, then cut it and stopped without delay.
      expect(exit.at - signalledAt).toBeGreaterThanOrEqual(950);
      expect(exit.at - signalledAt).toBeLessThan(8000); // margin for a loaded CI box; without the timeout it would wait for the stalled PATCH forever
      expect(stalled.settledAt()! - signalledAt).toBeGreaterThanOrEqual(950);

      // The cut chunk did not land: the session resumes where the last whole chunk left it.
      await resumeAfterRestart(dir, repo, location, data, accepted);
    },
  );
});
