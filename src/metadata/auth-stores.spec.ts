import type { Kysely } from 'kysely';
import { openDatabase } from './database';
import type { Database } from './schema';
import { AccessTokenRecord, KyselyAccessTokenStore } from './stores/access-token.store';
import { AuditEvent, KyselyAuditStore } from './stores/audit.store';
import { KyselyPolicyStore, PolicyRecord } from './stores/policy.store';
import { KyselyRefreshTokenStore, RefreshTokenRecord } from './stores/refresh-token.store';
import { KyselyUserStore, UserRecord } from './stores/user.store';

/** The stores of users, groups, tokens, policies and the audit log, against a real (in-memory) SQLite database. */

const hash = (seed: number): string => seed.toString(16).padStart(64, '0');

let db: Kysely<Database>;

beforeEach(async () => {
  db = await openDatabase({ dialect: 'sqlite', filename: ':memory:' });
});

afterEach(async () => {
  await db.destroy();
});

function userRecord(id: string, name: string, extra: Partial<UserRecord> = {}): UserRecord {
  return { id, name, passwordHash: `scrypt$hash-of-${name}`, role: 'user', disabled: false, credentialsVersion: 1, createdAt: 100, updatedAt: 100, ...extra };
}

describe(KyselyUserStore.name, () => {
  let users: KyselyUserStore;
  beforeEach(() => {
    users = new KyselyUserStore(db);
  });

  it('finds a created user by name and by id, every field intact', async () => {
    const alice = userRecord('u1', 'alice', { role: 'admin', disabled: true, credentialsVersion: 3, createdAt: 10, updatedAt: 20 });
    await users.create(alice);
    expect(await users.findByName('alice')).toEqual(alice);
    expect(await users.findById('u1')).toEqual(alice);
  });

  it('answers undefined for an unknown name or id', async () => {
    await users.create(userRecord('u1', 'alice'));
    expect(await users.findByName('bob')).toBeUndefined();
    expect(await users.findByName('Alice')).toBeUndefined();
    expect(await users.findById('u2')).toBeUndefined();
  });

  it('refuses a second user with the same name', async () => {
    await users.create(userRecord('u1', 'alice'));
    await expect(users.create(userRecord('u2', 'alice'))).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
    expect(await users.count()).toBe(1);
  });

  it('refuses a second user with the same id', async () => {
    await users.create(userRecord('u1', 'alice'));
    await expect(users.create(userRecord('u1', 'bob'))).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
  });

  it('lists users by name and counts them', async () => {
    for (const [id, name] of [['u1', 'carol'], ['u2', 'alice'], ['u3', 'bob']]) await users.create(userRecord(id!, name!));
    expect((await users.list()).map((u) => u.name)).toEqual(['alice', 'bob', 'carol']);
    expect(await users.count()).toBe(3);
  });

  it('counts no users in a new database', async () => {
    expect(await users.count()).toBe(0);
    expect(await users.list()).toEqual([]);
    expect(await users.countAdmins()).toBe(0);
  });

  it('counts enabled admins only', async () => {
    await users.create(userRecord('u1', 'root', { role: 'admin' }));
    await users.create(userRecord('u2', 'ops', { role: 'admin' }));
    await users.create(userRecord('u3', 'old', { role: 'admin', disabled: true }));
    await users.create(userRecord('u4', 'alice'));
    expect(await users.countAdmins()).toBe(2);
  });

  it('updates only the given fields and the update time, and answers the new row', async () => {
    await users.create(userRecord('u1', 'alice'));
    const updated = await users.update('u1', { role: 'admin', credentialsVersion: 2 }, 500);
    expect(updated).toEqual(userRecord('u1', 'alice', { role: 'admin', credentialsVersion: 2, updatedAt: 500 }));
    expect(await users.findById('u1')).toEqual(updated);
    expect(await users.update('u1', { passwordHash: 'scrypt$new', disabled: true }, 600)).toEqual(
      userRecord('u1', 'alice', { role: 'admin', credentialsVersion: 2, passwordHash: 'scrypt$new', disabled: true, updatedAt: 600 }),
    );
    expect((await users.update('u1', { disabled: false }, 700))?.disabled).toBe(false);
  });

  it('leaves other users alone on update', async () => {
    await users.create(userRecord('u1', 'alice'));
    await users.create(userRecord('u2', 'bob'));
    await users.update('u1', { role: 'admin' }, 500);
    expect(await users.findById('u2')).toEqual(userRecord('u2', 'bob'));
  });

  it('answers undefined when updating an unknown user', async () => {
    expect(await users.update('nope', { role: 'admin' }, 500)).toBeUndefined();
  });

  it('deletes a user and its group memberships, answering whether it existed', async () => {
    await users.create(userRecord('u1', 'alice'));
    await users.create(userRecord('u2', 'bob'));
    await users.createGroup('dev', 1);
    await users.addMember('dev', 'u1', 2);
    await users.addMember('dev', 'u2', 2);
    expect(await users.delete('u1')).toBe(true);
    expect(await users.findById('u1')).toBeUndefined();
    expect(await users.findByName('alice')).toBeUndefined();
    expect(await users.groupsOf('u1')).toEqual([]);
    expect((await users.findGroup('dev'))?.members).toEqual(['bob']);
    expect(await users.delete('u1')).toBe(false);
  });

  it('frees the name of a deleted user for a new one', async () => {
    await users.create(userRecord('u1', 'alice'));
    await users.delete('u1');
    await users.create(userRecord('u2', 'alice'));
    expect((await users.findByName('alice'))?.id).toBe('u2');
  });

  describe('groups', () => {
    beforeEach(async () => {
      await users.create(userRecord('u1', 'carol'));
      await users.create(userRecord('u2', 'alice'));
      await users.create(userRecord('u3', 'bob'));
    });

    it('finds a new group with no members', async () => {
      await users.createGroup('dev', 42);
      expect(await users.findGroup('dev')).toEqual({ name: 'dev', createdAt: 42, members: [] });
    });

    it('answers undefined for an unknown group', async () => {
      expect(await users.findGroup('nope')).toBeUndefined();
    });

    it('refuses a second group with the same name', async () => {
      await users.createGroup('dev', 1);
      await expect(users.createGroup('dev', 2)).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    });

    it('lists member names sorted', async () => {
      await users.createGroup('dev', 1);
      for (const id of ['u1', 'u2', 'u3']) await users.addMember('dev', id, 2);
      expect(await users.findGroup('dev')).toEqual({ name: 'dev', createdAt: 1, members: ['alice', 'bob', 'carol'] });
    });

    it('adds a member once, however often it is asked', async () => {
      await users.createGroup('dev', 1);
      await users.addMember('dev', 'u2', 2);
      await users.addMember('dev', 'u2', 3);
      expect((await users.findGroup('dev'))?.members).toEqual(['alice']);
      expect(await users.groupsOf('u2')).toEqual(['dev']);
    });

    it("answers a user's groups sorted, and none for a user in no group", async () => {
      for (const name of ['ops', 'dev', 'qa']) await users.createGroup(name, 1);
      await users.addMember('qa', 'u2', 2);
      await users.addMember('dev', 'u2', 2);
      await users.addMember('ops', 'u3', 2);
      expect(await users.groupsOf('u2')).toEqual(['dev', 'qa']);
      expect(await users.groupsOf('u3')).toEqual(['ops']);
      expect(await users.groupsOf('u1')).toEqual([]);
    });

    it('lists groups by name, each with its own members', async () => {
      await users.createGroup('ops', 5);
      await users.createGroup('dev', 6);
      await users.createGroup('empty', 7);
      await users.addMember('ops', 'u3', 8);
      await users.addMember('dev', 'u1', 8);
      await users.addMember('dev', 'u2', 8);
      expect(await users.listGroups()).toEqual([
        { name: 'dev', createdAt: 6, members: ['alice', 'carol'] },
        { name: 'empty', createdAt: 7, members: [] },
        { name: 'ops', createdAt: 5, members: ['bob'] },
      ]);
    });

    it('removes a member, answering whether it was one', async () => {
      await users.createGroup('dev', 1);
      await users.addMember('dev', 'u1', 2);
      await users.addMember('dev', 'u2', 2);
      expect(await users.removeMember('dev', 'u1')).toBe(true);
      expect((await users.findGroup('dev'))?.members).toEqual(['alice']);
      expect(await users.removeMember('dev', 'u1')).toBe(false);
      expect(await users.removeMember('nope', 'u2')).toBe(false);
    });

    it('deletes a group and its memberships, answering whether it existed', async () => {
      await users.createGroup('dev', 1);
      await users.createGroup('ops', 1);
      await users.addMember('dev', 'u1', 2);
      await users.addMember('ops', 'u1', 2);
      expect(await users.deleteGroup('dev')).toBe(true);
      expect(await users.findGroup('dev')).toBeUndefined();
      expect(await users.groupsOf('u1')).toEqual(['ops']);
      expect(await users.deleteGroup('dev')).toBe(false);
    });

    it('does not hand the members of a deleted group to a new group of the same name', async () => {
      await users.createGroup('dev', 1);
      await users.addMember('dev', 'u1', 2);
      await users.deleteGroup('dev');
      await users.createGroup('dev', 3);
      expect(await users.findGroup('dev')).toEqual({ name: 'dev', createdAt: 3, members: [] });
    });
  });
});

