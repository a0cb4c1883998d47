import { sql } from 'kysely';
import type { Executor } from './executor';

/** `policies_seeded`: 1 once the first start seeded the policies (so deleting them all does not re-seed). */
export type CounterName = 'dedup_hits' | 'dedup_misses' | 'policies_seeded';

/** Named monotonic counters kept in the database (shared by every replica). */
export interface CounterStore {
  increment(name: CounterName, by?: number): Promise<void>;
  get(name: CounterName): Promise<number>;
}

export class KyselyCounterStore implements CounterStore {
  constructor(private readonly db: Executor) {}

  async increment(name: CounterName, by = 1): Promise<void> {
    await this.db
      .insertInto('counters')
      .values({ name, value: by })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value: sql`counters.value + ${by}` }))
      .execute();
  }

  async get(name: CounterName): Promise<number> {
    const row = await this.db.selectFrom('counters').select('value').where('name', '=', name).executeTakeFirst();
    return Number(row?.value ?? 0);
  }
}
