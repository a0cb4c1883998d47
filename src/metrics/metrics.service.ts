/**
 * Prometheus metrics, on a registry of their own (not prom-client's global one), so several
 * apps in one process (the e2e specs) never share or collide on a metric.
 *
 * Hot paths only touch in-memory counters: request counts and durations, bytes, token and
 * auth outcomes, GC passes. What the database already keeps (open upload sessions, dedup
 * hits and misses) is read when Prometheus scrapes, in one round of queries per scrape
 * shared by the metrics that need it; those values are registry-wide (the same on every
 * replica: aggregate them with max, not sum).
 */
import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ClusterMetrics } from '../cluster/cluster-metrics';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import type { GcReport } from '../gc/gc.service';
import type { GcRunRecord } from '../metadata/stores/gc.store';
import { UnitOfWork } from '../metadata/unit-of-work';

export const METRIC_PREFIX = 'registry_';

/** How a token was obtained: GET /token, or the OAuth2 POST with a password or a refresh token. */
export type TokenGrantKind = 'token' | 'password' | 'refresh_token';
export const TOKEN_GRANT_KINDS: readonly TokenGrantKind[] = ['token', 'password', 'refresh_token'];

/**
 * Why an authentication or authorization failed: wrong password or access token; login
 * throttled; a registry (Bearer) or refresh token invalid, expired or revoked; a token that
 * lacks the scope; Basic credentials the policies refuse (403). An anonymous request's
 * challenge is the normal start of a login, not a failure.
 */
export type AuthFailureReason = 'bad_credentials' | 'throttled' | 'invalid_token' | 'insufficient_scope' | 'denied';
export const AUTH_FAILURE_REASONS: readonly AuthFailureReason[] = ['bad_credentials', 'throttled', 'invalid_token', 'insufficient_scope', 'denied'];

/** A GC pass: swept, previewed (dry run), failed, or skipped because another pass held the lock. */
export type GcOutcome = 'success' | 'dry_run' | 'failure' | 'skipped';
const GC_OUTCOMES: readonly GcOutcome[] = ['success', 'dry_run', 'failure', 'skipped'];
const GC_TRIGGERS: readonly GcRunRecord['trigger'][] = ['schedule', 'api', 'cli'];

/** From 5 ms (a HEAD answered from the database) to 60 s (a large layer over a slow link). */
export const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const GC_DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900];

interface DatabaseReadings {
  openUploads: number;
  dedupHits: number;
  dedupMisses: number;
}

@Injectable()
export class MetricsService implements OnModuleDestroy {
  private readonly logger = new Logger(MetricsService.name);
  /** The registry /metrics serves. */
  readonly registry = new Registry();

  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly httpDuration: Histogram<'method' | 'route'>;
  private readonly uploadRequests: Gauge;
  private readonly pushedBytes: Counter;
  private readonly pulledBytes: Counter;
  private readonly tokensIssued: Counter<'grant'>;
  private readonly authFailures: Counter<'reason'>;
  private readonly gcRuns: Counter<'trigger' | 'outcome'>;
  private readonly gcDeleted: Counter<'kind'>;
  private readonly gcReclaimed: Counter;
  private readonly gcDuration: Histogram;
  /** The database read of the scrape in progress, shared by the metrics that need it. */
  private reading?: Promise<DatabaseReadings | undefined>;
  /** In a cluster worker: /metrics shows every worker's metrics, aggregated by the primary. */
  private readonly cluster = ClusterMetrics.forWorker(this.registry);