function accessToken(id: string, userId: string, seed: number, extra: Partial<AccessTokenRecord> = {}): AccessTokenRecord {
  return { id, userId, name: `token ${id}`, secretHash: hash(seed), createdAt: 100, ...extra };
}

describe(KyselyAccessTokenStore.name, () => {
  let tokens: KyselyAccessTokenStore;
  beforeEach(() => {
    tokens = new KyselyAccessTokenStore(db);
  });

  it('finds a token with limits by secret hash and by id, every field intact', async () => {
    const token = accessToken('t1', 'u1', 1, { repositories: 'ci/*', actions: ['pull', 'push'], expiresAt: 9_000 });
    await tokens.create(token);
    const expected = { ...token, lastUsedAt: undefined, revokedAt: undefined };
    expect(await tokens.findBySecretHash(hash(1))).toEqual(expected);
    expect(await tokens.findById('t1')).toEqual(expected);
  });

  it('answers a token without limits or expiry with those fields undefined', async () => {
    await tokens.create(accessToken('t1', 'u1', 1));
    const found = await tokens.findById('t1');
    expect(found).toEqual(accessToken('t1', 'u1', 1));
    expect(found?.repositories).toBeUndefined();
    expect(found?.actions).toBeUndefined();
    expect(found?.expiresAt).toBeUndefined();
  });

  it('keeps an empty action list apart from no limit', async () => {
    await tokens.create(accessToken('t1', 'u1', 1, { actions: [] }));
    expect((await tokens.findById('t1'))?.actions).toEqual([]);
  });

  it('answers undefined for an unknown secret hash or id', async () => {
    await tokens.create(accessToken('t1', 'u1', 1));
    expect(await tokens.findBySecretHash(hash(2))).toBeUndefined();
    expect(await tokens.findById('t2')).toBeUndefined();
  });

  it('refuses a second token with the same secret hash', async () => {
    await tokens.create(accessToken('t1', 'u1', 1));
    await expect(tokens.create(accessToken('t2', 'u2', 1))).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
  });

  it("lists a user's tokens newest first, revoked ones included, and no one else's", async () => {
    await tokens.create(accessToken('t1', 'u1', 1, { createdAt: 100 }));
    await tokens.create(accessToken('t2', 'u1', 2, { createdAt: 300 }));
    await tokens.create(accessToken('t3', 'u1', 3, { createdAt: 200 }));
    await tokens.create(accessToken('t4', 'u2', 4, { createdAt: 400 }));
    await tokens.revoke('t3', 500);
    expect((await tokens.listForUser('u1')).map((t) => t.id)).toEqual(['t2', 't3', 't1']);
    expect((await tokens.listForUser('u1'))[1]?.revokedAt).toBe(500);
    expect(await tokens.listForUser('u3')).toEqual([]);
  });

  it('orders tokens created at the same time by id', async () => {
    for (const id of ['tc', 'ta', 'tb']) await tokens.create(accessToken(id, 'u1', id.charCodeAt(1), { createdAt: 100 }));
    expect((await tokens.listForUser('u1')).map((t) => t.id)).toEqual(['ta', 'tb', 'tc']);
  });

  it('revokes a live token once, keeping the first revocation time', async () => {
    await tokens.create(accessToken('t1', 'u1', 1));
    expect(await tokens.revoke('t1', 500)).toBe(true);
    expect(await tokens.revoke('t1', 600)).toBe(false);
    expect((await tokens.findById('t1'))?.revokedAt).toBe(500);
  });

  it('answers false when revoking an unknown token', async () => {
    expect(await tokens.revoke('nope', 500)).toBe(false);
  });

  it("revokes every live token of a user, and only that user's", async () => {
    await tokens.create(accessToken('t1', 'u1', 1));
    await tokens.create(accessToken('t2', 'u1', 2));
    await tokens.create(accessToken('t3', 'u2', 3));
    await tokens.revoke('t2', 400);
    await tokens.revokeAllForUser('u1', 500);
    expect((await tokens.findById('t1'))?.revokedAt).toBe(500);
    expect((await tokens.findById('t2'))?.revokedAt).toBe(400);
    expect((await tokens.findById('t3'))?.revokedAt).toBeUndefined();
  });

  it('records when a token was last used', async () => {
    await tokens.create(accessToken('t1', 'u1', 1));
    await tokens.create(accessToken('t2', 'u1', 2));
    await tokens.touch('t1', 700);
    await tokens.touch('t1', 800);
    expect((await tokens.findById('t1'))?.lastUsedAt).toBe(800);
    expect((await tokens.findById('t2'))?.lastUsedAt).toBeUndefined();
  });
});

