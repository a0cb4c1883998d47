import { Global, Module } from '@nestjs/common';
import { createSharedLocks } from './shared-locks';

/** Injection token of the SharedLocks (see shared-locks.ts). */
export const SHARED_LOCKS = Symbol('SHARED_LOCKS');

/** What the workers of one registry process (REGISTRY_WORKERS) share: locks kept by the cluster primary. */
@Global()
@Module({
  providers: [{ provide: SHARED_LOCKS, useFactory: createSharedLocks }],
  exports: [SHARED_LOCKS],
})
export class ClusterModule {}
