import { OciClient, parseBearerChallenge, type PushedImage } from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';
import { makeTempDir, removeDir } from '../utils/temp-dir';
import {
  ADMIN,
  adminCall,
  adminRequest,
  createAccessToken,
  createPolicy,
  createUser,
  decodeJwt,
  deleteAllPolicies,
  getToken,
  type Login,
  type PolicyView,
} from '../utils/tokens';

jest.setTimeout(30_000);

/**
 * Policy semantics, seen through what clients get: the `access` claim of real registry tokens
 * (GET /token) and real pushes and pulls that follow the Bearer challenges.
 */

interface Grant {
  type: string;
  name: string;
  actions: string[];
}

const ALL = 'pull,push,delete';

/** The `access` claim of a token fetched from /token with `login` (or anonymously) for `scopes`. */
async function accessOf(registry: RunningRegistry, login: Login | undefined, scopes: string[]): Promise<Grant[]> {
  const { token } = await getToken(registry, login, scopes);
  return decodeJwt(token).payload['access'] as Grant[];
}

/** The actions a fresh token grants `login` on `repository` when it asks for `requested`. */
async function granted(registry: RunningRegistry, login: Login | undefined, repository: string, requested = ALL): Promise<string[]> {
  const access = await accessOf(registry, login, [`repository:${repository}:${requested}`]);
  const grants = access.filter((g) => g.type === 'repository' && g.name === repository);
  expect(grants.length).toBeLessThanOrEqual(1);
  expect(access.length).toBe(grants.length);
  return grants[0]?.actions ?? [];
}

/** A client logging in as `login` (anonymous when undefined), with no cached tokens. */
const clientOf = (registry: RunningRegistry, login?: Login): OciClient => new OciClient(registry.url, login && { user: login.user, password: login.password });

/** Whether `login` can pull `image` end to end (manifest and blobs, verified). */
async function canPull(registry: RunningRegistry, login: Login | undefined, image: PushedImage): Promise<boolean> {
  try {
    await clientOf(registry, login).pullVerified(image.repo, image.tag, image.bytes);
    return true;
  } catch (error) {
    if (/: 401 /.test((error as Error).message)) return false;
    throw error;
  }
}

/** Whether `login` can push a new image to `repo` (blobs and manifest). */
async function canPush(registry: RunningRegistry, login: Login | undefined, repo: string, tag = `t${Math.floor(Math.random() * 1e9)}`): Promise<boolean> {
  try {
    await clientOf(registry, login).pushImage(repo, tag);
    return true;
  } catch (error) {
    if (/: 401 /.test((error as Error).message)) return false;
    throw error;
  }
}