function refreshToken(id: string, userId: string, seed: number, extra: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  return { id, tokenHash: hash(seed), userId, service: 'registry.example', credentialsVersion: 1, createdAt: 100, ...extra };
}

describe(KyselyRefreshTokenStore.name, () => {
  let tokens: KyselyRefreshTokenStore;
  const lastUsed = async (id: string): Promise<number | null> => {
    const row = await db.selectFrom('refresh_tokens').select('last_used_at').where('id', '=', id).executeTakeFirstOrThrow();
    return row.last_used_at === null ? null : Number(row.last_used_at);
  };

  beforeEach(() => {
    tokens = new KyselyRefreshTokenStore(db);
  });

  it('finds a token by hash, every field intact', async () => {
    const token = refreshToken('r1', 'u1', 1, { accessTokenId: 't1', clientId: 'docker', credentialsVersion: 4 });
    await tokens.create(token);
    expect(await tokens.findByHash(hash(1))).toEqual({ ...token, revokedAt: undefined });
  });

  it('answers the optional fields undefined when they were not given', async () => {
    await tokens.create(refreshToken('r1', 'u1', 1));
    const found = await tokens.findByHash(hash(1));
    expect(found).toEqual(refreshToken('r1', 'u1', 1));
    expect(found?.accessTokenId).toBeUndefined();
    expect(found?.clientId).toBeUndefined();
    expect(found?.revokedAt).toBeUndefined();
  });

  it('answers undefined for an unknown hash', async () => {
    await tokens.create(refreshToken('r1', 'u1', 1));
    expect(await tokens.findByHash(hash(2))).toBeUndefined();
  });

  it('refuses a second token with the same hash', async () => {
    await tokens.create(refreshToken('r1', 'u1', 1));
    await expect(tokens.create(refreshToken('r2', 'u1', 1))).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
  });

  it('records when a token was last used', async () => {
    await tokens.create(refreshToken('r1', 'u1', 1));
    await tokens.create(refreshToken('r2', 'u1', 2));
    expect(await lastUsed('r1')).toBeNull();
    await tokens.touch('r1', 700);
    expect(await lastUsed('r1')).toBe(700);
    expect(await lastUsed('r2')).toBeNull();
  });

  it("revokes every live token of a user, and only that user's, keeping earlier revocations", async () => {
    await tokens.create(refreshToken('r1', 'u1', 1));
    await tokens.create(refreshToken('r2', 'u1', 2));
    await tokens.create(refreshToken('r3', 'u2', 3));
    await tokens.create(refreshToken('r4', 'u1', 4, { accessTokenId: 't1' }));
    await tokens.revokeForAccessToken('t1', 400);
    await tokens.revokeAllForUser('u1', 500);
    expect((await tokens.findByHash(hash(1)))?.revokedAt).toBe(500);
    expect((await tokens.findByHash(hash(2)))?.revokedAt).toBe(500);
    expect((await tokens.findByHash(hash(3)))?.revokedAt).toBeUndefined();
    expect((await tokens.findByHash(hash(4)))?.revokedAt).toBe(400);
  });

  it('revokes the tokens obtained through an access token, and only those', async () => {
    await tokens.create(refreshToken('r1', 'u1', 1, { accessTokenId: 't1' }));
    await tokens.create(refreshToken('r2', 'u1', 2, { accessTokenId: 't2' }));
    await tokens.create(refreshToken('r3', 'u1', 3));
    await tokens.create(refreshToken('r4', 'u2', 4, { accessTokenId: 't1' }));
    await tokens.revokeForAccessToken('t1', 500);
    expect((await tokens.findByHash(hash(1)))?.revokedAt).toBe(500);
    expect((await tokens.findByHash(hash(2)))?.revokedAt).toBeUndefined();
    expect((await tokens.findByHash(hash(3)))?.revokedAt).toBeUndefined();
    expect((await tokens.findByHash(hash(4)))?.revokedAt).toBe(500);
  });
});