  constructor(
    private readonly uow: UnitOfWork,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
  ) {
    const registers = [this.registry];
    const p = METRIC_PREFIX;
    collectDefaultMetrics({ register: this.registry, prefix: p });

    this.httpRequests = new Counter({ name: `${p}http_requests_total`, help: 'HTTP requests answered, by method, route template and status (499: the connection closed first).', labelNames: ['method', 'route', 'status'], registers });
    this.httpDuration = new Histogram({ name: `${p}http_request_duration_seconds`, help: 'HTTP request duration until the response ended, by method and route template.', labelNames: ['method', 'route'], buckets: HTTP_DURATION_BUCKETS, registers });
    this.uploadRequests = new Gauge({ name: `${p}upload_requests_in_flight`, help: 'Upload requests (POST, PATCH, PUT of blob uploads) being served by this process.', registers });
    this.pushedBytes = new Counter({ name: `${p}blob_bytes_pushed_total`, help: 'Blob bytes received by uploads and written to staging.', registers });
    this.pulledBytes = new Counter({ name: `${p}blob_bytes_pulled_total`, help: 'Blob bytes sent by blob GETs (ranges included).', registers });
    this.tokensIssued = new Counter({ name: `${p}auth_tokens_issued_total`, help: 'Registry tokens issued, by grant (token: GET /token; password, refresh_token: OAuth2 POST).', labelNames: ['grant'], registers });
    this.authFailures = new Counter({ name: `${p}auth_failures_total`, help: 'Refused authentications and authorizations, by reason.', labelNames: ['reason'], registers });
    this.gcRuns = new Counter({ name: `${p}gc_runs_total`, help: 'GC passes, by trigger and outcome.', labelNames: ['trigger', 'outcome'], registers });
    this.gcDeleted = new Counter({ name: `${p}gc_deleted_objects_total`, help: 'Objects deleted by GC, by kind (layer, manifest, upload, orphan_file).', labelNames: ['kind'], registers });
    this.gcReclaimed = new Counter({ name: `${p}gc_reclaimed_bytes_total`, help: 'Blob bytes GC deleted.', registers });
    this.gcDuration = new Histogram({ name: `${p}gc_duration_seconds`, help: 'Duration of GC passes (dry runs included).', buckets: GC_DURATION_BUCKETS, registers });

    // Known label values start at 0, so rate() and alerts see a series before its first event.
    for (const grant of TOKEN_GRANT_KINDS) this.tokensIssued.inc({ grant }, 0);
    for (const reason of AUTH_FAILURE_REASONS) this.authFailures.inc({ reason }, 0);
    for (const trigger of GC_TRIGGERS) for (const outcome of GC_OUTCOMES) this.gcRuns.inc({ trigger, outcome }, 0);
    for (const kind of ['layer', 'manifest', 'upload', 'orphan_file']) this.gcDeleted.inc({ kind }, 0);

    const uploadSessions: Gauge = new Gauge({
      name: `${p}upload_sessions_open`,
      help: 'Upload sessions open and not expired (registry-wide, from the database).',
      registers,
      aggregator: 'first', // registry-wide: the same reading in every worker
      collect: async () => {
        const readings = await this.readDatabase();
        if (readings) uploadSessions.set(readings.openUploads);
      },
    });
    const dedupHits: Counter = new Counter({
      name: `${p}blob_dedup_hits_total`,
      help: 'Blobs pushed, mounted or probed (HEAD) that were already stored (registry-wide, from the database).',
      registers,
      aggregator: 'first', // registry-wide: the same reading in every worker
      collect: async () => setCounter(dedupHits, (await this.readDatabase())?.dedupHits),
    });
    const dedupMisses: Counter = new Counter({
      name: `${p}blob_dedup_misses_total`,
      help: 'Blobs pushed that were new to the registry (registry-wide, from the database).',
      registers,
      aggregator: 'first', // registry-wide: the same reading in every worker
      collect: async () => setCounter(dedupMisses, (await this.readDatabase())?.dedupMisses),
    });
  }

  onModuleDestroy(): void {
    this.cluster?.close();
    this.registry.clear();
  }

  /** The exposition text of every metric (scrape time: this reads the database), of every worker in a cluster. */
  metrics(): Promise<string> {
    return this.cluster ? this.cluster.metrics() : this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One answered request. `route` must be a template (see route-label.ts), never a raw path. */
  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status });
    this.httpDuration.observe({ method, route }, seconds);
  }

  uploadRequestStarted(): void {
    this.uploadRequests.inc();
  }

  uploadRequestEnded(): void {
    this.uploadRequests.dec();
  }

  bytesPushed(bytes: number): void {
    if (bytes > 0) this.pushedBytes.inc(bytes);
  }

  /** Blob bytes sent by a GET (counted as they are written, so a pull cut short counts what went out). */
  bytesPulled(bytes: number): void {
    if (bytes > 0) this.pulledBytes.inc(bytes);
  }

  tokenIssued(grant: TokenGrantKind): void {
    this.tokensIssued.inc({ grant });
  }

  authFailure(reason: AuthFailureReason): void {
    this.authFailures.inc({ reason });
  }

  /** A GC pass ended (`report` unless it was skipped). Deletions count only for real passes, partial ones included. */
  gcRun(trigger: GcRunRecord['trigger'], outcome: GcOutcome, report?: GcReport): void {
    this.gcRuns.inc({ trigger, outcome });
    if (!report) return;
    this.gcDuration.observe(report.durationMs / 1000);
    if (report.dryRun) return;
    this.gcDeleted.inc({ kind: 'layer' }, report.deletedLayers);
    this.gcDeleted.inc({ kind: 'manifest' }, report.deletedManifests);
    this.gcDeleted.inc({ kind: 'upload' }, report.deletedUploads);
    this.gcDeleted.inc({ kind: 'orphan_file' }, report.deletedOrphanFiles);
    this.gcReclaimed.inc(report.reclaimedBytes);
  }

  /** One database round per scrape, however many metrics ask (they are collected concurrently). */
  private readDatabase(): Promise<DatabaseReadings | undefined> {
    this.reading ??= this.queryDatabase().finally(() => (this.reading = undefined));
    return this.reading;
  }

  /** Undefined when the database fails: the metrics keep their last values and the rest of the scrape is served. */
  private async queryDatabase(): Promise<DatabaseReadings | undefined> {
    const stores = this.uow.stores;
    try {
      const [openUploads, dedupHits, dedupMisses] = await Promise.all([
        stores.uploads.countActiveSince(Date.now() - this.config.uploadTimeoutMs),
        stores.counters.get('dedup_hits'),
        stores.counters.get('dedup_misses'),
      ]);
      return { openUploads, dedupHits, dedupMisses };
    } catch (error) {
      this.logger.warn(`metrics: database read failed: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  }
}

/** Sets a counter to a total kept elsewhere (the database); undefined leaves it as it was. */
function setCounter(counter: Counter, total: number | undefined): void {
  if (total === undefined) return;
  counter.reset();
  counter.inc(total);
}
