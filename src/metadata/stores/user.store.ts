import type { Selectable } from 'kysely';
import type { Database } from '../schema';
import type { Executor } from './executor';
import { QueryTemplate } from './query-template';

export type UserRole = 'admin' | 'user';

export interface UserRecord {
  id: string;
  name: string;
  passwordHash: string;
  role: UserRole;
  disabled: boolean;
  /** Bumped when the password changes or the user is disabled; refresh tokens carry the value they were issued under. */
  credentialsVersion: number;
  createdAt: number;
  updatedAt: number;
}

export interface GroupRecord {
  name: string;
  createdAt: number;
  /** Member user names, sorted. */
  members: string[];
}

/** Users and groups. Names are unique; inserting a duplicate fails with the driver's unique-constraint error. */
export interface UserStore {
  findByName(name: string): Promise<UserRecord | undefined>;
  findById(id: string): Promise<UserRecord | undefined>;
  /** All users by name. */
  list(): Promise<UserRecord[]>;
  count(): Promise<number>;
  countAdmins(): Promise<number>;
  create(user: UserRecord): Promise<void>;
  /** Updates the given fields; returns the new row or undefined when the user does not exist. */
  update(id: string, changes: Partial<Pick<UserRecord, 'passwordHash' | 'role' | 'disabled' | 'credentialsVersion'>>, now: number): Promise<UserRecord | undefined>;
  /** Deletes the user and its group memberships; true when it existed. */
  delete(id: string): Promise<boolean>;
  /** Names of the groups `userId` belongs to. */
  groupsOf(userId: string): Promise<string[]>;

  listGroups(): Promise<GroupRecord[]>;
  findGroup(name: string): Promise<GroupRecord | undefined>;
  createGroup(name: string, now: number): Promise<void>;
  /** Deletes the group and its memberships; true when it existed. */
  deleteGroup(name: string): Promise<boolean>;
  /** Adds a member (idempotent). */
  addMember(group: string, userId: string, now: number): Promise<void>;
  /** Removes a member; true when it was one. */
  removeMember(group: string, userId: string): Promise<boolean>;
}

type UserRow = Selectable<Database['users']>;

const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  name: r.name,
  passwordHash: r.password_hash,
  role: r.role,
  disabled: Number(r.disabled) === 1,
  credentialsVersion: Number(r.credentials_version),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

// Read on every login (the token endpoint), so compiled once.
const FIND_BY_NAME = new QueryTemplate((db, name: string) => db.selectFrom('users').selectAll().where('name', '=', name));
const FIND_BY_ID = new QueryTemplate((db, id: string) => db.selectFrom('users').selectAll().where('id', '=', id));
const GROUPS_OF = new QueryTemplate((db, userId: string) =>
  db.selectFrom('group_members').select('group_name').where('user_id', '=', userId).orderBy('group_name'),
);

export class KyselyUserStore implements UserStore {
  constructor(private readonly db: Executor) {}

  async findByName(name: string): Promise<UserRecord | undefined> {
    const row = await FIND_BY_NAME.executeTakeFirst(this.db, name);
    return row && toUser(row);
  }

  async findById(id: string): Promise<UserRecord | undefined> {
    const row = await FIND_BY_ID.executeTakeFirst(this.db, id);
    return row && toUser(row);
  }

  async list(): Promise<UserRecord[]> {
    return (await this.db.selectFrom('users').selectAll().orderBy('name').execute()).map(toUser);
  }

  async count(): Promise<number> {
    const row = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async countAdmins(): Promise<number> {
    const row = await this.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'admin')
      .where('disabled', '=', 0)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async create(user: UserRecord): Promise<void> {
    await this.db
      .insertInto('users')
      .values({
        id: user.id,
        name: user.name,
        password_hash: user.passwordHash,
        role: user.role,
        disabled: user.disabled ? 1 : 0,
        credentials_version: user.credentialsVersion,
        created_at: user.createdAt,
        updated_at: user.updatedAt,
      })
      .execute();
  }

  async update(
    id: string,
    changes: Partial<Pick<UserRecord, 'passwordHash' | 'role' | 'disabled' | 'credentialsVersion'>>,
    now: number,
  ): Promise<UserRecord | undefined> {
    await this.db
      .updateTable('users')
      .set({
        updated_at: now,
        ...(changes.passwordHash !== undefined && { password_hash: changes.passwordHash }),
        ...(changes.role !== undefined && { role: changes.role }),
        ...(changes.disabled !== undefined && { disabled: changes.disabled ? 1 : 0 }),
        ...(changes.credentialsVersion !== undefined && { credentials_version: changes.credentialsVersion }),
      })
      .where('id', '=', id)
      .execute();
    return this.findById(id);
  }

  async delete(id: string): Promise<boolean> {
    await this.db.deleteFrom('group_members').where('user_id', '=', id).execute();
    const result = await this.db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async groupsOf(userId: string): Promise<string[]> {
    const rows = await GROUPS_OF.execute(this.db, userId);
    return rows.map((r) => r.group_name);
  }

  async listGroups(): Promise<GroupRecord[]> {
    const groups = await this.db.selectFrom('groups').selectAll().orderBy('name').execute();
    const members = await this.db
      .selectFrom('group_members')
      .innerJoin('users', 'users.id', 'group_members.user_id')
      .select(['group_members.group_name', 'users.name'])
      .orderBy('users.name')
      .execute();
    return groups.map((g) => ({
      name: g.name,
      createdAt: Number(g.created_at),
      members: members.filter((m) => m.group_name === g.name).map((m) => m.name),
    }));
  }

  async findGroup(name: string): Promise<GroupRecord | undefined> {
    const group = await this.db.selectFrom('groups').selectAll().where('name', '=', name).executeTakeFirst();
    if (!group) return undefined;
    const members = await this.db
      .selectFrom('group_members')
      .innerJoin('users', 'users.id', 'group_members.user_id')
      .select('users.name')
      .where('group_members.group_name', '=', name)
      .orderBy('users.name')
      .execute();
    return { name: group.name, createdAt: Number(group.created_at), members: members.map((m) => m.name) };
  }

  async createGroup(name: string, now: number): Promise<void> {
    await this.db.insertInto('groups').values({ name, created_at: now }).execute();
  }

  async deleteGroup(name: string): Promise<boolean> {
    await this.db.deleteFrom('group_members').where('group_name', '=', name).execute();
    const result = await this.db.deleteFrom('groups').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async addMember(group: string, userId: string, now: number): Promise<void> {
    await this.db
      .insertInto('group_members')
      .values({ group_name: group, user_id: userId, created_at: now })
      .onConflict((oc) => oc.columns(['group_name', 'user_id']).doNothing())
      .execute();
  }

  async removeMember(group: string, userId: string): Promise<boolean> {
    const result = await this.db.deleteFrom('group_members').where('group_name', '=', group).where('user_id', '=', userId).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
}