function policyRecord(id: string, repository: string, subject: string, extra: Partial<PolicyRecord> = {}): PolicyRecord {
  return { id, repository, subject, permissions: ['pull'], createdAt: 100, updatedAt: 100, ...extra };
}

describe(KyselyPolicyStore.name, () => {
  let policies: KyselyPolicyStore;
  beforeEach(() => {
    policies = new KyselyPolicyStore(db);
  });

  it('finds a created policy, permissions in the order given', async () => {
    const policy = policyRecord('p1', 'team/*', 'group:team', { permissions: ['pull', 'push', 'delete'], createdAt: 10, updatedAt: 20 });
    await policies.create(policy);
    expect(await policies.find('p1')).toEqual(policy);
    expect(await policies.find('p2')).toBeUndefined();
  });

  it('lists policies oldest first, ties by id, and counts them', async () => {
    await policies.create(policyRecord('p3', 'c', '*', { createdAt: 300 }));
    await policies.create(policyRecord('p2', 'b', '*', { createdAt: 100 }));
    await policies.create(policyRecord('p1', 'a', '*', { createdAt: 200 }));
    await policies.create(policyRecord('p0', 'd', '*', { createdAt: 200 }));
    expect((await policies.list()).map((p) => p.id)).toEqual(['p2', 'p0', 'p1', 'p3']);
    expect((await policies.list()).length).toBe(4);
  });

  it('starts with no policies', async () => {
    expect(await policies.list()).toEqual([]);
    expect((await policies.list()).length).toBe(0);
  });

  it('refuses a second policy for the same repository and subject', async () => {
    await policies.create(policyRecord('p1', 'team/*', 'alice'));
    await expect(policies.create(policyRecord('p2', 'team/*', 'alice', { permissions: ['push'] }))).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
    expect((await policies.list()).length).toBe(1);
  });

  it('accepts policies sharing only the repository or only the subject', async () => {
    await policies.create(policyRecord('p1', 'team/*', 'alice'));
    await policies.create(policyRecord('p2', 'team/*', 'bob'));
    await policies.create(policyRecord('p3', 'other/*', 'alice'));
    expect((await policies.list()).length).toBe(3);
  });

  it('updates only the given fields and the update time, and answers the new row', async () => {
    await policies.create(policyRecord('p1', 'a', 'alice', { createdAt: 10, updatedAt: 10 }));
    expect(await policies.update('p1', { permissions: ['pull', 'delete'] }, 50)).toEqual(
      policyRecord('p1', 'a', 'alice', { permissions: ['pull', 'delete'], createdAt: 10, updatedAt: 50 }),
    );
    expect(await policies.update('p1', { repository: 'b/*', subject: 'group:g' }, 60)).toEqual(
      policyRecord('p1', 'b/*', 'group:g', { permissions: ['pull', 'delete'], createdAt: 10, updatedAt: 60 }),
    );
    expect(await policies.find('p1')).toEqual(policyRecord('p1', 'b/*', 'group:g', { permissions: ['pull', 'delete'], createdAt: 10, updatedAt: 60 }));
  });

  it('refuses an update onto the repository and subject of another policy', async () => {
    await policies.create(policyRecord('p1', 'a', 'alice'));
    await policies.create(policyRecord('p2', 'b', 'alice'));
    await expect(policies.update('p2', { repository: 'a' }, 50)).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
    expect(await policies.find('p2')).toEqual(policyRecord('p2', 'b', 'alice'));
  });

  it('answers undefined when updating an unknown policy', async () => {
    expect(await policies.update('nope', { permissions: ['push'] }, 50)).toBeUndefined();
  });

  it('deletes a policy, answering whether it existed', async () => {
    await policies.create(policyRecord('p1', 'a', 'alice'));
    await policies.create(policyRecord('p2', 'b', 'alice'));
    expect(await policies.delete('p1')).toBe(true);
    expect(await policies.find('p1')).toBeUndefined();
    expect(await policies.delete('p1')).toBe(false);
    expect((await policies.list()).map((p) => p.id)).toEqual(['p2']);
  });

  it('deletes every policy naming a subject, and only those', async () => {
    await policies.create(policyRecord('p1', 'a', 'alice'));
    await policies.create(policyRecord('p2', 'b', 'alice'));
    await policies.create(policyRecord('p3', 'a', 'group:alice'));
    await policies.create(policyRecord('p4', 'a', 'alice2'));
    await policies.create(policyRecord('p5', 'a', '*'));
    await policies.deleteForSubject('alice');
    expect((await policies.list()).map((p) => p.id)).toEqual(['p3', 'p4', 'p5']);
  });
});