describe('Access policies (e2e)', () => {
  let registry: RunningRegistry;
  let admin: OciClient;
  let alice: Login;
  let bob: Login;
  let carol: Login;

  beforeAll(async () => {
    registry = await startRegistry({ auth: true, env: { REGISTRY_GC_INTERVAL: '0' } });
    await deleteAllPolicies(registry);
    admin = clientOf(registry, ADMIN);
    alice = await createUser(registry, 'alice');
    bob = await createUser(registry, 'bob');
    carol = await createUser(registry, 'carol');
  });
  afterAll(async () => {
    await registry.stop();
  });

  /** Deletes the policies a test created (by id), so tests do not see each other's grants. */
  const created: PolicyView[] = [];
  const policy = async (repository: string, user: string, permissions: string[]): Promise<PolicyView> => {
    const p = await createPolicy(registry, repository, user, permissions);
    created.push(p);
    return p;
  };
  afterEach(async () => {
    for (const p of created.splice(0)) await adminRequest(registry, 'DELETE', `/api/v1/policies/${p.id}`);
  });

  it('grants nothing to a plain user when no policy exists', async () => {
    expect(await granted(registry, alice, 'any/repo')).toEqual([]);
    expect(await granted(registry, undefined, 'any/repo')).toEqual([]);
  });

  describe('repository globs', () => {
    it('`myorg/*` covers myorg/a and myorg/a/b but neither other/x nor myorg itself (token access claims)', async () => {
      await policy('myorg/*', 'alice', ['pull']);
      expect(await granted(registry, alice, 'myorg/a')).toEqual(['pull']);
      expect(await granted(registry, alice, 'myorg/a/b')).toEqual(['pull']);
      expect(await granted(registry, alice, 'other/x')).toEqual([]);
      expect(await granted(registry, alice, 'myorg')).toEqual([]);
      expect(await granted(registry, alice, 'myorgx/a')).toEqual([]);
      expect(await granted(registry, alice, 'x/myorg/a')).toEqual([]);
    });

    it('`myorg/*` lets the user pull myorg/a/b for real, but not other/x or myorg, and not push', async () => {
      const deep = await admin.pushImage('myorg/a/b', 'v1');
      const other = await admin.pushImage('other/x', 'v1');
      const bare = await admin.pushImage('myorg', 'v1');
      await policy('myorg/*', 'alice', ['pull']);

      expect(await canPull(registry, alice, deep)).toBe(true);
      expect(await canPull(registry, alice, other)).toBe(false);
      expect(await canPull(registry, alice, bare)).toBe(false);
      expect(await canPush(registry, alice, 'myorg/a/b')).toBe(false);
    });

    it('an exact repository name matches only itself, and a `*` in the middle spans path segments', async () => {
      await policy('exact/repo', 'alice', ['pull']);
      await policy('mid/*/app', 'alice', ['push', 'pull']);
      expect(await granted(registry, alice, 'exact/repo')).toEqual(['pull']);
      expect(await granted(registry, alice, 'exact/repo2')).toEqual([]);
      expect(await granted(registry, alice, 'exact')).toEqual([]);
      expect(await granted(registry, alice, 'mid/x/app')).toEqual(['pull', 'push']);
      expect(await granted(registry, alice, 'mid/x/y/app')).toEqual(['pull', 'push']);
      expect(await granted(registry, alice, 'mid/x/app/more')).toEqual([]);
    });

    it('treats `.` in a glob literally', async () => {
      await policy('dots/a.b', 'alice', ['pull']);
      expect(await granted(registry, alice, 'dots/a.b')).toEqual(['pull']);
      expect(await granted(registry, alice, 'dots/axb')).toEqual([]);
    });
  });

  describe('subjects', () => {
    it('a user policy applies to that user only', async () => {
      await policy('solo/*', 'alice', ['pull', 'push']);
      expect(await granted(registry, alice, 'solo/app')).toEqual(['pull', 'push']);
      expect(await granted(registry, bob, 'solo/app')).toEqual([]);
      expect(await granted(registry, undefined, 'solo/app')).toEqual([]);
    });

    it('`group:<name>` applies to members only, and stops applying when a member is removed', async () => {
      await adminCall(registry, 'POST', '/api/v1/groups', { name: 'devs', members: ['bob'] });
      try {
        await policy('team/*', 'group:devs', ['pull', 'push']);
        expect(await granted(registry, bob, 'team/app')).toEqual(['pull', 'push']);
        expect(await granted(registry, carol, 'team/app')).toEqual([]);
        expect(await canPush(registry, bob, 'team/app', 'v1')).toBe(true);
        expect(await canPush(registry, carol, 'team/app')).toBe(false);

        await adminCall(registry, 'DELETE', '/api/v1/groups/devs/members/bob');
        expect(await granted(registry, bob, 'team/app')).toEqual([]);
        expect(await canPush(registry, bob, 'team/app')).toBe(false);

        await adminCall(registry, 'PUT', '/api/v1/groups/devs/members/carol');
        expect(await granted(registry, carol, 'team/app')).toEqual(['pull', 'push']);
        expect(await canPush(registry, carol, 'team/app')).toBe(true);
      } finally {
        await adminRequest(registry, 'DELETE', '/api/v1/groups/devs');
      }
    });

    it('a group policy is not granted to a user whose name is the group name', async () => {
      await createUser(registry, 'ops');
      await adminCall(registry, 'POST', '/api/v1/groups', { name: 'ops' });
      try {
        await policy('ops-repo/*', 'group:ops', ['pull']);
        expect(await granted(registry, { user: 'ops', password: 'ops-password' }, 'ops-repo/a')).toEqual([]);
      } finally {
        await adminRequest(registry, 'DELETE', '/api/v1/groups/ops');
      }
    });

    it('`*` means any logged-in user, not anonymous', async () => {
      const image = await admin.pushImage('shared/base', 'v1');
      await policy('shared/*', '*', ['pull']);
      expect(await granted(registry, alice, 'shared/base')).toEqual(['pull']);
      expect(await granted(registry, carol, 'shared/base')).toEqual(['pull']);
      expect(await granted(registry, undefined, 'shared/base')).toEqual([]);

      expect(await canPull(registry, carol, image)).toBe(true);
      expect(await canPull(registry, undefined, image)).toBe(false);
    });

    it('`anonymous` lets tokens fetched without credentials pull, and logged-in users too', async () => {
      const image = await admin.pushImage('public/tool', 'v1');
      await policy('public/*', 'anonymous', ['pull']);
      expect(await granted(registry, undefined, 'public/tool')).toEqual(['pull']);
      expect(await granted(registry, alice, 'public/tool')).toEqual(['pull']);

      const anonymous = clientOf(registry);
      await anonymous.pullVerified(image.repo, image.tag, image.bytes);
      expect(anonymous.tokenFetches).toBeGreaterThan(0);
      expect(await canPull(registry, alice, image)).toBe(true);
      expect(await canPush(registry, undefined, 'public/tool')).toBe(false);
      expect(await canPush(registry, alice, 'public/tool')).toBe(false);
    });

    it('a disabled user gets no token at all, whatever the policies say', async () => {
      await createUser(registry, 'dora');
      await policy('*', 'dora', ['pull']);
      await adminCall(registry, 'PATCH', '/api/v1/users/dora', { disabled: true });
      const res = await fetch(`${registry.url}/token?scope=repository:x:pull`, { headers: { authorization: `Basic ${Buffer.from('dora:dora-password').toString('base64')}` } });
      expect(res.status).toBe(401);
      await res.arrayBuffer();
    });
  });

  describe('combining policies', () => {
    it('grants the union of every matching policy (user, group, `*`)', async () => {
      await adminCall(registry, 'POST', '/api/v1/groups', { name: 'deleters', members: ['alice'] });
      try {
        await policy('union/*', '*', ['pull']);
        await policy('union/app', 'alice', ['push']);
        await policy('union/*', 'group:deleters', ['delete']);

        expect(await granted(registry, alice, 'union/app')).toEqual(['pull', 'push', 'delete']);
        expect(await granted(registry, alice, 'union/other')).toEqual(['pull', 'delete']);
        expect(await granted(registry, bob, 'union/app')).toEqual(['pull']);

        const pushed = await clientOf(registry, alice).pushImage('union/app', 'v1');
        expect(await clientOf(registry, alice).deleteManifest('union/app', pushed.digest)).toBe(202);
        expect(await clientOf(registry, bob).deleteManifest('union/app', 'v1')).toBe(401);
      } finally {
        await adminRequest(registry, 'DELETE', '/api/v1/groups/deleters');
      }
    });

    it('grants only the requested actions that are allowed, all allowed ones for `*`', async () => {
      await policy('ask/*', 'alice', ['pull', 'push']);
      expect(await granted(registry, alice, 'ask/app', 'pull')).toEqual(['pull']);
      expect(await granted(registry, alice, 'ask/app', 'delete')).toEqual([]);
      expect(await granted(registry, alice, 'ask/app', '*')).toEqual(['pull', 'push']);
    });

    it('grants several repository scopes in one token, each by its own policies', async () => {
      await policy('multi-a/*', 'alice', ['pull']);
      await policy('multi-b/*', 'alice', ['pull', 'push']);
      const access = await accessOf(registry, alice, ['repository:multi-a/x:pull,push', 'repository:multi-b/y:pull,push', 'repository:multi-c/z:pull']);
      expect(access).toEqual([
        { type: 'repository', name: 'multi-a/x', actions: ['pull'] },
        { type: 'repository', name: 'multi-b/y', actions: ['pull', 'push'] },
      ]);
    });

    it('narrows what a user may do to the limits of the access token it logged in with', async () => {
      await policy('*', 'carol', ['pull', 'push', 'delete']);
      const token = await createAccessToken(registry, 'carol', { name: 'ci', repositories: 'ci/*', actions: ['pull', 'push'] });
      const robot = { user: 'carol', password: token.secret };
      expect(await granted(registry, robot, 'ci/app')).toEqual(['pull', 'push']);
      expect(await granted(registry, robot, 'elsewhere/app')).toEqual([]);
      expect(await granted(registry, carol, 'elsewhere/app')).toEqual(['pull', 'push', 'delete']);
      expect(await canPush(registry, robot, 'ci/app')).toBe(true);
      expect(await canPush(registry, robot, 'elsewhere/app')).toBe(false);
    });
  });

  describe('admins', () => {
    it('may pull, push and delete everywhere with no policy at all', async () => {
      expect((await adminCall<{ policies: unknown[] }>(registry, 'GET', '/api/v1/policies')).policies).toEqual([]);
      expect(await granted(registry, ADMIN, 'anything/at/all')).toEqual(['pull', 'push', 'delete']);
      expect(await granted(registry, ADMIN, 'anything/at/all', '*')).toEqual(['pull', 'push', 'delete']);

      const pushed = await clientOf(registry, ADMIN).pushImage('admin-only/app', 'v1');
      await clientOf(registry, ADMIN).pullVerified('admin-only/app', 'v1', pushed.bytes);
      expect(await clientOf(registry, ADMIN).deleteManifest('admin-only/app', pushed.digest)).toBe(202);
    });

    it('a promoted user becomes an admin for the very next token, and a demoted one stops being one', async () => {
      await createUser(registry, 'erin');
      const erin = { user: 'erin', password: 'erin-password' };
      expect(await granted(registry, erin, 'promo/app')).toEqual([]);
      await adminCall(registry, 'PATCH', '/api/v1/users/erin', { role: 'admin' });
      expect(await granted(registry, erin, 'promo/app')).toEqual(['pull', 'push', 'delete']);
      expect(await accessOf(registry, erin, ['registry:admin:*'])).toEqual([{ type: 'registry', name: 'admin', actions: ['*'] }]);
      await adminCall(registry, 'PATCH', '/api/v1/users/erin', { role: 'user' });
      expect(await granted(registry, erin, 'promo/app')).toEqual([]);
      expect(await accessOf(registry, erin, ['registry:admin:*'])).toEqual([]);
    });
  });

  describe('immediate effect', () => {
    it('a policy created, changed or deleted applies to the very next token and push, without a restart', async () => {
      expect(await granted(registry, bob, 'live/app')).toEqual([]);
      expect(await canPush(registry, bob, 'live/app')).toBe(false);

      const p = await policy('live/*', 'bob', ['pull', 'push']);
      expect(await granted(registry, bob, 'live/app')).toEqual(['pull', 'push']);
      const image = await clientOf(registry, bob).pushImage('live/app', 'v1');

      await adminCall(registry, 'PATCH', `/api/v1/policies/${p.id}`, { permissions: ['pull'] });
      expect(await granted(registry, bob, 'live/app')).toEqual(['pull']);
      expect(await canPush(registry, bob, 'live/app')).toBe(false);
      expect(await canPull(registry, bob, image)).toBe(true);

      await adminCall(registry, 'PATCH', `/api/v1/policies/${p.id}`, { repository: 'elsewhere/*' });
      expect(await granted(registry, bob, 'live/app')).toEqual([]);
      expect(await granted(registry, bob, 'elsewhere/app')).toEqual(['pull']);

      await adminCall(registry, 'DELETE', `/api/v1/policies/${p.id}`);
      expect(await granted(registry, bob, 'elsewhere/app')).toEqual([]);
      expect(await canPull(registry, bob, image)).toBe(false);
    });

    it('a token keeps what it was granted until it expires: the next token carries the change', async () => {
      const p = await policy('kept/*', 'bob', ['pull', 'push']);
      const { token } = await getToken(registry, bob, ['repository:kept/app:pull,push']);
      await adminCall(registry, 'DELETE', `/api/v1/policies/${p.id}`);

      const start = await fetch(`${registry.url}/v2/kept/app/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(start.status).toBe(202);
      await start.arrayBuffer();
      expect(await granted(registry, bob, 'kept/app')).toEqual([]);
    });

    it('Basic credentials sent straight to /v2 are checked against the policies live: 403 DENIED when refused', async () => {
      const image = await admin.pushImage('direct/app', 'v1');
      const auth = { authorization: `Basic ${Buffer.from('carol:carol-password').toString('base64')}` };
      const before = await fetch(`${registry.url}/v2/direct/app/manifests/v1`, { headers: auth });
      expect(before.status).toBe(403);
      await before.arrayBuffer();

      const p = await policy('direct/*', 'carol', ['pull']);
      const allowed = await fetch(`${registry.url}/v2/direct/app/manifests/v1`, { headers: { ...auth, accept: image.mediaType } });
      expect(allowed.status).toBe(200);
      expect(Buffer.from(await allowed.arrayBuffer()).equals(image.bytes)).toBe(true);

      await adminCall(registry, 'DELETE', `/api/v1/policies/${p.id}`);
      const after = await fetch(`${registry.url}/v2/direct/app/manifests/v1`, { headers: auth });
      expect(after.status).toBe(403);
      await after.arrayBuffer();
    });
  });

  describe('the check endpoint', () => {
    it('agrees with what tokens grant, for every user, repository and action', async () => {
      await adminCall(registry, 'POST', '/api/v1/groups', { name: 'checkers', members: ['bob'] });
      try {
        await policy('chk/*', 'alice', ['pull']);
        await policy('chk/app', 'group:checkers', ['push', 'pull']);
        await policy('chk/pub/*', 'anonymous', ['pull']);
        await policy('chk/all/*', '*', ['delete']);

        const subjects: [string, Login | undefined][] = [
          ['alice', alice],
          ['bob', bob],
          ['carol', carol],
          ['admin', ADMIN],
          ['anonymous', undefined],
        ];
        const repositories = ['chk/app', 'chk/pub/x', 'chk/all/y', 'chk', 'nope/app'];
        let allowedSeen = 0;
        let deniedSeen = 0;
        for (const [name, login] of subjects) {
          for (const repository of repositories) {
            const actions = await granted(registry, login, repository);
            for (const action of ['pull', 'push', 'delete']) {
              const res = await adminRequest(registry, 'POST', '/api/v1/access/check', { user: name, repository, action });
              expect(res.status).toBe(200);
              const decision = (await res.json()) as { allowed: boolean; reason: string; policy: PolicyView | null };
              expect([name, repository, action, decision.allowed]).toEqual([name, repository, action, actions.includes(action)]);
              if (decision.allowed) allowedSeen++;
              else deniedSeen++;
              if (decision.reason === 'policy') {
                const p = decision.policy!;
                expect(p.permissions).toContain(action);
              }
            }
          }
        }
        expect(allowedSeen).toBeGreaterThan(10);
        expect(deniedSeen).toBeGreaterThan(10);
      } finally {
        await adminRequest(registry, 'DELETE', '/api/v1/groups/checkers');
      }
    });
  });

  describe('catalog', () => {
    it('lists only the repositories the caller may pull', async () => {
      await admin.pushImage('cat-a/app', 'v1');
      await admin.pushImage('cat-b/app', 'v1');
      await policy('cat-a/*', 'alice', ['pull']);
      const res = await clientOf(registry, alice).fetch('/v2/_catalog?n=1000');
      expect(res.status).toBe(200);
      const { repositories } = (await res.json()) as { repositories: string[] };
      expect(repositories).toContain('cat-a/app');
      expect(repositories).not.toContain('cat-b/app');
    });
  });
});

describe('Policies across a restart (e2e)', () => {
  let dataDir: string;
  let registry: RunningRegistry | undefined;

  beforeAll(() => {
    dataDir = makeTempDir('policies-restart-');
  });
  afterAll(async () => {
    await registry?.close();
    removeDir(dataDir);
  });

  it('seeds the default policy on first start and does not re-seed it on restart once every policy was deleted', async () => {
    registry = await startRegistry({ auth: true, dataDir });
    const seeded = (await adminCall<{ policies: PolicyView[] }>(registry, 'GET', '/api/v1/policies')).policies;
    expect(seeded.map((p) => [p.repository, p.user, p.permissions])).toEqual([['*', '*', ['pull', 'push', 'delete']]]);
    const frank = await createUser(registry, 'frank');
    expect(await granted(registry, frank, 'seeded/app')).toEqual(['pull', 'push', 'delete']);

    await deleteAllPolicies(registry);
    expect(await granted(registry, frank, 'seeded/app')).toEqual([]);
    await registry.close();

    registry = await startRegistry({ auth: true, dataDir });
    expect((await adminCall<{ policies: PolicyView[] }>(registry, 'GET', '/api/v1/policies')).policies).toEqual([]);
    expect(await granted(registry, frank, 'seeded/app')).toEqual([]);
    const denied = await clientOf(registry, frank).fetch('/v2/seeded/app/blobs/uploads/', { method: 'POST' });
    expect(denied.status).toBe(401);
    expect(parseBearerChallenge(denied.headers.get('www-authenticate'))).toMatchObject({ error: 'insufficient_scope' });
    await denied.arrayBuffer();
  });

  it('keeps policies created through the API across a restart', async () => {
    registry ??= await startRegistry({ auth: true, dataDir });
    const p = await createPolicy(registry, 'kept-after-restart/*', 'frank', ['pull']);
    await registry.close();

    registry = await startRegistry({ auth: true, dataDir });
    expect((await adminCall<{ policies: PolicyView[] }>(registry, 'GET', '/api/v1/policies')).policies.map((x) => x.id)).toEqual([p.id]);
    expect(await granted(registry, { user: 'frank', password: 'frank-password' }, 'kept-after-restart/x')).toEqual(['pull']);
  });
});
