import type { Selectable } from 'kysely';
import type { Database } from '../schema';
import type { Executor } from './executor';
import { QueryTemplate } from './query-template';

export type RegistryAction = 'pull' | 'push' | 'delete';

export interface PolicyRecord {
  id: string;
  /** Repository glob: `*` matches any characters, `/` included. */
  repository: string;
  /** A user name, `group:<name>`, `*` (any authenticated user) or `anonymous`. */
  subject: string;
  permissions: RegistryAction[];
  createdAt: number;
  updatedAt: number;
}

/** Access policies. (repository, subject) is unique; a duplicate insert fails with the unique-constraint error. */
export interface PolicyStore {
  /** Every policy, oldest first (the order the check endpoint reports a deciding policy in). */
  list(): Promise<PolicyRecord[]>;
  find(id: string): Promise<PolicyRecord | undefined>;
  create(policy: PolicyRecord): Promise<void>;
  update(id: string, changes: Partial<Pick<PolicyRecord, 'repository' | 'subject' | 'permissions'>>, now: number): Promise<PolicyRecord | undefined>;
  delete(id: string): Promise<boolean>;
  /** Deletes the policies naming `subject` (a deleted user or group). */
  deleteForSubject(subject: string): Promise<void>;
}

type Row = Selectable<Database['policies']>;

const toRecord = (r: Row): PolicyRecord => ({
  id: r.id,
  repository: r.repository,
  subject: r.subject,
  permissions: r.permissions.split(',').filter(Boolean) as RegistryAction[],
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

/** Read on every token request, so compiled once. */
const LIST = new QueryTemplate((db) => db.selectFrom('policies').selectAll().orderBy('created_at').orderBy('id'));

export class KyselyPolicyStore implements PolicyStore {
  constructor(private readonly db: Executor) {}

  async list(): Promise<PolicyRecord[]> {
    return (await LIST.execute(this.db)).map(toRecord);
  }

  async find(id: string): Promise<PolicyRecord | undefined> {
    const row = await this.db.selectFrom('policies').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  async create(p: PolicyRecord): Promise<void> {
    await this.db
      .insertInto('policies')
      .values({ id: p.id, repository: p.repository, subject: p.subject, permissions: p.permissions.join(','), created_at: p.createdAt, updated_at: p.updatedAt })
      .execute();
  }

  async update(id: string, changes: Partial<Pick<PolicyRecord, 'repository' | 'subject' | 'permissions'>>, now: number): Promise<PolicyRecord | undefined> {
    await this.db
      .updateTable('policies')
      .set({
        updated_at: now,
        ...(changes.repository !== undefined && { repository: changes.repository }),
        ...(changes.subject !== undefined && { subject: changes.subject }),
        ...(changes.permissions !== undefined && { permissions: changes.permissions.join(',') }),
      })
      .where('id', '=', id)
      .execute();
    return this.find(id);
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('policies').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async deleteForSubject(subject: string): Promise<void> {
    await this.db.deleteFrom('policies').where('subject', '=', subject).execute();
  }
}
