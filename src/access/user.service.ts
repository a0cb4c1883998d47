import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { OciError } from '../common/errors/oci-error';
import type { AccessTokenRecord } from '../metadata/stores/access-token.store';
import type { GroupRecord, UserRecord, UserRole } from '../metadata/stores/user.store';
import { UnitOfWork } from '../metadata/unit-of-work';
import type { Identity, RegistryAction } from './access.types';
import { AuditService } from './audit.service';
import { hashPassword } from './password-hasher';
import { ACCESS_TOKEN_PREFIX, newSecret, secretHash } from './secrets';

/** User and group names: lower-case letters, digits, `.`, `_`, `-`; `anonymous` is reserved. */
export const ACCOUNT_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const RESERVED_NAMES = new Set(['anonymous']);

export interface UserView {
  name: string;
  role: UserRole;
  disabled: boolean;
  groups: string[];
  createdAt: string;
  updatedAt: string;
}

export interface AccessTokenView {
  id: string;
  user: string;
  name: string;
  repositories: string | null;
  actions: RegistryAction[] | null;
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** The SQLite/Postgres unique-constraint violation, whatever the driver's error class. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

/**
 * Users, groups and access tokens. Every change is audited with its actor. A password change,
 * a disable or a delete revokes the user's refresh tokens in the same transaction (and bumps
 * the credentials version, which also kills them), so a stolen identity token dies with it.
 */
@Injectable()
export class UserService {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly audit: AuditService,
  ) {}

  async list(): Promise<UserView[]> {
    const users = await this.uow.stores.users.list();
    return Promise.all(users.map((u) => this.view(u)));
  }

  async get(name: string): Promise<UserView> {
    return this.view(await this.require(name));
  }

  async require(name: string): Promise<UserRecord> {
    const user = await this.uow.stores.users.findByName(name);
    if (!user) throw OciError.notFound('user', { name });
    return user;
  }

  async create(input: { name: string; password: string; role?: UserRole }, actor?: string): Promise<UserView> {
    if (RESERVED_NAMES.has(input.name)) throw OciError.invalidRequest(`"${input.name}" is a reserved name`, { fields: { name: ['reserved'] } });
    const now = Date.now();
    const user: UserRecord = {
      id: randomUUID(),
      name: input.name,
      passwordHash: await hashPassword(input.password),
      role: input.role ?? 'user',
      disabled: false,
      credentialsVersion: 1,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.uow.stores.users.create(user);
    } catch (error) {
      if (isUniqueViolation(error)) throw OciError.conflict(`user "${input.name}" already exists`, { name: input.name });
      throw error;
    }
    this.audit.record({ type: 'user.create', actor, outcome: 'success', detail: { user: user.name, role: user.role } });
    return this.view(user);
  }

  async update(name: string, changes: { password?: string; role?: UserRole; disabled?: boolean }, actor?: string): Promise<UserView> {
    const passwordHash = changes.password === undefined ? undefined : await hashPassword(changes.password);
    const updated = await this.uow.run(async (stores) => {
      const user = await stores.users.findByName(name);
      if (!user) throw OciError.notFound('user', { name });
      const losesAdmin = user.role === 'admin' && !user.disabled && (changes.role === 'user' || changes.disabled === true);
      if (losesAdmin && (await stores.users.countAdmins()) <= 1) throw OciError.conflict('the last enabled admin cannot be demoted or disabled', { name });
      const killsCredentials = passwordHash !== undefined || (changes.disabled === true && !user.disabled);
      const now = Date.now();
      if (killsCredentials) await stores.refreshTokens.revokeAllForUser(user.id, now);
      return stores.users.update(
        user.id,
        {
          passwordHash,
          role: changes.role,
          disabled: changes.disabled,
          credentialsVersion: killsCredentials ? user.credentialsVersion + 1 : undefined,
        },
        now,
      );
    });
    const fields = Object.keys(changes).filter((k) => changes[k as keyof typeof changes] !== undefined);
    this.audit.record({ type: 'user.update', actor, outcome: 'success', detail: { user: name, fields, role: changes.role, disabled: changes.disabled } });
    return this.view(updated!);
  }

  async delete(name: string, actor?: string): Promise<void> {
    await this.uow.run(async (stores) => {
      const user = await stores.users.findByName(name);
      if (!user) throw OciError.notFound('user', { name });
      if (user.role === 'admin' && !user.disabled && (await stores.users.countAdmins()) <= 1) throw OciError.conflict('the last enabled admin cannot be deleted', { name });
      const now = Date.now();
      await stores.refreshTokens.revokeAllForUser(user.id, now);
      await stores.accessTokens.revokeAllForUser(user.id, now);
      await stores.policies.deleteForSubject(user.name);
      await stores.users.delete(user.id);
    });
    this.audit.record({ type: 'user.delete', actor, outcome: 'success', detail: { user: name } });
  }

  /** The identity of an enabled user (for tokens and checks), or undefined. */
  async identityOf(name: string): Promise<Identity | undefined> {
    const user = await this.uow.stores.users.findByName(name);
    if (!user || user.disabled) return undefined;
    return { userId: user.id, name: user.name, role: user.role, groups: await this.uow.stores.users.groupsOf(user.id) };
  }