describe(KyselyAuditStore.name, () => {
  let audit: KyselyAuditStore;
  beforeEach(() => {
    audit = new KyselyAuditStore(db);
  });

  const event = (at: number, extra: Partial<AuditEvent> = {}): AuditEvent => ({ at, type: 'login', outcome: 'success', ...extra });

  it('answers an appended event with an id, every field intact', async () => {
    const full: AuditEvent = {
      at: 1_000,
      type: 'manifest.push',
      actor: 'alice',
      clientIp: '10.0.0.1',
      repository: 'team/app',
      action: 'push',
      outcome: 'success',
      detail: { tag: 'v1', nested: { n: 1, list: [true, null] } },
    };
    await audit.append([full]);
    expect(await audit.query({ limit: 10 })).toEqual([{ id: 1, ...full }]);
  });

  it('answers the optional fields undefined when they were not given', async () => {
    await audit.append([event(1, { outcome: 'failure' })]);
    const [found] = await audit.query({ limit: 10 });
    expect(found).toEqual({ id: 1, at: 1, type: 'login', outcome: 'failure' });
    for (const key of ['actor', 'clientIp', 'repository', 'action', 'detail'] as const) expect(found?.[key]).toBeUndefined();
  });

  it('appends nothing for an empty batch', async () => {
    await audit.append([]);
    expect(await audit.query({ limit: 10 })).toEqual([]);
  });

  it('answers events newest first (by id, not by time), at most limit', async () => {
    await audit.append([event(30, { type: 'a' }), event(10, { type: 'b' })]);
    await audit.append([event(20, { type: 'c' })]);
    expect((await audit.query({ limit: 10 })).map((e) => [e.id, e.type])).toEqual([
      [3, 'c'],
      [2, 'b'],
      [1, 'a'],
    ]);
    expect((await audit.query({ limit: 2 })).map((e) => e.id)).toEqual([3, 2]);
    expect(await audit.query({ limit: 0 })).toEqual([]);
  });

  describe('filters', () => {
    beforeEach(async () => {
      await audit.append([
        event(100, { type: 'login', actor: 'alice', outcome: 'success' }), // 1
        event(200, { type: 'login', actor: 'bob', outcome: 'failure' }), // 2
        event(300, { type: 'manifest.push', actor: 'alice', repository: 'team/app', outcome: 'success' }), // 3
        event(400, { type: 'access.denied', actor: 'bob', repository: 'team/app', outcome: 'denied' }), // 4
        event(500, { type: 'manifest.push', actor: 'bob', repository: 'other', outcome: 'success' }), // 5
        event(600, { type: 'login', outcome: 'failure' }), // 6
      ]);
    });
    const ids = async (q: Parameters<KyselyAuditStore['query']>[0]): Promise<number[]> => (await audit.query(q)).map((e) => e.id);

    it('filters by type', async () => {
      expect(await ids({ type: 'login', limit: 10 })).toEqual([6, 2, 1]);
      expect(await ids({ type: 'manifest', limit: 10 })).toEqual([]);
    });

    it('filters by actor', async () => {
      expect(await ids({ actor: 'alice', limit: 10 })).toEqual([3, 1]);
    });

    it('filters by repository', async () => {
      expect(await ids({ repository: 'team/app', limit: 10 })).toEqual([4, 3]);
    });

    it('filters by outcome', async () => {
      expect(await ids({ outcome: 'failure', limit: 10 })).toEqual([6, 2]);
      expect(await ids({ outcome: 'denied', limit: 10 })).toEqual([4]);
    });

    it('filters by time, since inclusive', async () => {
      expect(await ids({ since: 400, limit: 10 })).toEqual([6, 5, 4]);
      expect(await ids({ since: 401, limit: 10 })).toEqual([6, 5]);
    });

    it('combines filters', async () => {
      expect(await ids({ type: 'manifest.push', actor: 'bob', limit: 10 })).toEqual([5]);
      expect(await ids({ actor: 'bob', outcome: 'failure', since: 100, limit: 10 })).toEqual([2]);
      expect(await ids({ type: 'login', repository: 'team/app', limit: 10 })).toEqual([]);
    });

    it('applies the limit after the filters', async () => {
      expect(await ids({ actor: 'bob', limit: 2 })).toEqual([5, 4]);
    });

    it('pages with before, strictly below the given id', async () => {
      expect(await ids({ before: 4, limit: 10 })).toEqual([3, 2, 1]);
      expect(await ids({ before: 1, limit: 10 })).toEqual([]);
      expect(await ids({ type: 'login', before: 6, limit: 1 })).toEqual([2]);
    });
  });

  it('pages through every event exactly once, newest first', async () => {
    await audit.append(Array.from({ length: 7 }, (_, i) => event(i, { type: `t${i}` })));
    const seen: string[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await audit.query({ before, limit: 3 });
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.type));
      before = page[page.length - 1]!.id;
    }
    expect(seen).toEqual(['t6', 't5', 't4', 't3', 't2', 't1', 't0']);
  });

  it('prunes events strictly older than the cutoff and answers how many', async () => {
    await audit.append([event(100), event(200), event(300), event(400)]);
    expect(await audit.prune(300)).toBe(2);
    expect((await audit.query({ limit: 10 })).map((e) => e.at)).toEqual([400, 300]);
    expect(await audit.prune(300)).toBe(0);
  });

  it('keeps numbering after a prune (ids are never reused)', async () => {
    await audit.append([event(100), event(200)]);
    await audit.prune(1_000);
    await audit.append([event(300)]);
    expect((await audit.query({ limit: 10 })).map((e) => e.id)).toEqual([3]);
  });
});
