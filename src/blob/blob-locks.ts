import { Inject, Injectable } from '@nestjs/common';
import { SHARED_LOCKS } from '../cluster/cluster.module';
import type { SharedLocks } from '../cluster/shared-locks';

/**
 * Serialises, per digest, the two things that must not interleave: an upload committing a
 * blob (bytes into place, then its metadata row) and GC deleting that blob (metadata row,
 * then bytes). Without it GC could delete the file between an upload's "the file is already
 * there" check and its metadata commit, leaving a row without bytes. The locks hold across
 * the workers of this process (SharedLocks); across replicas the database-level GC lease and
 * the re-check in GC's transaction take over.
 */
@Injectable()
export class BlobLocks {
  constructor(@Inject(SHARED_LOCKS) private readonly locks: SharedLocks) {}

  run<T>(digest: string, work: () => Promise<T>): Promise<T> {
    return this.locks.run(`blob:${digest}`, work);
  }

  /** The digest's lock if it is free now (GC skips busy digests); undefined when busy. */
  tryAcquire(digest: string): Promise<(() => void) | undefined> {
    return this.locks.tryAcquire(`blob:${digest}`);
  }
}
