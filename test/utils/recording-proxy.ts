/**
 * A transparent HTTP proxy in front of the registry under test that records every request it
 * forwards (method, path, query, status, body bytes each way). The real-client specs point the
 * clients at the proxy, so they can assert what a client actually sent the registry - e.g. that a
 * push mounted a layer instead of uploading it - without depending on client debug output or on
 * registry internals. Bodies are streamed (never buffered) and absolute Location headers that
 * name the upstream are rewritten to the proxy, so clients keep talking through it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  seq: number;
  method: string;
  /** Path without the query string, e.g. /v2/e2e/skopeo/big/blobs/uploads/ */
  path: string;
  query: URLSearchParams;
  /** 0 until the upstream answered; -1 if forwarding failed. */
  status: number;
  requestBytes: number;
  responseBytes: number;
}

export interface RecordingProxy {
  /** http://127.0.0.1:PORT of the proxy */
  url: string;
  /** 127.0.0.1:PORT of the proxy: what clients put in image references */
  host: string;
  readonly requests: readonly RecordedRequest[];
  /** A position in the log; pass it to since() to get what happened after it. */
  mark(): number;
  since(mark: number): RecordedRequest[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect']);

export async function startRecordingProxy(upstreamUrl: string): Promise<RecordingProxy> {
  const upstream = new URL(upstreamUrl);
  const agent = new http.Agent({ keepAlive: true });
  const requests: RecordedRequest[] = [];
  let origin = '';

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const rec: RecordedRequest = {
      seq: requests.length,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      status: 0,
      requestBytes: 0,
      responseBytes: 0,
    };
    requests.push(rec);
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;

    const out = http.request(
      { host: upstream.hostname, port: upstream.port, method: rec.method, path: req.url, headers, agent },
      (up) => {
        rec.status = up.statusCode ?? 0;
        const resHeaders: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) resHeaders[k] = v;
        const location = up.headers.location;
        if (location?.startsWith(upstream.origin)) resHeaders.location = origin + location.slice(upstream.origin.length);
        res.writeHead(rec.status, resHeaders);
        up.on('data', (b: Buffer) => (rec.responseBytes += b.length));
        up.pipe(res);
        up.once('error', () => res.destroy());
      },
    );
    req.on('data', (b: Buffer) => (rec.requestBytes += b.length));
    req.pipe(out);
    out.once('error', (e) => {
      rec.status = rec.status || -1;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy: ${e.message}`);
      else res.destroy();
    });
    req.once('aborted', () => out.destroy());
    res.once('close', () => {
      if (!res.writableFinished) out.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.requestTimeout = 0; // big uploads may take long
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  origin = `http://127.0.0.1:${port}`;
  return {
    url: origin,
    host: `127.0.0.1:${port}`,
    requests,
    mark: () => requests.length,
    since: (mark) => requests.slice(mark),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

// ----------------------------------------------------------------------------- traffic analysis

const UPLOADS = /^\/v2\/(.+)\/blobs\/uploads\/.*$/;

function uploadRepo(r: RecordedRequest): string | undefined {
  return UPLOADS.exec(r.path)?.[1];
}

/** Blob uploads that completed (POST ?digest= monolithic or PUT ?digest= closing a session) with 201. */
export function completedUploads(requests: readonly RecordedRequest[], repo?: string): Map<string, RecordedRequest> {
  const out = new Map<string, RecordedRequest>();
  for (const r of requests) {
    const digest = r.query.get('digest');
    const name = uploadRepo(r);
    if (name === undefined || digest === null || r.status !== 201 || (repo !== undefined && name !== repo)) continue;
    if ((r.method === 'PUT' || r.method === 'POST') && !r.query.has('mount')) out.set(digest, r);
  }
  return out;
}

export interface MountRecord {
  repo: string;
  digest: string;
  from: string | null;
  status: number;
}

/** Cross-repository mount attempts: POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<repo>. */
export function mountAttempts(requests: readonly RecordedRequest[]): MountRecord[] {
  const out: MountRecord[] = [];
  for (const r of requests) {
    const repo = uploadRepo(r);
    const digest = r.query.get('mount');
    if (r.method === 'POST' && repo !== undefined && digest !== null) {
      out.push({ repo, digest, from: r.query.get('from'), status: r.status });
    }
  }
  return out;
}

/** Request body bytes sent to upload endpoints (POST/PATCH/PUT under /blobs/uploads/). */
export function uploadedBytes(requests: readonly RecordedRequest[]): number {
  return requests.filter((r) => uploadRepo(r) !== undefined).reduce((n, r) => n + r.requestBytes, 0);
}

/** Response body bytes of successful blob GETs for a digest (what a pull downloaded). */
export function downloadedBlobBytes(requests: readonly RecordedRequest[], digest: string): number {
  return requests
    .filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`) && r.status >= 200 && r.status < 300)
    .reduce((n, r) => n + r.responseBytes, 0);
}

/** A short listing of requests for assertion messages. */
export function describeRequests(requests: readonly RecordedRequest[]): string {
  return requests
    .map((r) => `${r.method} ${r.path}${[...r.query].length ? `?${r.query}` : ''} -> ${r.status} (${r.requestBytes}B up)`)
    .join('\n');
}

/**
 * Asserts that, in this traffic, `digest` reached `repo` by a cross-repository mount from `from`
 * (POST ?mount=&from= answered 201) and was not uploaded: no completed upload of it, and fewer
 * upload bytes in total than the blob's size (so it was not streamed under another digest either).
 */
export function expectMountedNotUploaded(
  traffic: readonly RecordedRequest[],
  o: { repo: string; from: string; digest: string; size: number },
): void {
  try {
    const mounts = mountAttempts(traffic).filter((m) => m.repo === o.repo && m.digest === o.digest);
    expect(mounts.map((m) => `from=${m.from} -> ${m.status}`)).toContain(`from=${o.from} -> 201`);
    expect([...completedUploads(traffic, o.repo).keys()]).not.toContain(o.digest);
    expect(uploadedBytes(traffic)).toBeLessThan(o.size);
  } catch (e) {
    if (e instanceof Error) e.message += `\n\nrequests seen:\n${describeRequests(traffic)}`;
    throw e;
  }
}
