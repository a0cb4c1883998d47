import { symlinkSync, unlinkSync } from 'node:fs';
import { LogCapture, type LogRecord } from '../utils/log-capture';
import { blobFile, deterministicBytes, OciClient, sha256, waitFor } from '../utils/oci-client';
import { RunningRegistry, startRegistry, TEST_ADMIN_PASSWORD } from '../utils/start-registry';
import { ADMIN, basic, createAccessToken, createPolicy, createUser, deleteAllPolicies, getToken, type Login, postToken } from '../utils/tokens';

jest.setTimeout(30_000);

/**
 * The server's log as an operator reads it: every line JSON, one line per request carrying the
 * request id the client got back in X-Request-Id (or sent), who did what to which repository,
 * status, bytes and duration; no probe noise; and no credential anywhere.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('structured logs (e2e)', () => {
  let registry: RunningRegistry;
  const capture = new LogCapture();
  let puller: Login;

  beforeAll(async () => {
    registry = await startRegistry({ auth: true, logDestination: capture, env: { REGISTRY_GC_INTERVAL: '0' } });
    await deleteAllPolicies(registry); // the seed lets everyone do everything
    puller = await createUser(registry, 'puller', 'puller-Secret-Pa55word');
    await createPolicy(registry, 'logs/*', 'puller', ['pull']);
  });
  afterAll(async () => {
    await registry.stop();
  });

  /** The request line with this id, once written (it is written when the response finishes). */
  async function lineOf(requestId: string | null): Promise<LogRecord> {
    expect(requestId).toBeTruthy();
    const find = (): LogRecord | undefined => capture.requests.find((r) => r['requestId'] === requestId);
    await waitFor(() => find() !== undefined, 2000, `the request line of ${requestId}`);
    return find()!;
  }

  /** Request lines for `method path` (path without query), once at least `count` are written. */
  async function linesFor(method: string, path: string, count = 1): Promise<LogRecord[]> {
    const find = (): LogRecord[] => capture.requests.filter((r) => r['method'] === method && r['path'] === path);
    await waitFor(() => find().length >= count, 2000, `${count} request line(s) for ${method} ${path}`);
    return find();
  }

  it("writes every line as JSON, Nest's own start-up lines included", () => {
    const records = capture.records; // throws on a line that is not JSON
    expect(records.length).toBeGreaterThan(0);
    expect(records).toEqual(expect.arrayContaining([expect.objectContaining({ level: 'info', context: 'NestApplication', msg: 'Nest application successfully started' })]));
    for (const record of records) expect(record).toEqual(expect.objectContaining({ level: expect.any(String), time: expect.any(String) }));
  });

  it('logs each request with the request id it echoes in X-Request-Id, and honours a sane incoming one', async () => {
    const generated = await fetch(`${registry.url}/v2/`);
    const id = generated.headers.get('x-request-id');
    expect(id).toMatch(UUID);
    expect(await lineOf(id)).toMatchObject({ level: 'info', method: 'GET', path: '/v2/', status: 401, user: 'anonymous', client: '127.0.0.1' });

    const honoured = await fetch(`${registry.url}/v2/`, { headers: { 'x-request-id': 'trace-from-the-proxy-0001' } });
    expect(honoured.headers.get('x-request-id')).toBe('trace-from-the-proxy-0001');
    expect(await lineOf('trace-from-the-proxy-0001')).toMatchObject({ path: '/v2/', status: 401 });

    const oversized = await fetch(`${registry.url}/v2/`, { headers: { 'x-request-id': 'z'.repeat(129) } });
    expect(oversized.headers.get('x-request-id')).toMatch(UUID);
    await lineOf(oversized.headers.get('x-request-id'));
  });

  it('records user, repository, action, status, bytes and duration of a push and of a pull under token auth', async () => {
    const layer = deterministicBytes(4096, 'logged-layer');
    const image = await new OciClient(registry.url, ADMIN).pushImage('logs/app', 'v1', { layers: [layer] });

    const [manifestPush] = await linesFor('PUT', '/v2/logs/app/manifests/v1'); // the push's last request
    expect(manifestPush).toMatchObject({ status: 201, user: 'admin', repository: 'logs/app', action: 'push' });
    expect(manifestPush!['requestBytes']).toBeGreaterThan(image.bytes.length);
    const blobPosts = await linesFor('POST', '/v2/logs/app/blobs/uploads/');
    // The first POST met the challenge (anonymous 401), the client fetched a token and retried.
    expect(blobPosts[0]).toMatchObject({ status: 401, user: 'anonymous', repository: 'logs/app', action: 'push' });
    const blobPush = blobPosts.find((r) => r['status'] === 201 && r['query'] === `digest=${sha256(layer)}`);
    expect(blobPush).toMatchObject({ level: 'info', user: 'admin', repository: 'logs/app', action: 'push', requestId: expect.stringMatching(UUID) });
    expect(blobPush!['requestBytes']).toBeGreaterThan(layer.length);
    expect(blobPush!['responseBytes']).toEqual(expect.any(Number));
    expect(blobPush!['durationMs']).toEqual(expect.any(Number));

    const pull = await new OciClient(registry.url, puller).pullVerified('logs/app', 'v1');
    expect(pull).toContain(sha256(layer));
    const [blobPull] = await linesFor('GET', `/v2/logs/app/blobs/${sha256(layer)}`);
    expect(blobPull).toMatchObject({ level: 'info', status: 200, user: 'puller', repository: 'logs/app', action: 'pull', userAgent: expect.any(String) });
    expect(blobPull!['responseBytes']).toBeGreaterThan(layer.length);
    expect(blobPull!['durationMs']).toBeGreaterThanOrEqual(0);
    expect((await linesFor('GET', '/v2/logs/app/manifests/v1', 2)).map((r) => [r['status'], r['user'], r['action']])).toEqual([
      [401, 'anonymous', 'pull'], // the challenge, then the retry with the token
      [200, 'puller', 'pull'],
    ]);

    const denied = await new OciClient(registry.url, puller).fetch('/v2/logs/app/manifests/v2', { method: 'PUT', body: '{}', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    expect(denied.status).toBe(401);
    expect((await linesFor('PUT', '/v2/logs/app/manifests/v2', 2)).map((r) => [r['status'], r['user'], r['action']])).toEqual([
      [401, 'anonymous', 'push'],
      [401, 'puller', 'push'],
    ]);
  });

  it('does not log health probes and metrics scrapes at info', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/healthz?verbose=1']) await (await fetch(`${registry.url}${path}`)).arrayBuffer();
    const marker = await fetch(`${registry.url}/v2/`, { headers: { 'x-request-id': 'after-the-probes' } });
    await lineOf(marker.headers.get('x-request-id')); // lines are written in order: the probes' would be there by now
    expect(capture.requests.filter((r) => ['/healthz', '/readyz', '/metrics'].includes(r['path'] as string))).toEqual([]);
  });

  it('logs an unexpected failure at error with the request id, in the filter line and the request line', async () => {
    const data = deterministicBytes(100, 'broken-blob');
    const digest = await new OciClient(registry.url, ADMIN).pushBlob('logs/broken', data);
    const file = blobFile(registry.dataDir, digest);
    unlinkSync(file);
    symlinkSync(file, file); // a symlink loop: opening it fails with ELOOP, an error no mapping expects
    const token = (await getToken(registry, ADMIN, ['repository:logs/broken:pull'])).token;
    const res = await fetch(`${registry.url}/v2/logs/broken/blobs/${digest}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(500);
    const id = res.headers.get('x-request-id');
    expect(await lineOf(id)).toMatchObject({ level: 'error', status: 500, repository: 'logs/broken', action: 'pull', user: 'admin' });
    const filterLine = capture.records.find((r) => r['context'] === 'OciErrorFilter' && r['requestId'] === id);
    expect(filterLine).toMatchObject({ level: 'error', msg: expect.stringContaining(`/v2/logs/broken/blobs/${digest} failed`), stack: expect.stringContaining('ELOOP') });
  });

  it('never writes a password, Basic or Bearer credential, refresh token or access-token secret', async () => {
    const secrets: string[] = [TEST_ADMIN_PASSWORD, puller.password];
    const access = await createAccessToken(registry, 'puller', { name: 'ci' });
    secrets.push(access.secret);
    const viaPassword = await getToken(registry, puller, ['repository:logs/app:pull'], { offline_token: 'true' });
    const viaSecret = await getToken(registry, { user: 'puller', password: access.secret }, ['repository:logs/app:pull']);
    secrets.push(viaPassword.token, viaPassword.refresh_token!, viaSecret.token);
    expect(viaPassword.refresh_token).toMatch(/^rrt_/);
    expect(access.secret).toMatch(/^rat_/);
    expect((await postToken(registry, { grant_type: 'refresh_token', refresh_token: viaPassword.refresh_token!, scope: 'repository:logs/app:pull' })).status).toBe(200);
    expect((await postToken(registry, { grant_type: 'password', username: 'puller', password: 'puller-Wrong-Pa55word' })).status).toBe(401);
    secrets.push('puller-Wrong-Pa55word');
    // Secrets where they do not belong: in the query string and in a careless request id.
    const inQuery = await fetch(`${registry.url}/token?service=x&password=${encodeURIComponent(puller.password)}&refresh_token=${viaPassword.refresh_token!}`);
    expect(inQuery.status).toBeGreaterThanOrEqual(400);
    for (const authorization of [`Bearer ${viaPassword.token}`, basic('puller', access.secret), basic('admin', TEST_ADMIN_PASSWORD)]) {
      const res = await fetch(`${registry.url}/v2/logs/app/tags/list`, { headers: { authorization } });
      expect([200, 404]).toContain(res.status); // authenticated (404 when run alone, before any push)
      await lineOf(res.headers.get('x-request-id'));
      if (authorization.startsWith('Basic ')) secrets.push(authorization.slice('Basic '.length));
    }

    const text = capture.text;
    expect(text).toContain('password=[Redacted]'); // the query was logged, censored: the check below looked at real output
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/authorization/i);
    expect(text).not.toMatch(/\bBasic [A-Za-z0-9+/=]{8,}/);
    expect(text).not.toMatch(/Bearer ey/);
    expect(text).not.toMatch(/rat_[A-Za-z0-9_-]{20,}|rrt_[A-Za-z0-9_-]{20,}/);
  });
});

describe('structured logs without request lines (e2e)', () => {
  let registry: RunningRegistry;
  const capture = new LogCapture();

  beforeAll(async () => {
    registry = await startRegistry({ logDestination: capture, env: { REGISTRY_LOG_REQUESTS: 'false', REGISTRY_LOG_LEVEL: 'warn', REGISTRY_GC_INTERVAL: '0' } });
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('still echoes request ids, writes no request line, and honours REGISTRY_LOG_LEVEL', async () => {
    const res = await fetch(`${registry.url}/v2/`, { headers: { 'x-request-id': 'quiet-1' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('quiet-1');
    expect(capture.requests).toEqual([]);
    expect(capture.records.map((r) => r.level)).not.toContain('info');
    // REGISTRY_AUTH=none warns at start-up: warn lines do get through.
    expect(capture.records).toEqual(expect.arrayContaining([expect.objectContaining({ level: 'warn', context: 'Auth' })]));
  });
});
