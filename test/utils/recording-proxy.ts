/**
 * A transparent HTTP proxy in front of the registry under test that records every request it
 * forwards (method, path, query, status, body bytes each way). The real-client specs point the
 * clients at the proxy, so they can assert what a client actually sent the registry - e.g. that a
 * push mounted a layer instead of uploading it - without depending on client debug output or on
 * registry internals. Bodies are streamed (never buffered; only small form bodies, the OAuth2
 * POSTs to the token endpoint, are kept as well) and absolute Location headers that name the
 * upstream are rewritten to the proxy, so clients keep talking through it.
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
  /** The Authorization scheme the client sent, lower-cased (`basic`, `bearer`), if any. */
  authScheme?: string;
  /** The parsed body of an `application/x-www-form-urlencoded` request (e.g. POST /token), once it has been read. */
  form?: URLSearchParams;
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

/** Form bodies up to this size are kept (token requests are a few hundred bytes). */
const MAX_FORM_BYTES = 64 * 1024;

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
    const scheme = /^\s*(\S+)/.exec(req.headers.authorization ?? '')?.[1];
    if (scheme) rec.authScheme = scheme.toLowerCase();
    requests.push(rec);
    const isForm = (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
    const formChunks: Buffer[] = [];
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
    req.on('data', (b: Buffer) => {
      rec.requestBytes += b.length;
      if (isForm && rec.requestBytes <= MAX_FORM_BYTES) formChunks.push(b);
    });
    if (isForm) {
      req.once('end', () => {
        if (rec.requestBytes <= MAX_FORM_BYTES) rec.form = new URLSearchParams(Buffer.concat(formChunks).toString('utf8'));
      });
    }
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

/** A request to the token endpoint, as the client made it. */
export interface TokenRequest {
  method: string;
  /** POST: the form's grant_type (`password`, `refresh_token`); GET: undefined. */
  grantType?: string;
  /** The scopes asked for (GET: one per `scope` parameter; POST: the space-separated `scope` field, split). */
  scopes: string[];
  /** Whether the client sent Basic credentials (GET with a login). */
  basic: boolean;
  /** GET `offline_token=true` or POST `access_type=offline`. */
  offline: boolean;
  clientId?: string;
  status: number;
}

/** The requests to `/token` in this traffic (the realm of the registry's challenges, reached through the proxy). */
export function tokenRequests(requests: readonly RecordedRequest[]): TokenRequest[] {
  return requests
    .filter((r) => r.path === '/token')
    .map((r) => {
      const params = r.method === 'POST' ? (r.form ?? new URLSearchParams()) : r.query;
      const scopes = r.method === 'POST' ? (params.get('scope') ?? '').split(' ').filter(Boolean) : params.getAll('scope');
      return {
        method: r.method,
        ...(r.method === 'POST' && { grantType: params.get('grant_type') ?? '' }),
        scopes,
        basic: r.authScheme === 'basic',
        offline: params.get('offline_token') === 'true' || params.get('access_type') === 'offline',
        ...(params.has('client_id') && { clientId: params.get('client_id')! }),
        status: r.status,
      };
    });
}

/**
 * Every scope requested from the token endpoint in this traffic, each with its actions sorted
 * (clients differ in the order: docker asks for `push,pull`, the others for `pull,push`).
 */
export function requestedScopes(requests: readonly RecordedRequest[]): string[] {
  return tokenRequests(requests).flatMap((t) =>
    t.scopes.map((scope) => {
      const last = scope.lastIndexOf(':');
      return last < 0 ? scope : `${scope.slice(0, last)}:${scope.slice(last + 1).split(',').sort().join(',')}`;
    }),
  );
}

/** A short listing of requests for assertion messages. */
export function describeRequests(requests: readonly RecordedRequest[]): string {
  return requests
    .map((r) => {
      const grant = r.form?.get('grant_type');
      const scope = r.form?.get('scope');
      const form = grant ? ` [grant_type=${grant}${scope ? ` scope=${scope}` : ''}]` : '';
      const auth = r.authScheme ? ` (${r.authScheme})` : '';
      return `${r.method} ${r.path}${[...r.query].length ? `?${r.query}` : ''}${form}${auth} -> ${r.status} (${r.requestBytes}B up)`;
    })
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
