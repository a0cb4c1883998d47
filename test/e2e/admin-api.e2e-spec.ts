import * as fs from 'node:fs';
import * as path from 'node:path';
import { OciClient, parseBearerChallenge, parseErrorBody, type ErrorEntry } from '../utils/oci-client';
import { RunningRegistry, startRegistry, TEST_ADMIN_PASSWORD } from '../utils/start-registry';
import { makeTempDir, removeDir } from '../utils/temp-dir';

jest.setTimeout(30_000);

/** The admin REST API under /api/v1: users, groups, access tokens, policies, the access check, the audit log, and the admin-only GC and stats routes. */

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const ADMIN = basic('admin', TEST_ADMIN_PASSWORD);

interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

interface UserView {
  name: string;
  role: string;
  disabled: boolean;
  groups: string[];
  createdAt: string;
  updatedAt: string;
}

interface PolicyView {
  id: string;
  repository: string;
  user: string;
  permissions: string[];
  createdAt: string;
  updatedAt: string;
}

interface AuditEvent {
  id: number;
  at: string;
  type: string;
  actor?: string;
  outcome: string;
  repository?: string;
  detail?: Record<string, unknown>;
}

/** The one error entry of an admin API error answer (which must be JSON in the OCI error shape). */
function errorOf(res: ApiResponse): ErrorEntry {
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const errors = parseErrorBody(res.text);
  expect(errors).toHaveLength(1);
  return errors[0]!;
}

const fieldsOf = (res: ApiResponse): Record<string, string[]> => (errorOf(res).detail as { fields: Record<string, string[]> }).fields;