  /** Revokes every refresh token (docker identity token) of the user: its clients must log in again. */
  async revokeRefreshTokens(name: string, actor?: string): Promise<void> {
    const user = await this.require(name);
    await this.uow.stores.refreshTokens.revokeAllForUser(user.id, Date.now());
    this.audit.record({ type: 'user.refresh-tokens.revoke', actor, outcome: 'success', detail: { user: name } });
  }

  // Groups

  async listGroups(): Promise<GroupRecord[]> {
    return this.uow.stores.users.listGroups();
  }

  async getGroup(name: string): Promise<GroupRecord> {
    const group = await this.uow.stores.users.findGroup(name);
    if (!group) throw OciError.notFound('group', { name });
    return group;
  }

  async createGroup(name: string, members: string[], actor?: string): Promise<GroupRecord> {
    await this.uow.run(async (stores) => {
      const now = Date.now();
      try {
        await stores.users.createGroup(name, now);
      } catch (error) {
        if (isUniqueViolation(error)) throw OciError.conflict(`group "${name}" already exists`, { name });
        throw error;
      }
      for (const member of members) {
        const user = await stores.users.findByName(member);
        if (!user) throw OciError.notFound('user', { name: member });
        await stores.users.addMember(name, user.id, now);
      }
    });
    this.audit.record({ type: 'group.create', actor, outcome: 'success', detail: { group: name, members } });
    return this.getGroup(name);
  }

  async deleteGroup(name: string, actor?: string): Promise<void> {
    await this.uow.run(async (stores) => {
      if (!(await stores.users.deleteGroup(name))) throw OciError.notFound('group', { name });
      await stores.policies.deleteForSubject(`group:${name}`);
    });
    this.audit.record({ type: 'group.delete', actor, outcome: 'success', detail: { group: name } });
  }

  async addMember(group: string, member: string, actor?: string): Promise<GroupRecord> {
    await this.getGroup(group);
    const user = await this.require(member);
    await this.uow.stores.users.addMember(group, user.id, Date.now());
    this.audit.record({ type: 'group.member.add', actor, outcome: 'success', detail: { group, user: member } });
    return this.getGroup(group);
  }

  async removeMember(group: string, member: string, actor?: string): Promise<GroupRecord> {
    await this.getGroup(group);
    const user = await this.require(member);
    if (!(await this.uow.stores.users.removeMember(group, user.id))) throw OciError.notFound('group member', { group, user: member });
    this.audit.record({ type: 'group.member.remove', actor, outcome: 'success', detail: { group, user: member } });
    return this.getGroup(group);
  }

  // Access tokens

  /** Creates an access token; the secret is in the answer and nowhere else, ever. */
  async createToken(
    userName: string,
    input: { name: string; expiresAt?: Date; repositories?: string; actions?: RegistryAction[] },
    actor?: string,
  ): Promise<AccessTokenView & { secret: string }> {
    const user = await this.require(userName);
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) throw OciError.invalidRequest('expiresAt is in the past', { fields: { expiresAt: ['must be in the future'] } });
    const secret = newSecret(ACCESS_TOKEN_PREFIX);
    const record: AccessTokenRecord = {
      id: randomUUID(),
      userId: user.id,
      name: input.name,
      secretHash: secretHash(secret),
      repositories: input.repositories,
      actions: input.actions,
      expiresAt: input.expiresAt?.getTime(),
      createdAt: Date.now(),
    };
    await this.uow.stores.accessTokens.create(record);
    this.audit.record({ type: 'token.create', actor, outcome: 'success', detail: { user: user.name, tokenId: record.id, name: record.name } });
    return { ...this.tokenView(record, user.name), secret };
  }

  async listTokens(userName: string): Promise<AccessTokenView[]> {
    const user = await this.require(userName);
    return (await this.uow.stores.accessTokens.listForUser(user.id)).map((t) => this.tokenView(t, user.name));
  }

  async revokeToken(userName: string, id: string, actor?: string): Promise<void> {
    const user = await this.require(userName);
    await this.uow.run(async (stores) => {
      const token = await stores.accessTokens.findById(id);
      if (!token || token.userId !== user.id) throw OciError.notFound('access token', { id });
      const now = Date.now();
      await stores.accessTokens.revoke(id, now);
      await stores.refreshTokens.revokeForAccessToken(id, now);
    });
    this.audit.record({ type: 'token.revoke', actor, outcome: 'success', detail: { user: user.name, tokenId: id } });
  }

  private async view(user: UserRecord): Promise<UserView> {
    return {
      name: user.name,
      role: user.role,
      disabled: user.disabled,
      groups: await this.uow.stores.users.groupsOf(user.id),
      createdAt: iso(user.createdAt)!,
      updatedAt: iso(user.updatedAt)!,
    };
  }

  private tokenView(t: AccessTokenRecord, user: string): AccessTokenView {
    return {
      id: t.id,
      user,
      name: t.name,
      repositories: t.repositories ?? null,
      actions: (t.actions as RegistryAction[] | undefined) ?? null,
      expiresAt: iso(t.expiresAt),
      createdAt: iso(t.createdAt)!,
      lastUsedAt: iso(t.lastUsedAt),
      revokedAt: iso(t.revokedAt),
    };
  }
}
