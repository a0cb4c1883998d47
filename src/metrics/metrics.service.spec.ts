import { Logger } from '@nestjs/common';
import type { Kysely } from 'kysely';
import { register as globalRegistry } from 'prom-client';
import { metricTypes, parsePrometheusText, sampleValue, type Sample } from '../../test/utils/prometheus';
import type { RegistryConfig } from '../config/registry-config';
import type { GcReport } from '../gc/gc.service';
import { openDatabase } from '../metadata/database';
import type { Database } from '../metadata/schema';
import { UnitOfWork } from '../metadata/unit-of-work';
import { MetricsService } from './metrics.service';

const UPLOAD_TIMEOUT_MS = 60_000;
const config = { uploadTimeoutMs: UPLOAD_TIMEOUT_MS, metrics: {} } as unknown as RegistryConfig;

const report = (overrides: Partial<GcReport> = {}): GcReport => ({
  id: 'r',
  dryRun: false,
  deletedLayers: 3,
  reclaimedBytes: 4096,
  deletedManifests: 2,
  deletedUploads: 1,
  deletedOrphanFiles: 4,
  durationMs: 250,
  startedAt: new Date(0).toISOString(),
  ...overrides,
});

describe(MetricsService.name, () => {
  let db: Kysely<Database>;
  let uow: UnitOfWork;
  let metrics: MetricsService;

  const scrape = async (service = metrics): Promise<Sample[]> => parsePrometheusText(await service.metrics());

  beforeEach(async () => {
    db = await openDatabase({ dialect: 'sqlite', filename: ':memory:' });
    uow = new UnitOfWork(db);
    metrics = new MetricsService(uow, config);
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    metrics.onModuleDestroy();
    await db.destroy();
  });

  it('keeps its metrics on a registry of its own, so two instances in one process never collide', async () => {
    const other = new MetricsService(uow, config);
    try {
      metrics.observeHttp('GET', '/v2/{name}/blobs/{digest}', 200, 0.01);
      expect(sampleValue(await scrape(), 'registry_http_requests_total')).toBe(1);
      expect(sampleValue(await scrape(other), 'registry_http_requests_total')).toBe(0);
      expect(globalRegistry.getSingleMetric('registry_http_requests_total')).toBeUndefined();
    } finally {
      other.onModuleDestroy();
    }
  });

  it('serves the Prometheus text format with the registry prefix, process metrics included', async () => {
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.metrics();
    const types = metricTypes(text);
    expect(types.get('registry_http_requests_total')).toBe('counter');
    expect(types.get('registry_http_request_duration_seconds')).toBe('histogram');
    expect(types.get('registry_upload_sessions_open')).toBe('gauge');
    expect(types.get('registry_blob_dedup_hits_total')).toBe('counter');
    expect(types.get('registry_process_cpu_seconds_total')).toBe('counter');
    expect(types.get('registry_nodejs_heap_size_used_bytes')).toBe('gauge');
    expect([...types.keys()].every((name) => name.startsWith('registry_'))).toBe(true);
  });

  it('counts requests by method, route and status, and times them by method and route', async () => {
    metrics.observeHttp('GET', '/v2/{name}/blobs/{digest}', 200, 0.003);
    metrics.observeHttp('GET', '/v2/{name}/blobs/{digest}', 200, 0.2);
    metrics.observeHttp('GET', '/v2/{name}/blobs/{digest}', 404, 0.002);
    metrics.observeHttp('PUT', '/v2/{name}/manifests/{reference}', 201, 0.05);
    const samples = await scrape();
    const blob = { method: 'GET', route: '/v2/{name}/blobs/{digest}' };
    expect(sampleValue(samples, 'registry_http_requests_total', { ...blob, status: '200' })).toBe(2);
    expect(sampleValue(samples, 'registry_http_requests_total', { ...blob, status: '404' })).toBe(1);
    expect(sampleValue(samples, 'registry_http_requests_total', { method: 'PUT', status: '201' })).toBe(1);
    expect(sampleValue(samples, 'registry_http_request_duration_seconds_count', blob)).toBe(3);
    expect(sampleValue(samples, 'registry_http_request_duration_seconds_bucket', { ...blob, le: '0.005' })).toBe(2);
    expect(sampleValue(samples, 'registry_http_request_duration_seconds_bucket', { ...blob, le: '60' })).toBe(3);
    expect(sampleValue(samples, 'registry_http_request_duration_seconds_sum', blob)).toBeCloseTo(0.205);
  });

  it('reads open upload sessions and dedup hits and misses from the database at scrape time', async () => {
    let samples = await scrape();
    expect(sampleValue(samples, 'registry_upload_sessions_open')).toBe(0);
    expect(sampleValue(samples, 'registry_blob_dedup_hits_total')).toBe(0);

    const now = Date.now();
    await uow.stores.uploads.create({ id: 'open', repository: 'a/b/c', offset: 0, startedAt: now, updatedAt: now });
    await uow.stores.uploads.create({ id: 'expired', repository: 'a', offset: 0, startedAt: 0, updatedAt: now - UPLOAD_TIMEOUT_MS - 1000 });
    await uow.stores.counters.increment('dedup_hits', 5);
    await uow.stores.counters.increment('dedup_misses', 7);
    samples = await scrape();
    expect(sampleValue(samples, 'registry_upload_sessions_open')).toBe(1);
    expect(sampleValue(samples, 'registry_blob_dedup_hits_total')).toBe(5);
    expect(sampleValue(samples, 'registry_blob_dedup_misses_total')).toBe(7);

    // Set to the database's total at each scrape, not added up scrape after scrape.
    await uow.stores.counters.increment('dedup_hits');
    samples = await scrape();
    expect(sampleValue(samples, 'registry_blob_dedup_hits_total')).toBe(6);
    expect(sampleValue(samples, 'registry_blob_dedup_misses_total')).toBe(7);
  });

  it('reads the database once per scrape, however many metrics need it', async () => {
    const counts = jest.spyOn(uow.stores.uploads, 'countActiveSince');
    const gets = jest.spyOn(uow.stores.counters, 'get');
    await metrics.metrics();
    expect(counts).toHaveBeenCalledTimes(1);
    expect(gets).toHaveBeenCalledTimes(2);
  });

  it('still serves a scrape when the database fails, keeping the last values read', async () => {
    await uow.stores.counters.increment('dedup_hits', 3);
    await scrape();
    jest.spyOn(uow.stores.counters, 'get').mockRejectedValue(new Error('database is locked'));
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    metrics.observeHttp('GET', '/healthz', 200, 0.001);
    const samples = await scrape();
    expect(sampleValue(samples, 'registry_blob_dedup_hits_total')).toBe(3);
    expect(sampleValue(samples, 'registry_http_requests_total', { route: '/healthz' })).toBe(1);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('database is locked'));
  });

  it('counts bytes pushed and bytes pulled (zero counts nothing)', async () => {
    metrics.bytesPushed(1000);
    metrics.bytesPushed(0);
    metrics.bytesPushed(24);
    metrics.bytesPulled(150);
    metrics.bytesPulled(0);
    metrics.bytesPulled(7);
    const samples = await scrape();
    expect(sampleValue(samples, 'registry_blob_bytes_pushed_total')).toBe(1024);
    expect(sampleValue(samples, 'registry_blob_bytes_pulled_total')).toBe(157);
  });

  it('counts token issues by grant and auth failures by reason, each series present from zero', async () => {
    let samples = await scrape();
    for (const grant of ['token', 'password', 'refresh_token']) expect(samples).toContainEqual({ name: 'registry_auth_tokens_issued_total', labels: { grant }, value: 0 });
    for (const reason of ['bad_credentials', 'throttled', 'invalid_token', 'insufficient_scope', 'denied']) {
      expect(samples).toContainEqual({ name: 'registry_auth_failures_total', labels: { reason }, value: 0 });
    }
    metrics.tokenIssued('token');
    metrics.tokenIssued('token');
    metrics.tokenIssued('refresh_token');
    metrics.authFailure('throttled');
    samples = await scrape();
    expect(sampleValue(samples, 'registry_auth_tokens_issued_total', { grant: 'token' })).toBe(2);
    expect(sampleValue(samples, 'registry_auth_tokens_issued_total', { grant: 'refresh_token' })).toBe(1);
    expect(sampleValue(samples, 'registry_auth_tokens_issued_total', { grant: 'password' })).toBe(0);
    expect(sampleValue(samples, 'registry_auth_failures_total', { reason: 'throttled' })).toBe(1);
    expect(sampleValue(samples, 'registry_auth_failures_total')).toBe(1);
  });

  it('records GC passes: deletions and bytes for real passes only, durations for every pass that ran', async () => {
    metrics.gcRun('api', 'success', report());
    metrics.gcRun('schedule', 'dry_run', report({ dryRun: true, durationMs: 1500 }));
    metrics.gcRun('schedule', 'skipped');
    metrics.gcRun('cli', 'failure', report({ deletedLayers: 1, reclaimedBytes: 10, deletedManifests: 0, deletedUploads: 0, deletedOrphanFiles: 0 }));
    const samples = await scrape();
    expect(sampleValue(samples, 'registry_gc_runs_total', { trigger: 'api', outcome: 'success' })).toBe(1);
    expect(sampleValue(samples, 'registry_gc_runs_total', { trigger: 'schedule', outcome: 'dry_run' })).toBe(1);
    expect(sampleValue(samples, 'registry_gc_runs_total', { trigger: 'schedule', outcome: 'skipped' })).toBe(1);
    expect(sampleValue(samples, 'registry_gc_runs_total', { trigger: 'cli', outcome: 'failure' })).toBe(1);
    expect(sampleValue(samples, 'registry_gc_deleted_objects_total', { kind: 'layer' })).toBe(4);
    expect(sampleValue(samples, 'registry_gc_deleted_objects_total', { kind: 'manifest' })).toBe(2);
    expect(sampleValue(samples, 'registry_gc_deleted_objects_total', { kind: 'upload' })).toBe(1);
    expect(sampleValue(samples, 'registry_gc_deleted_objects_total', { kind: 'orphan_file' })).toBe(4);
    expect(sampleValue(samples, 'registry_gc_reclaimed_bytes_total')).toBe(4106);
    expect(sampleValue(samples, 'registry_gc_duration_seconds_count')).toBe(3);
    expect(sampleValue(samples, 'registry_gc_duration_seconds_sum')).toBeCloseTo(2.0);
  });

  it('tracks upload requests in flight', async () => {
    metrics.uploadRequestStarted();
    metrics.uploadRequestStarted();
    metrics.uploadRequestEnded();
    expect(sampleValue(await scrape(), 'registry_upload_requests_in_flight')).toBe(1);
  });
});
