import type { Executor } from './executor';

/**
 * Named leases in the database, so that across processes (and later replicas) only one
 * holder runs a job at a time. A lease expires at `expires_at`, so a crashed holder cannot
 * block the job forever. Call `acquire` inside a transaction (UnitOfWork.run): the read and
 * the write must be one step.
 */
export interface LockStore {
  acquire(name: string, holder: string, ttlMs: number, now: number): Promise<boolean>;
  release(name: string, holder: string): Promise<void>;
  /** Holders of the leases whose name starts with `prefix` and that have not expired at `now`. */
  liveHolders(prefix: string, now: number): Promise<string[]>;
}

export class KyselyLockStore implements LockStore {
  constructor(private readonly db: Executor) {}

  async acquire(name: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    const current = await this.db.selectFrom('locks').select(['holder', 'expires_at']).where('name', '=', name).executeTakeFirst();
    if (current && current.holder !== holder && Number(current.expires_at) > now) return false;
    await this.db
      .insertInto('locks')
      .values({ name, holder, expires_at: now + ttlMs })
      .onConflict((oc) => oc.column('name').doUpdateSet({ holder, expires_at: now + ttlMs }))
      .execute();
    return true;
  }

  async liveHolders(prefix: string, now: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('locks')
      .select('holder')
      .where('name', '>=', prefix)
      .where('name', '<', `${prefix}\uffff`)
      .where('expires_at', '>', now)
      .execute();
    return rows.map((r) => r.holder);
  }

  async release(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('locks').where('name', '=', name).where('holder', '=', holder).execute();
  }
}
