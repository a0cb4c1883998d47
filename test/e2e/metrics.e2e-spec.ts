import { V2_ROUTE_LABELS } from '../../src/metrics/route-label';
import { deterministicBytes, OciClient, sha256 } from '../utils/oci-client';
import { metricTypes, parsePrometheusText, sampleValue, type Sample } from '../utils/prometheus';
import { RunningRegistry, startRegistry } from '../utils/start-registry';
import { ADMIN, basic, postToken, requestToken, tokenFor } from '../utils/tokens';

jest.setTimeout(30_000);

/** `GET /metrics` (optionally with an Authorization header): status, headers and parsed samples. */
async function scrape(registry: RunningRegistry, authorization?: string): Promise<{ res: Response; text: string; samples: Sample[] }> {
  const res = await fetch(new URL('/metrics', registry.url), { headers: authorization === undefined ? {} : { authorization } });
  const text = await res.text();
  return { res, text, samples: res.status === 200 ? parsePrometheusText(text) : [] };
}

/** The samples of a scrape that must succeed. */
async function samplesOf(registry: RunningRegistry, authorization?: string): Promise<Sample[]> {
  const { res, text, samples } = await scrape(registry, authorization);
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text}`);
  return samples;
}

/** How much a metric (the sum of its samples matching `labels`) moved between two scrapes. */
function delta(before: Sample[], after: Sample[], name: string, labels: Record<string, string> = {}): number {
  return sampleValue(after, name, labels) - sampleValue(before, name, labels);
}

const REQUESTS = 'registry_http_requests_total';

describe('/metrics (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;
  const repo = 'metrics/team/app';

  beforeAll(async () => {
    registry = await startRegistry({ env: { REGISTRY_GC_INTERVAL: '0', REGISTRY_GC_GRACE: '0' } });
    client = new OciClient(registry.url);
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('is open without REGISTRY_METRICS_TOKEN and serves the Prometheus text format', async () => {
    const { res, text } = await scrape(registry);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const types = metricTypes(text);
    for (const [name, type] of [
      ['registry_http_requests_total', 'counter'],
      ['registry_http_request_duration_seconds', 'histogram'],
      ['registry_blob_bytes_pushed_total', 'counter'],
      ['registry_blob_bytes_pulled_total', 'counter'],
      ['registry_upload_sessions_open', 'gauge'],
      ['registry_upload_requests_in_flight', 'gauge'],
      ['registry_blob_dedup_hits_total', 'counter'],
      ['registry_blob_dedup_misses_total', 'counter'],
      ['registry_gc_runs_total', 'counter'],
      ['registry_gc_deleted_objects_total', 'counter'],
      ['registry_gc_reclaimed_bytes_total', 'counter'],
      ['registry_gc_duration_seconds', 'histogram'],
      ['registry_auth_tokens_issued_total', 'counter'],
      ['registry_auth_failures_total', 'counter'],
      ['registry_process_resident_memory_bytes', 'gauge'],
      ['registry_nodejs_eventloop_lag_seconds', 'gauge'],
    ]) {
      expect([name, types.get(name)]).toEqual([name, type]);
    }
  });

  it('counts a push and a pull by route template, with the exact bytes pushed and pulled', async () => {
    const layer = deterministicBytes(70_000, 'metrics-layer');
    const before = await samplesOf(registry);

    const image = await client.pushImage(repo, 'v1', { layers: [layer] });
    expect(await client.getBlob(repo, image.layers[0]!.digest)).toEqual(layer);
    const range = await client.fetch(`/v2/${repo}/blobs/${image.layers[0]!.digest}`, { headers: { Range: 'bytes=100-1099' } });
    expect(range.status).toBe(206);
    expect((await range.arrayBuffer()).byteLength).toBe(1000);
    const manifest = await client.fetch(`/v2/${repo}/manifests/v1`, { headers: { Accept: image.mediaType } });
    expect(manifest.status).toBe(200);
    await manifest.arrayBuffer();

    const after = await samplesOf(registry);
    const pushed = image.config.size + layer.length;
    expect(delta(before, after, 'registry_blob_bytes_pushed_total')).toBe(pushed);
    expect(delta(before, after, 'registry_blob_bytes_pulled_total')).toBe(layer.length + 1000);
    expect(delta(before, after, 'registry_blob_dedup_misses_total')).toBe(2);

    const uploads = { method: 'POST', route: V2_ROUTE_LABELS.uploadStart, status: '201' };
    expect(delta(before, after, REQUESTS, uploads)).toBe(2);
    expect(delta(before, after, REQUESTS, { method: 'PUT', route: '/v2/{name}/manifests/{reference}', status: '201' })).toBe(1);
    expect(delta(before, after, REQUESTS, { method: 'GET', route: '/v2/{name}/blobs/{digest}', status: '200' })).toBe(1);
    expect(delta(before, after, REQUESTS, { method: 'GET', route: '/v2/{name}/blobs/{digest}', status: '206' })).toBe(1);
    expect(delta(before, after, REQUESTS, { method: 'GET', route: '/v2/{name}/manifests/{reference}', status: '200' })).toBe(1);
    expect(delta(before, after, 'registry_http_request_duration_seconds_count', { method: 'GET', route: '/v2/{name}/blobs/{digest}' })).toBe(2);
  });

  it('counts a dedup hit when a stored blob is pushed again', async () => {
    const blob = deterministicBytes(3_000, 'metrics-dedup');
    await client.pushBlob(repo, blob);
    const before = await samplesOf(registry);
    await client.pushBlob('metrics/other', blob);
    const after = await samplesOf(registry);
    expect(delta(before, after, 'registry_blob_dedup_hits_total')).toBe(1);
    expect(delta(before, after, 'registry_blob_dedup_misses_total')).toBe(0);
    expect(delta(before, after, 'registry_blob_bytes_pushed_total')).toBe(blob.length); // received again all the same
  });

  it('shows an upload session open until it completes, and chunked bytes as pushed', async () => {
    const blob = deterministicBytes(5_000, 'metrics-chunked');
    const before = await samplesOf(registry);
    const location = await client.startUpload(repo);
    const patched = await client.fetch(location, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${blob.length - 1}` },
      body: blob,
    });
    expect(patched.status).toBe(202);
    const during = await samplesOf(registry);
    expect(sampleValue(during, 'registry_upload_sessions_open')).toBe(1);
    expect(sampleValue(during, 'registry_upload_requests_in_flight')).toBe(0);

    const put = await client.fetch(client.withQuery(patched.headers.get('location')!, { digest: sha256(blob) }), { method: 'PUT' });
    expect(put.status).toBe(201);
    const after = await samplesOf(registry);
    expect(sampleValue(after, 'registry_upload_sessions_open')).toBe(0);
    expect(delta(before, after, 'registry_blob_bytes_pushed_total')).toBe(blob.length);
    expect(delta(before, after, REQUESTS, { method: 'PATCH', route: V2_ROUTE_LABELS.upload, status: '202' })).toBe(1);
    expect(delta(before, after, REQUESTS, { method: 'PUT', route: V2_ROUTE_LABELS.upload, status: '201' })).toBe(1);
  });

  it('records a GC pass: its run, what it deleted and the bytes it reclaimed', async () => {
    const orphan = deterministicBytes(12_345, 'metrics-orphan'); // referenced by no manifest: collectable (grace 0)
    await client.pushBlob('metrics/gc', orphan);
    const before = await samplesOf(registry);
    const report = await client.gc();
    const after = await samplesOf(registry);

    expect(report.deletedLayers).toBeGreaterThanOrEqual(1);
    expect(delta(before, after, 'registry_gc_runs_total', { trigger: 'api', outcome: 'success' })).toBe(1);
    expect(delta(before, after, 'registry_gc_deleted_objects_total', { kind: 'layer' })).toBe(report.deletedLayers);
    expect(delta(before, after, 'registry_gc_deleted_objects_total', { kind: 'manifest' })).toBe(report.deletedManifests);
    expect(delta(before, after, 'registry_gc_reclaimed_bytes_total')).toBe(report.reclaimedBytes);
    expect(report.reclaimedBytes).toBeGreaterThanOrEqual(orphan.length);
    expect(delta(before, after, 'registry_gc_duration_seconds_count')).toBe(1);

    await client.gc({ dryRun: true });
    const dry = await samplesOf(registry);
    expect(delta(after, dry, 'registry_gc_runs_total', { trigger: 'api', outcome: 'dry_run' })).toBe(1);
    expect(delta(after, dry, 'registry_gc_deleted_objects_total')).toBe(0);
  });

  it('labels routes by template: never a repository name or a digest, unmatched for 404s', async () => {
    const before = await samplesOf(registry);
    const missing = await client.fetch(`/no/such/route/${sha256('x')}`);
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
    const badName = await client.fetch('/v2/Not_A_Valid_Name/manifests/latest');
    expect(badName.status).toBe(400);
    await badName.arrayBuffer();
    const unknownBlob = await client.fetch(`/v2/a/b/c/blobs/${sha256('never pushed')}`);
    expect(unknownBlob.status).toBe(404);
    await unknownBlob.arrayBuffer();
    const catalog = await client.fetch('/v2/_catalog?n=1');
    await catalog.arrayBuffer();

    const after = await samplesOf(registry);
    expect(delta(before, after, REQUESTS, { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(delta(before, after, REQUESTS, { method: 'GET', route: '/v2/{name}/manifests/{reference}', status: '400' })).toBe(1);
    expect(delta(before, after, REQUESTS, { method: 'GET', route: '/v2/{name}/blobs/{digest}', status: '404' })).toBe(1);
    expect(delta(before, after, REQUESTS, { method: 'GET', route: '/v2/_catalog', status: '200' })).toBe(1);
    expect(delta(before, after, REQUESTS, { method: 'GET', route: '/metrics', status: '200' })).toBeGreaterThanOrEqual(1);

    const routes = new Set(after.filter((s) => s.name.startsWith('registry_http_')).map((s) => s.labels['route']!));
    expect([...routes]).toEqual(expect.arrayContaining(['unmatched', '/v2/_catalog', '/metrics', V2_ROUTE_LABELS.blob, V2_ROUTE_LABELS.manifest]));
    for (const route of routes) {
      expect(route).not.toMatch(/sha256|metrics\/|a\/b\/c|Not_A_Valid_Name|no\/such/);
      expect(route === 'unmatched' || route.startsWith('/')).toBe(true);
    }
  });
});

describe('/metrics with token auth and REGISTRY_METRICS_TOKEN (e2e)', () => {
  const secret = 'metrics-scrape-secret-0123456789';
  let registry: RunningRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ auth: true, env: { REGISTRY_GC_INTERVAL: '0', REGISTRY_METRICS_TOKEN: secret } });
  });
  afterAll(async () => {
    await registry.stop();
  });

  it.each([
    ['no credentials', undefined],
    ['a wrong token', 'Bearer metrics-scrape-secret-0123456780'],
    ['the admin Basic credentials', basic(ADMIN.user, ADMIN.password)],
  ])('refuses a scrape with %s (401, metrics challenge)', async (_, authorization) => {
    const { res, text } = await scrape(registry, authorization);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(text).not.toContain('registry_');
  });

  it('serves a scrape with the token', async () => {
    const { res, samples } = await scrape(registry, `Bearer ${secret}`);
    expect(res.status).toBe(200);
    expect(sampleValue(samples, 'registry_process_start_time_seconds')).toBeGreaterThan(0);
  });

  it('counts token issues by grant and auth failures by reason', async () => {
    const auth = `Bearer ${secret}`;
    const before = await samplesOf(registry, auth);

    const pullOnly = await tokenFor(registry, ADMIN, ['repository:m/x:pull']);
    const password = await postToken(registry, { grant_type: 'password', username: ADMIN.user, password: ADMIN.password });
    expect(password.status).toBe(200);
    await password.arrayBuffer();
    const wrong = await requestToken(registry, { user: ADMIN.user, password: 'not-the-password' });
    expect(wrong.status).toBe(401);
    await wrong.arrayBuffer();
    const forged = await fetch(new URL('/v2/', registry.url), { headers: { authorization: 'Bearer not.a.token' } });
    expect(forged.status).toBe(401);
    await forged.arrayBuffer();
    const push = await fetch(new URL('/v2/m/x/blobs/uploads/', registry.url), { method: 'POST', headers: { authorization: `Bearer ${pullOnly}` } });
    expect(push.status).toBe(401);
    await push.arrayBuffer();

    const after = await samplesOf(registry, auth);
    expect(delta(before, after, 'registry_auth_tokens_issued_total', { grant: 'token' })).toBe(1);
    expect(delta(before, after, 'registry_auth_tokens_issued_total', { grant: 'password' })).toBe(1);
    expect(delta(before, after, 'registry_auth_tokens_issued_total', { grant: 'refresh_token' })).toBe(0);
    expect(delta(before, after, 'registry_auth_failures_total', { reason: 'bad_credentials' })).toBe(1);
    expect(delta(before, after, 'registry_auth_failures_total', { reason: 'invalid_token' })).toBe(1);
    expect(delta(before, after, 'registry_auth_failures_total', { reason: 'insufficient_scope' })).toBe(1);
    expect(delta(before, after, REQUESTS, { method: 'GET', route: '/token', status: '401' })).toBe(1);
    expect(delta(before, after, REQUESTS, { method: 'POST', route: V2_ROUTE_LABELS.uploadStart, status: '401' })).toBe(1);
  });

  it('counts a refused scrape like any request, under its own route', async () => {
    const before = await samplesOf(registry, `Bearer ${secret}`);
    await scrape(registry);
    const after = await samplesOf(registry, `Bearer ${secret}`);
    expect(delta(before, after, REQUESTS, { method: 'GET', route: '/metrics', status: '401' })).toBe(1);
  });
});