describe('Admin REST API (e2e)', () => {
  let registry: RunningRegistry;
  let policiesDir: string;

  /** One request to the registry; `body` is sent as JSON (a string is sent as is), `auth` is the Authorization header (admin Basic by default, null for none). */
  async function api(method: string, urlPath: string, body?: unknown, auth: string | null = ADMIN): Promise<ApiResponse> {
    const headers: Record<string, string> = {};
    if (auth !== null) headers['authorization'] = auth;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${registry.url}${urlPath}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, text, body: parsed };
  }

  /** GET /token with Basic credentials: the status only. */
  async function tokenStatus(user: string, password: string): Promise<number> {
    const res = await fetch(`${registry.url}/token?scope=repository:any/repo:pull`, { headers: { authorization: basic(user, password) } });
    await res.arrayBuffer();
    return res.status;
  }

  async function createUser(name: string, password = `${name}-password`, role: 'admin' | 'user' = 'user'): Promise<UserView> {
    const res = await api('POST', '/api/v1/users', { name, password, role });
    if (res.status !== 201) throw new Error(`create user ${name}: ${res.status} ${res.text}`);
    return res.body as UserView;
  }

  async function createPolicy(repository: string, user: string, permissions: string[]): Promise<PolicyView> {
    const res = await api('POST', '/api/v1/policies', { repository, user, permissions });
    if (res.status !== 201) throw new Error(`create policy ${repository} ${user}: ${res.status} ${res.text}`);
    return res.body as PolicyView;
  }

  async function auditEvents(query = ''): Promise<AuditEvent[]> {
    const res = await api('GET', `/api/v1/audit${query}`);
    if (res.status !== 200) throw new Error(`GET audit: ${res.status} ${res.text}`);
    return (res.body as { events: AuditEvent[] }).events;
  }

  beforeAll(async () => {
    // No seed policies: the check endpoint's answers then depend only on what these tests create.
    policiesDir = makeTempDir('admin-api-policies-');
    const policiesFile = path.join(policiesDir, 'policies.json');
    fs.writeFileSync(policiesFile, JSON.stringify({ policies: [] }));
    registry = await startRegistry({ auth: true, env: { REGISTRY_AUTH_POLICIES_FILE: policiesFile, REGISTRY_GC_INTERVAL: '0' } });
  });
  afterAll(async () => {
    await registry.stop();
    removeDir(policiesDir);
  });

  describe('users', () => {
    it('lists the bootstrap admin', async () => {
      const res = await api('GET', '/api/v1/users');
      expect(res.status).toBe(200);
      const admin = (res.body.users as UserView[]).find((u) => u.name === 'admin');
      expect(admin).toMatchObject({ name: 'admin', role: 'admin', disabled: false, groups: [] });
    });

    it('creates a user with 201 and its view (name, role, disabled, groups, createdAt), never a password or its hash', async () => {
      const before = Date.now();
      const res = await api('POST', '/api/v1/users', { name: 'u-create', password: 'u-create-password' });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(['createdAt', 'disabled', 'groups', 'name', 'role', 'updatedAt']);
      expect(res.body).toMatchObject({ name: 'u-create', role: 'user', disabled: false, groups: [] });
      expect(Date.parse(res.body.createdAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(res.text).not.toMatch(/scrypt|password/i);

      const list = await api('GET', '/api/v1/users');
      expect((list.body.users as UserView[]).map((u) => u.name)).toContain('u-create');
      expect(list.text).not.toMatch(/scrypt|password/i);
      expect(await tokenStatus('u-create', 'u-create-password')).toBe(200);
    });

    it('creates an admin when asked for role admin', async () => {
      const res = await api('POST', '/api/v1/users', { name: 'u-second-admin', password: 'second-admin-password', role: 'admin' });
      expect(res.status).toBe(201);
      expect(res.body.role).toBe('admin');
      expect((await api('GET', '/api/v1/users', undefined, basic('u-second-admin', 'second-admin-password'))).status).toBe(200);
      expect((await api('DELETE', '/api/v1/users/u-second-admin')).status).toBe(204);
    });

    it('gets one user by name, and answers 404 NOT_FOUND for an unknown one', async () => {
      const created = await createUser('u-get');
      const res = await api('GET', '/api/v1/users/u-get');
      expect(res.status).toBe(200);
      expect(res.body).toEqual(created);

      const missing = await api('GET', '/api/v1/users/nobody-here');
      expect(missing.status).toBe(404);
      expect(errorOf(missing).code).toBe('NOT_FOUND');
    });

    it('changes a password: the old one stops working at /token and the new one works', async () => {
      await createUser('u-password', 'old-password-1');
      expect(await tokenStatus('u-password', 'old-password-1')).toBe(200);

      const res = await api('PATCH', '/api/v1/users/u-password', { password: 'new-password-2' });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['createdAt', 'disabled', 'groups', 'name', 'role', 'updatedAt']);
      expect(res.text).not.toMatch(/scrypt|new-password-2/);

      expect(await tokenStatus('u-password', 'old-password-1')).toBe(401);
      expect(await tokenStatus('u-password', 'new-password-2')).toBe(200);
    });

    it('changes a role: a promoted user may use the admin API, a demoted one may not', async () => {
      await createUser('u-role', 'u-role-password');
      const asUser = basic('u-role', 'u-role-password');
      expect((await api('GET', '/api/v1/users', undefined, asUser)).status).toBe(403);

      const promoted = await api('PATCH', '/api/v1/users/u-role', { role: 'admin' });
      expect(promoted.status).toBe(200);
      expect(promoted.body.role).toBe('admin');
      expect((await api('GET', '/api/v1/users', undefined, asUser)).status).toBe(200);

      const demoted = await api('PATCH', '/api/v1/users/u-role', { role: 'user' });
      expect(demoted.status).toBe(200);
      expect(demoted.body.role).toBe('user');
      const refused = await api('GET', '/api/v1/users', undefined, asUser);
      expect(refused.status).toBe(403);
      expect(errorOf(refused).code).toBe('DENIED');
    });

    it('disables and re-enables a user: a disabled user cannot log in', async () => {
      await createUser('u-disable', 'u-disable-password');
      const disabled = await api('PATCH', '/api/v1/users/u-disable', { disabled: true });
      expect(disabled.status).toBe(200);
      expect(disabled.body.disabled).toBe(true);
      expect(await tokenStatus('u-disable', 'u-disable-password')).toBe(401);

      const enabled = await api('PATCH', '/api/v1/users/u-disable', { disabled: false });
      expect(enabled.status).toBe(200);
      expect(enabled.body.disabled).toBe(false);
      expect(await tokenStatus('u-disable', 'u-disable-password')).toBe(200);
    });

    it('answers 404 for a PATCH or DELETE of an unknown user', async () => {
      const patch = await api('PATCH', '/api/v1/users/nobody-here', { disabled: true });
      expect(patch.status).toBe(404);
      expect(errorOf(patch).code).toBe('NOT_FOUND');
      const del = await api('DELETE', '/api/v1/users/nobody-here');
      expect(del.status).toBe(404);
      expect(errorOf(del).code).toBe('NOT_FOUND');
    });

    it('deletes a user with 204: it is gone, cannot log in, and a second delete is 404', async () => {
      await createUser('u-delete', 'u-delete-password');
      const res = await api('DELETE', '/api/v1/users/u-delete');
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      expect((await api('GET', '/api/v1/users/u-delete')).status).toBe(404);
      expect(await tokenStatus('u-delete', 'u-delete-password')).toBe(401);
      expect((await api('DELETE', '/api/v1/users/u-delete')).status).toBe(404);
    });

    it('deletes the policies that name a deleted user', async () => {
      await createUser('u-delete-policies');
      const policy = await createPolicy('u-delete-policies/*', 'u-delete-policies', ['pull']);
      expect((await api('DELETE', '/api/v1/users/u-delete-policies')).status).toBe(204);
      expect((await api('GET', `/api/v1/policies/${policy.id}`)).status).toBe(404);
    });

    it('answers 409 CONFLICT for a duplicate user name, and keeps the first user', async () => {
      await createUser('u-dup', 'u-dup-password-1');
      const res = await api('POST', '/api/v1/users', { name: 'u-dup', password: 'u-dup-password-2' });
      expect(res.status).toBe(409);
      expect(errorOf(res).code).toBe('CONFLICT');
      expect(await tokenStatus('u-dup', 'u-dup-password-1')).toBe(200);
    });

    it('refuses the reserved name "anonymous" with 400', async () => {
      const res = await api('POST', '/api/v1/users', { name: 'anonymous', password: 'anonymous-password' });
      expect(res.status).toBe(400);
      expect(errorOf(res).code).toBe('INVALID_REQUEST');
      expect(fieldsOf(res)).toHaveProperty('name');
    });

    const badBodies: [string, unknown, string[]][] = [
      ['a short password', { name: 'u-bad', password: 'short' }, ['password']],
      ['an upper-case name', { name: 'Bad', password: 'long-enough-password' }, ['name']],
      ['a name with a space', { name: 'bad name', password: 'long-enough-password' }, ['name']],
      ['a name starting with a dot', { name: '.bad', password: 'long-enough-password' }, ['name']],
      ['a name longer than 64 characters', { name: 'a'.repeat(65), password: 'long-enough-password' }, ['name']],
      ['an unknown field', { name: 'u-bad', password: 'long-enough-password', admin: true }, ['admin']],
      ['an unknown role', { name: 'u-bad', password: 'long-enough-password', role: 'root' }, ['role']],
      ['wrong types', { name: 5, password: true }, ['name', 'password']],
      ['missing fields', {}, ['name', 'password']],
    ];

    it.each(badBodies)('refuses a user with %s: 400 INVALID_REQUEST naming the fields in detail.fields', async (_what, body, fields) => {
      const res = await api('POST', '/api/v1/users', body);
      expect(res.status).toBe(400);
      const error = errorOf(res);
      expect(error.code).toBe('INVALID_REQUEST');
      const got = fieldsOf(res);
      expect(Object.keys(got).sort()).toEqual([...fields].sort());
      for (const messages of Object.values(got)) expect(messages.length).toBeGreaterThan(0);
      expect((await api('GET', '/api/v1/users/u-bad')).status).toBe(404);
    });

    const badPatches: [string, unknown, string[]][] = [
      ['a short password', { password: 'short' }, ['password']],
      ['disabled as a string', { disabled: 'yes' }, ['disabled']],
      ['an unknown role', { role: 'superuser' }, ['role']],
      ['an unknown field', { name: 'renamed' }, ['name']],
    ];

    it.each(badPatches)('refuses a PATCH with %s: 400 INVALID_REQUEST with detail.fields', async (_what, body, fields) => {
      await api('POST', '/api/v1/users', { name: 'u-patch-target', password: 'u-patch-target-password' });
      const res = await api('PATCH', '/api/v1/users/u-patch-target', body);
      expect(res.status).toBe(400);
      expect(errorOf(res).code).toBe('INVALID_REQUEST');
      expect(Object.keys(fieldsOf(res)).sort()).toEqual(fields);
      const after = await api('GET', '/api/v1/users/u-patch-target');
      expect(after.body).toMatchObject({ role: 'user', disabled: false });
    });

    it('refuses malformed JSON with 400 INVALID_REQUEST', async () => {
      const res = await api('POST', '/api/v1/users', '{"name": "u-malformed", "password": ');
      expect(res.status).toBe(400);
      expect(errorOf(res).code).toBe('INVALID_REQUEST');
      expect((await api('GET', '/api/v1/users/u-malformed')).status).toBe(404);
    });

    it('refuses a body that is not sent as JSON with 400 INVALID_REQUEST', async () => {
      const res = await fetch(`${registry.url}/api/v1/users`, {
        method: 'POST',
        headers: { authorization: ADMIN, 'content-type': 'text/plain' },
        body: JSON.stringify({ name: 'u-text-plain', password: 'u-text-plain-password' }),
      });
      const answer: ApiResponse = { status: res.status, headers: res.headers, text: await res.text(), body: undefined };
      expect(answer.status).toBe(400);
      expect(errorOf(answer).code).toBe('INVALID_REQUEST');
      expect((await api('GET', '/api/v1/users/u-text-plain')).status).toBe(404);
    });

    it('refuses a JSON body that is not an object with 400 INVALID_REQUEST', async () => {
      const res = await api('POST', '/api/v1/users', '["u-array", "password"]');
      expect(res.status).toBe(400);
      expect(errorOf(res).code).toBe('INVALID_REQUEST');
    });
  });

  describe('the last enabled admin', () => {
    it('cannot be demoted, disabled or deleted (409), and stays a working admin', async () => {
      for (const [method, body] of [
        ['PATCH', { role: 'user' }],
        ['PATCH', { disabled: true }],
        ['DELETE', undefined],
      ] as const) {
        const res = await api(method, '/api/v1/users/admin', body);
        expect(res.status).toBe(409);
        expect(errorOf(res).code).toBe('CONFLICT');
      }
      const admin = await api('GET', '/api/v1/users/admin');
      expect(admin.body).toMatchObject({ role: 'admin', disabled: false });
      expect(await tokenStatus('admin', TEST_ADMIN_PASSWORD)).toBe(200);
    });

    it('does not count a disabled admin: with a second admin disabled, the first is still the last', async () => {
      await createUser('u-admin-disabled', 'u-admin-disabled-password', 'admin');
      expect((await api('PATCH', '/api/v1/users/u-admin-disabled', { disabled: true })).status).toBe(200);
      expect((await api('PATCH', '/api/v1/users/admin', { role: 'user' })).status).toBe(409);
      expect((await api('DELETE', '/api/v1/users/u-admin-disabled')).status).toBe(204);
    });

    it('may be demoted while another enabled admin exists, and then that one is the last', async () => {
      await createUser('u-admin-b', 'u-admin-b-password', 'admin');
      const demoted = await api('PATCH', '/api/v1/users/u-admin-b', { role: 'user' });
      expect(demoted.status).toBe(200);
      expect(demoted.body.role).toBe('user');
      expect((await api('PATCH', '/api/v1/users/admin', { disabled: true })).status).toBe(409);
      expect((await api('DELETE', '/api/v1/users/u-admin-b')).status).toBe(204);
    });
  });

  describe('groups', () => {
    it('creates a group with members (201), which the members\' views list', async () => {
      await createUser('g-alice');
      await createUser('g-bob');
      const res = await api('POST', '/api/v1/groups', { name: 'g-devs', members: ['g-alice', 'g-bob'] });
      expect(res.status).toBe(201);
      expect(res.body.name).toBe('g-devs');
      expect([...res.body.members].sort()).toEqual(['g-alice', 'g-bob']);
      expect(Number.isNaN(Date.parse(res.body.createdAt))).toBe(false);

      expect((await api('GET', '/api/v1/users/g-alice')).body.groups).toEqual(['g-devs']);
      const list = await api('GET', '/api/v1/groups');
      expect(list.status).toBe(200);
      expect((list.body.groups as { name: string }[]).map((g) => g.name)).toContain('g-devs');
      const one = await api('GET', '/api/v1/groups/g-devs');
      expect(one.status).toBe(200);
      expect([...one.body.members].sort()).toEqual(['g-alice', 'g-bob']);
    });

    it('creates a group without members', async () => {
      const res = await api('POST', '/api/v1/groups', { name: 'g-empty' });
      expect(res.status).toBe(201);
      expect(res.body.members).toEqual([]);
    });

    it('adds and removes a member with PUT and DELETE /groups/<g>/members/<user>', async () => {
      await createUser('g-carol');
      await api('POST', '/api/v1/groups', { name: 'g-ops' });

      const added = await api('PUT', '/api/v1/groups/g-ops/members/g-carol');
      expect(added.status).toBe(200);
      expect(added.body.members).toEqual(['g-carol']);
      expect((await api('GET', '/api/v1/users/g-carol')).body.groups).toEqual(['g-ops']);

      const removed = await api('DELETE', '/api/v1/groups/g-ops/members/g-carol');
      expect(removed.status).toBe(200);
      expect(removed.body.members).toEqual([]);
      expect((await api('GET', '/api/v1/users/g-carol')).body.groups).toEqual([]);

      const again = await api('DELETE', '/api/v1/groups/g-ops/members/g-carol');
      expect(again.status).toBe(404);
      expect(errorOf(again).code).toBe('NOT_FOUND');
    });

    it('adding a member twice is idempotent (200, one membership)', async () => {
      await createUser('g-twice-member');
      await api('POST', '/api/v1/groups', { name: 'g-idem' });
      expect((await api('PUT', '/api/v1/groups/g-idem/members/g-twice-member')).status).toBe(200);
      const again = await api('PUT', '/api/v1/groups/g-idem/members/g-twice-member');
      expect(again.status).toBe(200);
      expect(again.body.members).toEqual(['g-twice-member']);
      expect((await api('GET', '/api/v1/users/g-twice-member')).body.groups).toEqual(['g-idem']);
    });

    it('answers 404 for an unknown group or user in membership changes', async () => {
      await createUser('g-dave');
      await api('POST', '/api/v1/groups', { name: 'g-qa' });
      for (const [method, urlPath] of [
        ['PUT', '/api/v1/groups/g-nope/members/g-dave'],
        ['PUT', '/api/v1/groups/g-qa/members/nobody-here'],
        ['DELETE', '/api/v1/groups/g-nope/members/g-dave'],
        ['DELETE', '/api/v1/groups/g-qa/members/nobody-here'],
      ]) {
        const res = await api(method!, urlPath!);
        expect([method, urlPath, res.status]).toEqual([method, urlPath, 404]);
        expect(errorOf(res).code).toBe('NOT_FOUND');
      }
      expect((await api('GET', '/api/v1/groups/g-nope')).status).toBe(404);
    });

    it('answers 404 for a group with an unknown member, and creates no group', async () => {
      await createUser('g-erin');
      const res = await api('POST', '/api/v1/groups', { name: 'g-half', members: ['g-erin', 'nobody-here'] });
      expect(res.status).toBe(404);
      expect(errorOf(res).code).toBe('NOT_FOUND');
      expect((await api('GET', '/api/v1/groups/g-half')).status).toBe(404);
      expect((await api('GET', '/api/v1/users/g-erin')).body.groups).toEqual([]);
    });

    it('answers 409 CONFLICT for a duplicate group', async () => {
      expect((await api('POST', '/api/v1/groups', { name: 'g-twice' })).status).toBe(201);
      const res = await api('POST', '/api/v1/groups', { name: 'g-twice' });
      expect(res.status).toBe(409);
      expect(errorOf(res).code).toBe('CONFLICT');
    });

    it('refuses bad group bodies with 400 INVALID_REQUEST and detail.fields', async () => {
      const cases: [unknown, string[]][] = [
        [{ name: 'Bad Group' }, ['name']],
        [{ name: 'g-ok', members: 'g-alice' }, ['members']],
        [{ name: 'g-ok', members: ['g-alice', 'g-alice'] }, ['members']],
        [{ name: 'g-ok', owner: 'admin' }, ['owner']],
      ];
      for (const [body, fields] of cases) {
        const res = await api('POST', '/api/v1/groups', body);
        expect(res.status).toBe(400);
        expect(errorOf(res).code).toBe('INVALID_REQUEST');
        expect(Object.keys(fieldsOf(res))).toEqual(fields);
      }
      expect((await api('GET', '/api/v1/groups/g-ok')).status).toBe(404);
    });

    it('deletes a group (204) with its memberships and the policies that name it', async () => {
      await createUser('g-frank');
      await api('POST', '/api/v1/groups', { name: 'g-gone', members: ['g-frank'] });
      const policy = await createPolicy('gone/*', 'group:g-gone', ['pull']);

      const res = await api('DELETE', '/api/v1/groups/g-gone');
      expect(res.status).toBe(204);
      expect((await api('GET', '/api/v1/groups/g-gone')).status).toBe(404);
      expect((await api('GET', '/api/v1/users/g-frank')).body.groups).toEqual([]);
      expect((await api('GET', `/api/v1/policies/${policy.id}`)).status).toBe(404);
      const again = await api('DELETE', '/api/v1/groups/g-gone');
      expect(again.status).toBe(404);
      expect(errorOf(again).code).toBe('NOT_FOUND');
    });
  });

  describe('access tokens', () => {
    it('creates a token whose secret (prefix rat_) is answered once and works as a password', async () => {
      await createUser('t-robot');
      const res = await api('POST', '/api/v1/users/t-robot/tokens', { name: 'ci' });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ user: 't-robot', name: 'ci', repositories: null, actions: null, expiresAt: null, revokedAt: null });
      expect(res.body.secret).toMatch(/^rat_[A-Za-z0-9_-]{40,}$/);
      expect(typeof res.body.id).toBe('string');
      expect(await tokenStatus('t-robot', res.body.secret)).toBe(200);
    });

    it('never shows the secret again: the list has the token without it', async () => {
      await createUser('t-lister');
      const created = await api('POST', '/api/v1/users/t-lister/tokens', { name: 'laptop', repositories: 'team/*', actions: ['pull'] });
      expect(created.status).toBe(201);
      const secret = created.body.secret as string;

      const list = await api('GET', '/api/v1/users/t-lister/tokens');
      expect(list.status).toBe(200);
      expect(list.body.tokens).toHaveLength(1);
      const token = list.body.tokens[0];
      expect(token).toMatchObject({ id: created.body.id, user: 't-lister', name: 'laptop', repositories: 'team/*', actions: ['pull'], revokedAt: null });
      expect(token).not.toHaveProperty('secret');
      expect(list.text).not.toContain(secret);
      expect(list.text).not.toContain(secret.slice(4));
    });

    it('revokes a token with DELETE (204): revokedAt is set and the secret stops working', async () => {
      await createUser('t-revoke');
      const created = await api('POST', '/api/v1/users/t-revoke/tokens', { name: 'old' });
      const secret = created.body.secret as string;
      expect(await tokenStatus('t-revoke', secret)).toBe(200);

      const before = Date.now();
      const res = await api('DELETE', `/api/v1/users/t-revoke/tokens/${created.body.id}`);
      expect(res.status).toBe(204);

      const list = await api('GET', '/api/v1/users/t-revoke/tokens');
      const token = (list.body.tokens as { id: string; revokedAt: string | null }[]).find((t) => t.id === created.body.id)!;
      expect(token.revokedAt).not.toBeNull();
      expect(Date.parse(token.revokedAt!)).toBeGreaterThanOrEqual(before - 1000);
      expect(await tokenStatus('t-revoke', secret)).toBe(401);
    });

    it('answers 404 for an unknown token id, another user\'s token, or an unknown user', async () => {
      await createUser('t-owner');
      await createUser('t-other');
      const created = await api('POST', '/api/v1/users/t-owner/tokens', { name: 'mine' });

      const unknownId = await api('DELETE', '/api/v1/users/t-owner/tokens/00000000-0000-0000-0000-000000000000');
      expect(unknownId.status).toBe(404);
      expect(errorOf(unknownId).code).toBe('NOT_FOUND');
      const wrongUser = await api('DELETE', `/api/v1/users/t-other/tokens/${created.body.id}`);
      expect(wrongUser.status).toBe(404);
      expect(await tokenStatus('t-owner', created.body.secret)).toBe(200);

      expect((await api('GET', '/api/v1/users/nobody-here/tokens')).status).toBe(404);
      expect((await api('POST', '/api/v1/users/nobody-here/tokens', { name: 'x' })).status).toBe(404);
    });

    it('refuses bad token bodies with 400 INVALID_REQUEST and detail.fields', async () => {
      await createUser('t-bad');
      const cases: [unknown, string[]][] = [
        [{}, ['name']],
        [{ name: 'x', actions: ['pull', 'admin'] }, ['actions']],
        [{ name: 'x', actions: [] }, ['actions']],
        [{ name: 'x', repositories: 'Bad Repo' }, ['repositories']],
        [{ name: 'x', expiresAt: 'not a date' }, ['expiresAt']],
        [{ name: 'x', expiresAt: new Date(Date.now() - 60_000).toISOString() }, ['expiresAt']],
        [{ name: 'x', secret: 'rat_mine' }, ['secret']],
      ];
      for (const [body, fields] of cases) {
        const res = await api('POST', '/api/v1/users/t-bad/tokens', body);
        expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), 400]);
        expect(errorOf(res).code).toBe('INVALID_REQUEST');
        expect(Object.keys(fieldsOf(res))).toEqual(fields);
      }
      expect((await api('GET', '/api/v1/users/t-bad/tokens')).body.tokens).toEqual([]);
    });

    it('keeps an expiry in the future', async () => {
      await createUser('t-expiring');
      const expiresAt = new Date(Date.now() + 3_600_000);
      const res = await api('POST', '/api/v1/users/t-expiring/tokens', { name: 'short-lived', expiresAt: expiresAt.toISOString() });
      expect(res.status).toBe(201);
      expect(res.body.expiresAt).toBe(expiresAt.toISOString());
    });
  });

  describe('policies', () => {
    it('creates a policy (201) with permissions normalised to pull, push, delete order', async () => {
      const res = await api('POST', '/api/v1/policies', { repository: 'p-norm/*', user: 'someone', permissions: ['delete', 'pull', 'push'] });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ repository: 'p-norm/*', user: 'someone', permissions: ['pull', 'push', 'delete'] });
      expect(typeof res.body.id).toBe('string');
      const other = await createPolicy('p-norm/*', 'group:team', ['delete', 'pull']);
      expect(other.permissions).toEqual(['pull', 'delete']);
    });

    it('gets and lists a policy', async () => {
      const created = await createPolicy('p-get/*', '*', ['pull']);
      const one = await api('GET', `/api/v1/policies/${created.id}`);
      expect(one.status).toBe(200);
      expect(one.body).toEqual(created);
      const list = await api('GET', '/api/v1/policies');
      expect(list.status).toBe(200);
      expect(list.body.policies).toContainEqual(created);
    });

    it('updates a policy with PATCH (normalising permissions) and keeps the fields not sent', async () => {
      const created = await createPolicy('p-patch/*', 'p-user', ['pull']);
      const res = await api('PATCH', `/api/v1/policies/${created.id}`, { permissions: ['push', 'pull'] });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: created.id, repository: 'p-patch/*', user: 'p-user', permissions: ['pull', 'push'], createdAt: created.createdAt });
      expect(Date.parse(res.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));

      const moved = await api('PATCH', `/api/v1/policies/${created.id}`, { repository: 'p-moved', user: 'anonymous' });
      expect(moved.status).toBe(200);
      expect(moved.body).toMatchObject({ repository: 'p-moved', user: 'anonymous', permissions: ['pull', 'push'] });
      expect((await api('GET', `/api/v1/policies/${created.id}`)).body).toEqual(moved.body);
    });

    it('refuses an empty PATCH with 400', async () => {
      const created = await createPolicy('p-empty-patch', 'p-user', ['pull']);
      const res = await api('PATCH', `/api/v1/policies/${created.id}`, {});
      expect(res.status).toBe(400);
      expect(errorOf(res).code).toBe('INVALID_REQUEST');
    });

    it('deletes a policy (204); then it is 404 for GET, PATCH and DELETE', async () => {
      const created = await createPolicy('p-delete', 'p-user', ['pull']);
      expect((await api('DELETE', `/api/v1/policies/${created.id}`)).status).toBe(204);
      for (const [method, body] of [
        ['GET', undefined],
        ['PATCH', { permissions: ['pull'] }],
        ['DELETE', undefined],
      ] as const) {
        const res = await api(method, `/api/v1/policies/${created.id}`, body);
        expect([method, res.status]).toEqual([method, 404]);
        expect(errorOf(res).code).toBe('NOT_FOUND');
      }
      expect((await api('GET', '/api/v1/policies')).body.policies.map((p: PolicyView) => p.id)).not.toContain(created.id);
    });

    it('answers 409 CONFLICT for a second policy on the same repository and user, by POST or by PATCH', async () => {
      await createPolicy('p-dup/*', 'p-dup-user', ['pull']);
      const res = await api('POST', '/api/v1/policies', { repository: 'p-dup/*', user: 'p-dup-user', permissions: ['push'] });
      expect(res.status).toBe(409);
      expect(errorOf(res).code).toBe('CONFLICT');

      const sameRepoOtherUser = await createPolicy('p-dup/*', 'p-dup-other', ['push']);
      const patch = await api('PATCH', `/api/v1/policies/${sameRepoOtherUser.id}`, { user: 'p-dup-user' });
      expect(patch.status).toBe(409);
      expect(errorOf(patch).code).toBe('CONFLICT');
      expect((await api('GET', `/api/v1/policies/${sameRepoOtherUser.id}`)).body.user).toBe('p-dup-other');
    });

    const badPolicies: [string, unknown, string[]][] = [
      ['an upper-case repository', { repository: 'Bad/Repo', user: 'x', permissions: ['pull'] }, ['repository']],
      ['a repository with a space', { repository: 'bad repo', user: 'x', permissions: ['pull'] }, ['repository']],
      ['an empty group name', { repository: 'r', user: 'group:', permissions: ['pull'] }, ['user']],
      ['an upper-case user', { repository: 'r', user: 'Alice', permissions: ['pull'] }, ['user']],
      ['an unknown permission', { repository: 'r', user: 'x', permissions: ['pull', 'admin'] }, ['permissions']],
      ['no permissions', { repository: 'r', user: 'x', permissions: [] }, ['permissions']],
      ['a duplicated permission', { repository: 'r', user: 'x', permissions: ['pull', 'pull'] }, ['permissions']],
      ['permissions as a string', { repository: 'r', user: 'x', permissions: 'pull' }, ['permissions']],
      ['an unknown field', { repository: 'r', user: 'x', permissions: ['pull'], priority: 1 }, ['priority']],
      ['missing fields', {}, ['permissions', 'repository', 'user']],
    ];

    it.each(badPolicies)('refuses a policy with %s: 400 INVALID_REQUEST with detail.fields', async (_what, body, fields) => {
      const before = (await api('GET', '/api/v1/policies')).body.policies.length;
      const res = await api('POST', '/api/v1/policies', body);
      expect(res.status).toBe(400);
      expect(errorOf(res).code).toBe('INVALID_REQUEST');
      expect(Object.keys(fieldsOf(res)).sort()).toEqual(fields);
      expect((await api('GET', '/api/v1/policies')).body.policies.length).toBe(before);
    });

    it('refuses a PATCH with a bad field with 400 and leaves the policy alone', async () => {
      const created = await createPolicy('p-bad-patch', 'p-user', ['pull']);
      const res = await api('PATCH', `/api/v1/policies/${created.id}`, { permissions: ['write'] });
      expect(res.status).toBe(400);
      expect(Object.keys(fieldsOf(res))).toEqual(['permissions']);
      expect((await api('GET', `/api/v1/policies/${created.id}`)).body.permissions).toEqual(['pull']);
    });
  });

  describe('access check', () => {
    const check = (user: string, repository: string, action: string): Promise<ApiResponse> => api('POST', '/api/v1/access/check', { user, repository, action });

    it('answers allowed, the reason "policy" and the deciding policy', async () => {
      await createUser('c-alice');
      const policy = await createPolicy('c-team/*', 'c-alice', ['pull', 'push']);
      const res = await check('c-alice', 'c-team/app', 'push');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ user: 'c-alice', repository: 'c-team/app', action: 'push', allowed: true, reason: 'policy', policy });
    });

    it('answers not allowed with reason "no-policy" and a null policy when nothing grants the action', async () => {
      await createUser('c-bob');
      await createPolicy('c-bob-only/*', 'c-bob', ['pull']);
      const res = await check('c-bob', 'c-bob-only/app', 'delete');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ allowed: false, reason: 'no-policy', policy: null });
      expect((await check('c-bob', 'elsewhere/app', 'pull')).body).toMatchObject({ allowed: false, reason: 'no-policy' });
    });

    it('names the oldest of several granting policies', async () => {
      await createUser('c-carol');
      const first = await createPolicy('c-multi/*', 'c-carol', ['pull']);
      await createPolicy('c-multi/app', 'c-carol', ['pull', 'push']);
      const pull = await check('c-carol', 'c-multi/app', 'pull');
      expect(pull.body.policy.id).toBe(first.id);
      const push = await check('c-carol', 'c-multi/app', 'push');
      expect(push.body).toMatchObject({ allowed: true, reason: 'policy', policy: { repository: 'c-multi/app' } });
    });

    it('answers reason "admin" for an admin, "user-disabled" for a disabled user, and checks anonymous', async () => {
      expect((await check('admin', 'anything/at-all', 'delete')).body).toMatchObject({ allowed: true, reason: 'admin', policy: null });

      await createUser('c-disabled');
      await createPolicy('*', 'c-disabled', ['pull']);
      await api('PATCH', '/api/v1/users/c-disabled', { disabled: true });
      expect((await check('c-disabled', 'x', 'pull')).body).toMatchObject({ allowed: false, reason: 'user-disabled' });

      expect((await check('anonymous', 'c-public/app', 'pull')).body).toMatchObject({ allowed: false, reason: 'no-policy' });
      const policy = await createPolicy('c-public/*', 'anonymous', ['pull']);
      expect((await check('anonymous', 'c-public/app', 'pull')).body).toMatchObject({ allowed: true, reason: 'policy', policy: { id: policy.id } });
    });

    it('answers 404 for an unknown user and 400 for a bad body', async () => {
      const unknown = await check('nobody-here', 'x', 'pull');
      expect(unknown.status).toBe(404);
      expect(errorOf(unknown).code).toBe('NOT_FOUND');

      const bad = await api('POST', '/api/v1/access/check', { user: 'admin', repository: 'x', action: 'write' });
      expect(bad.status).toBe(400);
      expect(Object.keys(fieldsOf(bad))).toEqual(['action']);
      const missing = await api('POST', '/api/v1/access/check', {});
      expect(missing.status).toBe(400);
      expect(Object.keys(fieldsOf(missing)).sort()).toEqual(['action', 'repository', 'user']);
    });
  });

  describe('audit log', () => {
    it('records user, group, token and policy changes with actor "admin"', async () => {
      await createUser('a-user');
      await api('PATCH', '/api/v1/users/a-user', { role: 'admin' });
      await api('PATCH', '/api/v1/users/a-user', { role: 'user' });
      await api('PATCH', '/api/v1/users/a-user', { password: 'a-user-new-secret-password' });
      await api('POST', '/api/v1/groups', { name: 'a-group', members: ['a-user'] });
      await api('DELETE', '/api/v1/groups/a-group/members/a-user');
      await api('PUT', '/api/v1/groups/a-group/members/a-user');
      const token = await api('POST', '/api/v1/users/a-user/tokens', { name: 'a-token' });
      await api('DELETE', `/api/v1/users/a-user/tokens/${token.body.id}`);
      const policy = await createPolicy('a-repo/*', 'a-user', ['pull']);
      await api('PATCH', `/api/v1/policies/${policy.id}`, { permissions: ['pull', 'push'] });
      await api('DELETE', `/api/v1/policies/${policy.id}`);
      await api('DELETE', '/api/v1/groups/a-group');
      await api('DELETE', '/api/v1/users/a-user');

      const events = await auditEvents('?actor=admin&limit=1000');
      const mine = events.filter((e) => e.detail?.['user'] === 'a-user' || e.detail?.['group'] === 'a-group' || e.detail?.['id'] === policy.id).reverse();
      expect(mine.map((e) => e.type)).toEqual([
        'user.create',
        'user.update',
        'user.update',
        'user.update',
        'group.create',
        'group.member.remove',
        'group.member.add',
        'token.create',
        'token.revoke',
        'policy.create',
        'policy.update',
        'policy.delete',
        'group.delete',
        'user.delete',
      ]);
      for (const e of mine) {
        expect(e.actor).toBe('admin');
        expect(e.outcome).toBe('success');
        expect(Number.isNaN(Date.parse(e.at))).toBe(false);
      }
      expect(mine[1]!.detail).toMatchObject({ user: 'a-user', role: 'admin' });
      expect(mine[3]!.detail).toMatchObject({ user: 'a-user', fields: ['password'] });
      expect(mine[10]!.detail).toMatchObject({ id: policy.id, permissions: ['pull', 'push'] });
      expect(JSON.stringify(events)).not.toContain(token.body.secret);
      expect(JSON.stringify(events)).not.toContain('a-user-password');
      expect(JSON.stringify(events)).not.toContain('a-user-new-secret-password');
      expect(JSON.stringify(events)).not.toContain('scrypt');
    });

    it('records the bootstrap admin as created by "system"', async () => {
      const events = await auditEvents('?type=user.create&actor=system');
      expect(events).toHaveLength(1);
      expect(events[0]!.detail).toMatchObject({ user: 'admin', role: 'admin' });
    });

    it('filters by type, actor and outcome', async () => {
      await createUser('a-filter', 'a-filter-password');
      expect(await tokenStatus('a-filter', 'wrong-password-x')).toBe(401);

      const byType = await auditEvents('?type=user.create');
      expect(byType.length).toBeGreaterThan(1);
      expect(byType.every((e) => e.type === 'user.create')).toBe(true);
      expect(byType.some((e) => e.detail?.['user'] === 'a-filter')).toBe(true);

      const failures = await auditEvents('?outcome=failure');
      expect(failures.length).toBeGreaterThan(0);
      expect(failures.every((e) => e.outcome === 'failure')).toBe(true);
      expect(failures.some((e) => e.type === 'login' && e.actor === 'a-filter')).toBe(true);

      const byActor = await auditEvents('?actor=a-filter');
      expect(byActor.length).toBeGreaterThan(0);
      expect(byActor.every((e) => e.actor === 'a-filter')).toBe(true);

      const combined = await auditEvents('?actor=a-filter&outcome=success&type=login');
      expect(combined.every((e) => e.actor === 'a-filter' && e.outcome === 'success' && e.type === 'login')).toBe(true);
      expect(combined.length).toBe(0);

      expect(await auditEvents('?type=no.such.type')).toEqual([]);
    });

    it('pages newest first with limit, `next` and `before`, covering every event exactly once', async () => {
      for (let i = 0; i < 5; i++) await createPolicy(`a-page-${i}`, 'a-pager', ['pull']);
      const all = await auditEvents('?type=policy.create&limit=1000');
      expect(all.length).toBeGreaterThanOrEqual(5);
      const ids = all.map((e) => e.id);
      expect([...ids].sort((a, b) => b - a)).toEqual(ids);

      const seen: number[] = [];
      let query = '?type=policy.create&limit=2';
      for (let page = 0; page < 100; page++) {
        const res = await api('GET', `/api/v1/audit${query}`);
        expect(res.status).toBe(200);
        const { events, next } = res.body as { events: AuditEvent[]; next: number | null };
        expect(events.length).toBeLessThanOrEqual(2);
        seen.push(...events.map((e) => e.id));
        if (next === null) break;
        expect(next).toBe(events[events.length - 1]!.id);
        query = `?type=policy.create&limit=2&before=${next}`;
      }
      expect(seen).toEqual(ids);
    });

    it('filters by since', async () => {
      const events = await auditEvents('?limit=1000');
      const cutoff = events[Math.floor(events.length / 2)]!.at;
      const since = await auditEvents(`?limit=1000&since=${encodeURIComponent(cutoff)}`);
      expect(since.length).toBeGreaterThan(0);
      expect(since.length).toBeLessThan(events.length + 1);
      expect(since.every((e) => Date.parse(e.at) >= Date.parse(cutoff))).toBe(true);
      expect(events.filter((e) => Date.parse(e.at) >= Date.parse(cutoff)).map((e) => e.id)).toEqual(since.map((e) => e.id));
    });

    it('refuses a bad outcome or since with 400 INVALID_REQUEST', async () => {
      for (const query of ['?outcome=maybe', '?since=yesterday']) {
        const res = await api('GET', `/api/v1/audit${query}`);
        expect([query, res.status]).toEqual([query, 400]);
        expect(errorOf(res).code).toBe('INVALID_REQUEST');
      }
    });
  });

  describe('admin-only routes', () => {
    it('challenges an anonymous caller with a Bearer challenge for registry:admin:*', async () => {
      for (const [method, urlPath] of [
        ['GET', '/api/v1/users'],
        ['GET', '/api/v1/audit'],
        ['GET', '/api/v1/gc/runs'],
        ['GET', '/_stats'],
        ['POST', '/_gc'],
      ]) {
        const res = await api(method!, urlPath!, undefined, null);
        expect([urlPath, res.status]).toEqual([urlPath, 401]);
        const challenge = parseBearerChallenge(res.headers.get('www-authenticate'));
        expect(challenge).toMatchObject({ realm: `${registry.url}/token`, scope: 'registry:admin:*' });
      }
    });

    it('refuses a non-admin user\'s Basic credentials with 403 DENIED everywhere admin is needed', async () => {
      await createUser('r-plain', 'r-plain-password');
      const plain = basic('r-plain', 'r-plain-password');
      for (const [method, urlPath, body] of [
        ['GET', '/api/v1/users', undefined],
        ['POST', '/api/v1/users', { name: 'r-sneaky', password: 'sneaky-password' }],
        ['POST', '/api/v1/policies', { repository: '*', user: 'r-plain', permissions: ['pull'] }],
        ['GET', '/api/v1/audit', undefined],
        ['GET', '/api/v1/gc/runs', undefined],
        ['GET', '/_stats', undefined],
        ['POST', '/_gc', undefined],
      ] as const) {
        const res = await api(method, urlPath, body, plain);
        expect([urlPath, res.status]).toEqual([urlPath, 403]);
        expect(errorOf(res).code).toBe('DENIED');
      }
      expect((await api('GET', '/api/v1/users/r-sneaky')).status).toBe(404);
    });

    it('refuses wrong admin credentials with 401', async () => {
      const res = await api('GET', '/api/v1/users', undefined, basic('admin', 'not-the-password'));
      expect(res.status).toBe(401);
      expect(errorOf(res).code).toBe('UNAUTHORIZED');
    });

    it('runs GC, lists GC runs and serves stats to an admin\'s Basic credentials', async () => {
      const gc = await api('POST', '/_gc', undefined);
      expect(gc.status).toBe(200);
      expect(gc.body).toHaveProperty('deletedLayers');

      const runs = await api('GET', '/api/v1/gc/runs');
      expect(runs.status).toBe(200);
      expect((runs.body.runs as { trigger: string; dryRun: boolean }[]).some((r) => r.trigger === 'api' && !r.dryRun)).toBe(true);

      const stats = await api('GET', '/_stats');
      expect(stats.status).toBe(200);
      expect(stats.body).toHaveProperty('uploads');
    });

    it('serves GC and stats to an admin through a registry token (registry:admin:*), not to a plain user\'s token', async () => {
      const admin = new OciClient(registry.url, { user: 'admin', password: TEST_ADMIN_PASSWORD });
      expect((await admin.tryGc({ dryRun: true })).status).toBe(200);
      expect((await admin.stats()).uploads).toBeDefined();

      await createUser('r-token-user', 'r-token-user-password');
      const plain = new OciClient(registry.url, { user: 'r-token-user', password: 'r-token-user-password' });
      expect((await plain.tryGc()).status).toBe(401);
      const res = await plain.fetch('/api/v1/gc/runs');
      expect(res.status).toBe(401);
      expect(parseBearerChallenge(res.headers.get('www-authenticate'))).toMatchObject({ error: 'insufficient_scope', scope: 'registry:admin:*' });
      await res.arrayBuffer();
    });
  });
});
