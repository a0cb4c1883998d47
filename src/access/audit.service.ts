import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import type { AuditEvent, AuditQuery, AuditRecord } from '../metadata/stores/audit.store';
import { UnitOfWork } from '../metadata/unit-of-work';

const FLUSH_INTERVAL_MS = 250;
const FLUSH_AT = 200;
const MAX_PENDING = 50_000;
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/**
 * The audit log. Events are buffered and written in one insert every 250 ms (or every 200
 * events), so a burst of logins or pushes costs one transaction, not one fsync each. The
 * price: a crash loses at most the last quarter second of events. Shutdown flushes. Events
 * older than REGISTRY_AUDIT_RETENTION_DAYS are pruned hourly.
 */
@Injectable()
export class AuditService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(AuditService.name);
  private pending: AuditEvent[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly uow: UnitOfWork,
    private readonly scheduler: SchedulerRegistry,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
  ) {}

  onModuleInit(): void {
    const prune = setInterval(() => void this.prune(), PRUNE_INTERVAL_MS);
    prune.unref();
    this.scheduler.addInterval('audit-prune', prune);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  /** Queues an event (`at` defaults to now). Never throws and never blocks the request. */
  record(event: Omit<AuditEvent, 'at'> & { at?: number }): void {
    if (this.pending.length >= MAX_PENDING) return; // the database is stuck; don't grow without bound
    this.pending.push({ ...event, at: event.at ?? Date.now() });
    if (this.pending.length >= FLUSH_AT) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /** Writes every queued event; resolves when they are committed. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.uow.stores.audit.append(batch);
      } catch (error) {
        this.logger.error(`could not write ${batch.length} audit events: ${(error as Error).message}`);
      }
    });
    return this.flushing;
  }

  /** Events newest first (queued events are flushed first, so a query sees everything recorded before it). */
  async query(q: AuditQuery): Promise<AuditRecord[]> {
    await this.flush();
    return this.uow.stores.audit.query(q);
  }

  async prune(now = Date.now()): Promise<number> {
    try {
      return await this.uow.stores.audit.prune(now - this.config.audit.retentionMs);
    } catch (error) {
      this.logger.error(`audit prune failed: ${(error as Error).message}`);
      return 0;
    }
  }
}
