import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { UnitOfWork } from '../metadata/unit-of-work';

export const INSTANCE_LEASE_PREFIX = 'instance:';
const TTL_MS = 30_000;
const RENEW_MS = 10_000;

/**
 * Announces a running server in the database: a lease `instance:<id>` renewed every 10 s
 * (30 s TTL) and released on shutdown. Tools that must not run beside a live server on the
 * same data — the CLI's deleting GC pass, whose per-digest lock with uploads exists only
 * inside one process — check for these leases first. A crashed server's lease lapses by itself.
 */
@Injectable()
export class InstancePresence implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(InstancePresence.name);
  readonly id = randomUUID();
  private readonly holder = `${hostname()} pid ${process.pid}`;
  private timer?: NodeJS.Timeout;

  constructor(private readonly uow: UnitOfWork) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.renew();
    this.timer = setInterval(() => void this.renew(), RENEW_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.uow.stores.locks.release(INSTANCE_LEASE_PREFIX + this.id, this.holder).catch(() => undefined);
  }

  private async renew(): Promise<void> {
    try {
      await this.uow.run((stores) => stores.locks.acquire(INSTANCE_LEASE_PREFIX + this.id, this.holder, TTL_MS, Date.now()));
    } catch (error) {
      this.logger.warn(`could not renew the instance lease: ${(error as Error).message}`);
    }
  }
}
