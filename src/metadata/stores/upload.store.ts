import { sql, type Selectable } from 'kysely';
import type { Database } from '../schema';
import type { Executor } from './executor';

export interface UploadRecord {
  id: string;
  repository: string;
  /** Bytes received and acknowledged so far. */
  offset: number;
  startedAt: number;
  updatedAt: number;
}

/** Upload sessions: the durable half of a resumable upload (bytes are staged in storage). */
export interface UploadStore {
  create(upload: UploadRecord): Promise<void>;
  find(id: string): Promise<UploadRecord | undefined>;
  /**
   * Advances the offset from `expectedOffset` to `offset`; false when the session moved on
   * (or vanished) meanwhile, so two writers can never both succeed.
   */
  updateProgress(id: string, expectedOffset: number, offset: number, now: number): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** Sessions idle since before `time` (for expiry). */
  listIdleSince(time: number, limit: number): Promise<UploadRecord[]>;
  /** How many sessions were updated at or after `time` (the open ones, for metrics). */
  countActiveSince(time: number): Promise<number>;
}

type Row = Selectable<Database['uploads']>;
const toRecord = (r: Row): UploadRecord => ({
  id: r.id,
  repository: r.repository,
  offset: Number(r.offset),
  startedAt: Number(r.started_at),
  updatedAt: Number(r.updated_at),
});

export class KyselyUploadStore implements UploadStore {
  constructor(private readonly db: Executor) {}

  async create(u: UploadRecord): Promise<void> {
    await this.db
      .insertInto('uploads')
      .values({ id: u.id, repository: u.repository, offset: u.offset, started_at: u.startedAt, updated_at: u.updatedAt })
      .execute();
  }

  async find(id: string): Promise<UploadRecord | undefined> {
    const row = await this.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async updateProgress(id: string, expectedOffset: number, offset: number, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('uploads')
      .set({ offset, updated_at: now })
      .where('id', '=', id)
      .where('offset', '=', expectedOffset)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('uploads').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async listIdleSince(time: number, limit: number): Promise<UploadRecord[]> {
    const rows = await this.db.selectFrom('uploads').selectAll().where('updated_at', '<', time).orderBy('updated_at').limit(limit).execute();
    return rows.map(toRecord);
  }

  async countActiveSince(time: number): Promise<number> {
    const row = await this.db.selectFrom('uploads').select(sql<number>`count(*)`.as('n')).where('updated_at', '>=', time).executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
