import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { REGISTRY_CONFIG } from '../config/config.tokens';
import type { RegistryConfig } from '../config/registry-config';
import { GcAlreadyRunning, GcService } from './gc.service';

const JOB = 'registry-gc';

/** Runs GC every REGISTRY_GC_INTERVAL seconds (0: never); a tick never overlaps a running pass. */
@Injectable()
export class GcScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(GcScheduler.name);
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly gc: GcService,
    private readonly registry: SchedulerRegistry,
    @Inject(REGISTRY_CONFIG) private readonly config: RegistryConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.gc.intervalMs <= 0) return;
    const timer = setInterval(() => this.tick(), this.config.gc.intervalMs);
    timer.unref();
    this.registry.addInterval(JOB, timer);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.registry.doesExist('interval', JOB)) this.registry.deleteInterval(JOB);
    await this.running; // let a pass in flight finish before the database closes
  }

  private tick(): void {
    if (this.running || this.config.readOnly) return; // maintenance mode: nothing is deleted
    this.running = this.gc
      .run({ trigger: 'schedule' })
      .catch((error: unknown) => {
        if (!(error instanceof GcAlreadyRunning)) this.logger.error(`scheduled gc failed: ${error instanceof Error ? error.stack : String(error)}`);
      })
      .finally(() => (this.running = undefined));
  }
}
