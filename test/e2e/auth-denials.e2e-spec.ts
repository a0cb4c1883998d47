import * as http from 'node:http';
import { deterministicBytes, errorCodes, OciClient, parseBearerChallenge, sha256, sleep } from '../utils/oci-client';
import { LogCapture } from '../utils/log-capture';
import { RunningRegistry, startRegistry, TEST_ADMIN_PASSWORD, TEST_SERVICE } from '../utils/start-registry';
import {
  ADMIN,
  adminCall,
  adminRequest,
  auditEvents,
  basic,
  claimsWith,
  createAccessToken,
  createPolicy,
  createUser,
  decodeJwt,
  deleteAllPolicies,
  foreignKey,
  forgeToken,
  getToken,
  jwks,
  type Login,
  postToken,
  registrySigningKey,
  requestToken,
  type TokenAnswer,
  tokenFor,
  withPayload,
} from '../utils/tokens';

jest.setTimeout(30_000);

/**
 * Every way token authentication refuses: missing, wrong, disabled, revoked, expired, forged
 * and insufficient credentials, each answered with the status and code clients act on (401
 * with a Bearer challenge to fetch a token, 403 DENIED when the refusal is final, 429 while
 * logins are throttled), mounts that must not leak blobs, admin routes, the catalog, access
 * tokens and what the audit log keeps (and never keeps).
 */

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
const basicOf = (login: Login): Record<string, string> => ({ authorization: basic(login.user, login.password) });

interface Access {
  type: string;
  name: string;
  actions: string[];
}
const accessOf = (token: string): Access[] => decodeJwt(token).payload['access'] as Access[];

/** Asserts a 401 UNAUTHORIZED with a Bearer challenge of this registry carrying exactly `params` besides realm and service. */
async function expectChallenge(res: Response, registry: RunningRegistry, params: { scope?: string; error?: string }): Promise<void> {
  expect(res.status).toBe(401);
  const challenge = parseBearerChallenge(res.headers.get('www-authenticate'));
  expect(challenge).toEqual({ realm: `${registry.url}/token`, service: TEST_SERVICE, ...params });
  expect(await errorCodes(res)).toEqual(['UNAUTHORIZED']);
}

async function expectDenied(res: Response): Promise<void> {
  expect(res.status).toBe(403);
  expect(res.headers.get('www-authenticate')).toBeNull();
  expect(await errorCodes(res)).toEqual(['DENIED']);
}

describe('token authentication denials (e2e)', () => {
  let registry: RunningRegistry;
  let adminClient: OciClient;
  /** pull, push, delete on team-a/*; pull, push on secret/*. */
  let alice: Login;
  /** pull on team-a/*; pull, push on team-b/*. */
  let bob: Login;
  /** No policy at all. */
  let carol: Login;
  let appDigest: string;
  const secretBlob = deterministicBytes(300, 'secret-blob');
  const teamBlob = deterministicBytes(300, 'team-a-blob');

  const url = (path: string): string => `${registry.url}${path}`;

  beforeAll(async () => {
    registry = await startRegistry({ auth: true, env: { REGISTRY_GC_INTERVAL: '0' } });
    await deleteAllPolicies(registry);
    alice = await createUser(registry, 'alice');
    bob = await createUser(registry, 'bob');
    carol = await createUser(registry, 'carol');
    await createPolicy(registry, 'team-a/*', 'alice', ['pull', 'push', 'delete']);
    await createPolicy(registry, 'secret/*', 'alice', ['pull', 'push']);
    await createPolicy(registry, 'team-a/*', 'bob', ['pull']);
    await createPolicy(registry, 'team-b/*', 'bob', ['pull', 'push']);
    adminClient = new OciClient(registry.url, ADMIN);
    appDigest = (await adminClient.pushImage('team-a/app', 'v1')).digest;
    await adminClient.pushImage('team-b/tool', 'v1');
    await adminClient.pushBlob('secret/vault', secretBlob);
    await adminClient.pushBlob('team-a/src', teamBlob);
  });
  afterAll(async () => {
    await registry.stop();
  });

  describe('missing and wrong credentials', () => {
    it('answers a repository route without credentials with 401 and a challenge for its scope (no error parameter)', async () => {
      await expectChallenge(await fetch(url('/v2/team-a/app/manifests/v1')), registry, { scope: 'repository:team-a/app:pull' });
    });

    it('answers a wrong password at /token with 401 JSON and a Basic challenge, and the same for an unknown user', async () => {
      const wrong = await requestToken(registry, { user: 'alice', password: 'wrong-password' }, ['repository:team-a/app:pull']);
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toBe(`Basic realm="${registry.url}/token"`);
      const wrongBody = await wrong.json();
      const unknown = await requestToken(registry, { user: 'nobody', password: 'wrong-password' }, ['repository:team-a/app:pull']);
      expect(unknown.status).toBe(401);
      expect(await unknown.json()).toEqual(wrongBody); // nothing tells an unknown user from a wrong password
      expect((wrongBody as { errors: { code: string }[] }).errors.map((e) => e.code)).toEqual(['UNAUTHORIZED']);
    });

    it('answers an unsupported Authorization scheme on /v2/ with 401 and a challenge', async () => {
      await expectChallenge(await fetch(url('/v2/'), { headers: { authorization: 'Digest username="alice"' } }), registry, {});
    });
  });

  describe('users whose credentials changed', () => {
    it('refuses a disabled user a token, kills its refresh token, and does not revive it on re-enabling', async () => {
      const dave = await createUser(registry, 'dave');
      await createPolicy(registry, 'team-a/*', 'dave', ['pull']);
      const { refresh_token } = await getToken(registry, dave, [], { offline_token: 'true' });
      expect((await postToken(registry, { grant_type: 'refresh_token', refresh_token: refresh_token! })).status).toBe(200);

      await adminCall(registry, 'PATCH', '/api/v1/users/dave', { disabled: true });
      const get = await requestToken(registry, dave, ['repository:team-a/app:pull']);
      expect(get.status).toBe(401);
      expect(await errorCodes(get)).toEqual(['UNAUTHORIZED']);
      const post = await postToken(registry, { grant_type: 'password', username: 'dave', password: dave.password });
      expect(post.status).toBe(401);
      const refresh = await postToken(registry, { grant_type: 'refresh_token', refresh_token: refresh_token!, scope: 'repository:team-a/app:pull' });
      expect(refresh.status).toBe(401);
      expect(await errorCodes(refresh)).toEqual(['UNAUTHORIZED']);
      const direct = await fetch(url('/v2/team-a/app/tags/list'), { headers: basicOf(dave) });
      await expectChallenge(direct, registry, {});

      await adminCall(registry, 'PATCH', '/api/v1/users/dave', { disabled: false });
      expect((await requestToken(registry, dave, [])).status).toBe(200);
      expect((await postToken(registry, { grant_type: 'refresh_token', refresh_token: refresh_token! })).status).toBe(401);
    });

    it('kills refresh tokens and the old password when the password changes', async () => {
      const erin = await createUser(registry, 'erin');
      const { refresh_token } = await getToken(registry, erin, [], { offline_token: 'true' });
      const { refresh_token: oauthRefresh } = (await (await postToken(registry, { grant_type: 'password', username: 'erin', password: erin.password, access_type: 'offline' })).json()) as TokenAnswer;
      expect((await postToken(registry, { grant_type: 'refresh_token', refresh_token: refresh_token! })).status).toBe(200);

      await adminCall(registry, 'PATCH', '/api/v1/users/erin', { password: 'a-brand-new-password' });
      for (const token of [refresh_token!, oauthRefresh!]) {
        const res = await postToken(registry, { grant_type: 'refresh_token', refresh_token: token });
        expect(res.status).toBe(401);
        expect(await errorCodes(res)).toEqual(['UNAUTHORIZED']);
      }
      expect((await requestToken(registry, erin, [])).status).toBe(401);
      expect((await requestToken(registry, { user: 'erin', password: 'a-brand-new-password' }, [])).status).toBe(200);
    });

    it('kills the refresh tokens and Basic logins of a deleted user, even if the name comes back', async () => {
      const fred = await createUser(registry, 'fred');
      const { refresh_token } = await getToken(registry, fred, [], { offline_token: 'true' });
      expect((await adminRequest(registry, 'DELETE', '/api/v1/users/fred')).status).toBe(204);
      expect((await postToken(registry, { grant_type: 'refresh_token', refresh_token: refresh_token! })).status).toBe(401);
      expect((await requestToken(registry, fred, [])).status).toBe(401);
      await createUser(registry, 'fred', fred.password);
      expect((await postToken(registry, { grant_type: 'refresh_token', refresh_token: refresh_token! })).status).toBe(401);
      expect((await requestToken(registry, fred, [])).status).toBe(200);
    });

    it('kills every refresh token of a user when an admin revokes them, leaving the password working', async () => {
      const user = await createUser(registry, 'logged-out-everywhere');
      const first = (await getToken(registry, user, [], { offline_token: 'true' })).refresh_token!;
      const second = (await getToken(registry, user, [], { offline_token: 'true' })).refresh_token!;
      expect((await postToken(registry, { grant_type: 'refresh_token', refresh_token: first })).status).toBe(200);
      expect((await adminRequest(registry, 'DELETE', '/api/v1/users/logged-out-everywhere/refresh-tokens')).status).toBe(204);
      for (const token of [first, second]) expect((await postToken(registry, { grant_type: 'refresh_token', refresh_token: token })).status).toBe(401);
      expect((await requestToken(registry, user, [])).status).toBe(200);
      expect((await adminRequest(registry, 'DELETE', '/api/v1/users/nobody/refresh-tokens')).status).toBe(404);
    });

    it('refuses a refresh token at an unknown service with 400, before looking at it', async () => {
      const { refresh_token } = await getToken(registry, alice, [], { offline_token: 'true' });
      const res = await postToken(registry, { grant_type: 'refresh_token', refresh_token: refresh_token!, service: 'elsewhere' });
      expect(res.status).toBe(400);
      expect(await errorCodes(res)).toEqual(['INVALID_REQUEST']);
    });
  });

  describe('tokens lacking the scope', () => {
    it('refuses a token for repository A on repository B with 401 insufficient_scope naming B', async () => {
      const token = await tokenFor(registry, alice, ['repository:team-a/app:pull']);
      const inA = await fetch(url('/v2/team-a/app/manifests/v1'), { method: 'HEAD', headers: bearer(token) });
      expect(inA.status).toBe(200);
      const res = await fetch(url('/v2/team-a/other/manifests/v1'), { headers: bearer(token) });
      await expectChallenge(res, registry, { scope: 'repository:team-a/other:pull', error: 'insufficient_scope' });
    });

    it('gives a pull-only user a pull-only token, which reads but cannot push or delete (401 insufficient_scope)', async () => {
      const token = await tokenFor(registry, bob, ['repository:team-a/app:pull,push,delete']);
      expect(accessOf(token)).toEqual([{ type: 'repository', name: 'team-a/app', actions: ['pull'] }]);
      const read = await fetch(url(`/v2/team-a/app/manifests/${appDigest}`), { method: 'HEAD', headers: bearer(token) });
      expect(read.status).toBe(200);

      const post = await fetch(url('/v2/team-a/app/blobs/uploads/'), { method: 'POST', headers: bearer(token) });
      await expectChallenge(post, registry, { scope: 'repository:team-a/app:pull,push', error: 'insufficient_scope' });
      const put = await fetch(url('/v2/team-a/app/manifests/v2'), { method: 'PUT', headers: { ...bearer(token), 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: '{}' });
      await expectChallenge(put, registry, { scope: 'repository:team-a/app:pull,push', error: 'insufficient_scope' });
      const del = await fetch(url(`/v2/team-a/app/manifests/${appDigest}`), { method: 'DELETE', headers: bearer(token) });
      await expectChallenge(del, registry, { scope: 'repository:team-a/app:delete', error: 'insufficient_scope' });
      const still = await fetch(url(`/v2/team-a/app/manifests/${appDigest}`), { method: 'HEAD', headers: bearer(token) });
      expect(still.status).toBe(200);
    });

    it('does not let a token for repository B continue or complete an upload session of repository A', async () => {
      const tokenA = await tokenFor(registry, alice, ['repository:team-a/up:pull,push']);
      const start = await fetch(url('/v2/team-a/up/blobs/uploads/'), { method: 'POST', headers: bearer(tokenA) });
      expect(start.status).toBe(202);
      const id = start.headers.get('location')!.split('/').pop()!;
      const tokenB = await tokenFor(registry, bob, ['repository:team-b/up:pull,push']);
      const data = deterministicBytes(10, 'hijack');
      const patch = await fetch(url(`/v2/team-b/up/blobs/uploads/${id}`), { method: 'PATCH', headers: { ...bearer(tokenB), 'content-type': 'application/octet-stream' }, body: data });
      expect(patch.status).toBe(404);
      expect(await errorCodes(patch)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
      const put = await fetch(url(`/v2/team-b/up/blobs/uploads/${id}?digest=${sha256(data)}`), { method: 'PUT', headers: { ...bearer(tokenB), 'content-type': 'application/octet-stream' }, body: data });
      expect(put.status).toBe(404);
      expect(await errorCodes(put)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
      // …and the token for B does not open A's session through A's own path either.
      const direct = await fetch(url(`/v2/team-a/up/blobs/uploads/${id}`), { headers: bearer(tokenB) });
      await expectChallenge(direct, registry, { scope: 'repository:team-a/up:pull,push', error: 'insufficient_scope' });
      const status = await fetch(url(`/v2/team-a/up/blobs/uploads/${id}`), { headers: bearer(tokenA) });
      expect(status.status).toBe(204);
      expect(status.headers.get('range')).toBe('0-0');
    });

    it('refuses a token granting push without pull an upload (push needs pull)', async () => {
      const forged = forgeToken(claimsWith({ sub: 'alice', access: [{ type: 'repository', name: 'team-a/app', actions: ['push'] }] }), { alg: 'ES256', typ: 'JWT', kid: (await jwks(registry)).keys[0]!.kid }, registrySigningKey(registry));
      const post = await fetch(url('/v2/team-a/app/blobs/uploads/'), { method: 'POST', headers: bearer(forged) });
      await expectChallenge(post, registry, { scope: 'repository:team-a/app:pull,push', error: 'insufficient_scope' });
    });
  });

  describe('tokens that do not verify', () => {
    let kid: string;
    const readScope = [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }];
    const read = (token: string): Promise<Response> => fetch(url('/v2/team-a/app/tags/list'), { headers: bearer(token) });
    const expectInvalid = async (token: string): Promise<void> => {
      await expectChallenge(await read(token), registry, { error: 'invalid_token' });
      await expectChallenge(await fetch(url('/v2/'), { headers: bearer(token) }), registry, { error: 'invalid_token' });
    };

    beforeAll(async () => {
      kid = (await jwks(registry)).keys[0]!.kid;
    });

    it('accepts a token forged with its own key and valid claims (the control for the cases below)', async () => {
      const token = forgeToken(claimsWith({ sub: 'alice', access: readScope }), { alg: 'ES256', typ: 'JWT', kid }, registrySigningKey(registry));
      const res = await read(token);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ name: 'team-a/app', tags: ['v1'] });
    });

    it('accepts a token that expired 30 s ago (within the 60 s leeway) and an audience list holding the service', async () => {
      const now = Math.floor(Date.now() / 1000);
      const late = forgeToken(claimsWith({ sub: 'alice', access: readScope, iat: now - 330, nbf: now - 331, exp: now - 30 }), { alg: 'ES256', typ: 'JWT', kid }, registrySigningKey(registry));
      expect((await read(late)).status).toBe(200);
      const listed = forgeToken(claimsWith({ sub: 'alice', access: readScope, aud: ['other', TEST_SERVICE] }), { alg: 'ES256', typ: 'JWT', kid }, registrySigningKey(registry));
      expect((await read(listed)).status).toBe(200);
    });

    it('refuses a token that expired two minutes ago, beyond the leeway: 401 invalid_token', async () => {
      const now = Math.floor(Date.now() / 1000);
      const expired = forgeToken(claimsWith({ sub: 'alice', access: readScope, iat: now - 420, nbf: now - 421, exp: now - 120 }), { alg: 'ES256', typ: 'JWT', kid }, registrySigningKey(registry));
      await expectInvalid(expired);
    });

    it('refuses a token not valid before ten minutes from now', async () => {
      const now = Math.floor(Date.now() / 1000);
      await expectInvalid(forgeToken(claimsWith({ sub: 'alice', access: readScope, nbf: now + 600, exp: now + 900 }), { alg: 'ES256', typ: 'JWT', kid }, registrySigningKey(registry)));
    });

    it('refuses an unsigned token (alg: none)', async () => {
      await expectInvalid(forgeToken(claimsWith({ sub: 'alice', access: readScope }), { alg: 'none', typ: 'JWT', kid }));
    });

    it('refuses a token signed by another key under the registry key id', async () => {
      await expectInvalid(forgeToken(claimsWith({ sub: 'alice', access: readScope }), { alg: 'ES256', typ: 'JWT', kid }, foreignKey()));
    });

    it('refuses a token signed with the registry key under an unknown key id', async () => {
      await expectInvalid(forgeToken(claimsWith({ sub: 'alice', access: readScope }), { alg: 'ES256', typ: 'JWT', kid: 'some-other-key' }, registrySigningKey(registry)));
    });

    it('refuses a real token whose payload was changed (more access) with the signature kept', async () => {
      const real = await tokenFor(registry, bob, ['repository:team-a/app:pull']);
      const claims = decodeJwt(real).payload;
      const tampered = withPayload(real, { ...claims, access: [{ type: 'repository', name: 'team-a/app', actions: ['pull', 'push', 'delete'] }] });
      await expectInvalid(tampered);
      const post = await fetch(url('/v2/team-a/app/blobs/uploads/'), { method: 'POST', headers: bearer(tampered) });
      await expectChallenge(post, registry, { error: 'invalid_token' });
    });

    it.each([
      ['audience', { aud: 'some-other-registry' }],
      ['issuer', { iss: 'someone-else' }],
    ])('refuses a token with the wrong %s, even signed with the registry key', async (_what, override) => {
      await expectInvalid(forgeToken(claimsWith({ sub: 'alice', access: readScope, ...override }), { alg: 'ES256', typ: 'JWT', kid }, registrySigningKey(registry)));
    });

    it('refuses a bearer value that is no JWT', async () => {
      await expectInvalid('not-a-jwt');
    });
  });

  describe('cross-repository mounts', () => {
    const mount = (target: string, digest: string, from: string | undefined, headers: Record<string, string>): Promise<Response> =>
      fetch(url(`/v2/${target}/blobs/uploads/?mount=${digest}${from === undefined ? '' : `&from=${from}`}`), { method: 'POST', headers });
    const headBlob = async (repo: string, digest: string): Promise<number> => (await fetch(url(`/v2/${repo}/blobs/${digest}`), { method: 'HEAD', headers: basicOf(ADMIN) })).status;

    const expectUploadSession = async (res: Response, target: string): Promise<void> => {
      expect(res.status).toBe(202);
      expect(res.headers.get('location')).toMatch(new RegExp(`/v2/${target}/blobs/uploads/[^/]+$`));
      expect(res.headers.get('docker-content-digest')).toBeNull();
      await res.arrayBuffer();
    };
    const expectMounted = async (res: Response, target: string, digest: string): Promise<void> => {
      expect(res.status).toBe(201);
      expect(res.headers.get('location')).toMatch(new RegExp(`/v2/${target}/blobs/${digest}$`));
      expect(res.headers.get('docker-content-digest')).toBe(digest);
      await res.arrayBuffer();
      expect(await headBlob(target, digest)).toBe(200);
    };

    it('starts a normal upload (202), not a mount, from a repository the caller cannot pull (Basic)', async () => {
      await expectUploadSession(await mount('team-b/m1', sha256(secretBlob), 'secret/vault', basicOf(bob)), 'team-b/m1');
      expect(await headBlob('team-b/m1', sha256(secretBlob))).toBe(404);
    });

    it('starts a normal upload (202) with a token that asked for the source it may not pull', async () => {
      const token = await tokenFor(registry, bob, ['repository:team-b/m2:pull,push', 'repository:secret/vault:pull']);
      expect(accessOf(token)).toEqual([{ type: 'repository', name: 'team-b/m2', actions: ['pull', 'push'] }]);
      await expectUploadSession(await mount('team-b/m2', sha256(secretBlob), 'secret/vault', bearer(token)), 'team-b/m2');
      expect(await headBlob('team-b/m2', sha256(secretBlob))).toBe(404);
    });

    it('mounts (201) from a repository the caller may pull: Basic, and a token granting pull on the source', async () => {
      await expectMounted(await mount('team-b/m3', sha256(teamBlob), 'team-a/src', basicOf(bob)), 'team-b/m3', sha256(teamBlob));
      const token = await tokenFor(registry, bob, ['repository:team-b/m4:pull,push', 'repository:team-a/src:pull']);
      await expectMounted(await mount('team-b/m4', sha256(teamBlob), 'team-a/src', bearer(token)), 'team-b/m4', sha256(teamBlob));
    });

    it('starts a normal upload (202) when the token does not grant pull on the source, whatever the policies say', async () => {
      const token = await tokenFor(registry, bob, ['repository:team-b/m5:pull,push']);
      await expectUploadSession(await mount('team-b/m5', sha256(teamBlob), 'team-a/src', bearer(token)), 'team-b/m5');
      expect(await headBlob('team-b/m5', sha256(teamBlob))).toBe(404);
    });

    it('mounts without from only from repositories the caller may pull', async () => {
      await expectUploadSession(await mount('team-b/m6', sha256(secretBlob), undefined, basicOf(bob)), 'team-b/m6');
      expect(await headBlob('team-b/m6', sha256(secretBlob))).toBe(404);
      const token = await tokenFor(registry, bob, ['repository:team-b/m7:pull,push']);
      await expectUploadSession(await mount('team-b/m7', sha256(secretBlob), undefined, bearer(token)), 'team-b/m7');
      expect(await headBlob('team-b/m7', sha256(secretBlob))).toBe(404);

      await expectMounted(await mount('team-b/m8', sha256(teamBlob), undefined, basicOf(bob)), 'team-b/m8', sha256(teamBlob));
      // alice may pull secret/*: the same blob mounts for her.
      await expectMounted(await mount('team-a/m9', sha256(secretBlob), undefined, basicOf(alice)), 'team-a/m9', sha256(secretBlob));
    });
  });

  describe('admin routes', () => {
    const adminRoutes: [string, string][] = [
      ['GET', '/api/v1/users'],
      ['GET', '/api/v1/audit'],
      ['GET', '/_stats'],
      ['POST', '/_gc?dryRun=true'],
    ];

    it.each(adminRoutes)('refuses %s %s to a non-admin with Basic credentials: 403 DENIED', async (method, path) => {
      await expectDenied(await adminRequest(registry, method, path, undefined, alice));
    });

    it.each(adminRoutes)('refuses %s %s to a non-admin token with 401 insufficient_scope for registry:admin:*', async (method, path) => {
      const token = await tokenFor(registry, alice, ['registry:admin:*']);
      expect(accessOf(token)).toEqual([]);
      await expectChallenge(await fetch(url(path), { method, headers: bearer(token) }), registry, { scope: 'registry:admin:*', error: 'insufficient_scope' });
    });

    it('answers anonymous callers with 401 and a challenge for registry:admin:*', async () => {
      await expectChallenge(await fetch(url('/api/v1/users')), registry, { scope: 'registry:admin:*' });
    });

    it('refuses an admin token that was not issued registry:admin:*', async () => {
      const token = await tokenFor(registry, ADMIN, ['repository:team-a/app:pull']);
      await expectChallenge(await fetch(url('/api/v1/users'), { headers: bearer(token) }), registry, { scope: 'registry:admin:*', error: 'insufficient_scope' });
    });

    it('lets an admin token for registry:admin:* call the admin API, /_stats and /_gc', async () => {
      const token = await tokenFor(registry, ADMIN, ['registry:admin:*']);
      const users = await fetch(url('/api/v1/users'), { headers: bearer(token) });
      expect(users.status).toBe(200);
      expect(((await users.json()) as { users: { name: string }[] }).users.map((u) => u.name)).toEqual(expect.arrayContaining(['admin', 'alice', 'bob']));
      const stats = await fetch(url('/_stats'), { headers: bearer(token) });
      expect(stats.status).toBe(200);
      await stats.arrayBuffer();
      const gc = await fetch(url('/_gc?dryRun=true'), { method: 'POST', headers: bearer(token) });
      expect(gc.status).toBe(200);
      await gc.arrayBuffer();
    });

    it('stops honouring the admin token of an admin who was demoted', async () => {
      const root = await createUser(registry, 'root2', 'root2-password', 'admin');
      const token = await tokenFor(registry, root, ['registry:admin:*']);
      expect((await fetch(url('/api/v1/users'), { headers: bearer(token) })).status).toBe(200);
      await adminCall(registry, 'PATCH', '/api/v1/users/root2', { role: 'user' });
      await expectChallenge(await fetch(url('/api/v1/users'), { headers: bearer(token) }), registry, { scope: 'registry:admin:*', error: 'insufficient_scope' });
      await expectDenied(await adminRequest(registry, 'GET', '/api/v1/users', undefined, root));
    });
  });

  describe('Basic credentials refused by policy', () => {
    it('lets a user without any policy log in at /v2/ but refuses every repository with 403 DENIED', async () => {
      const base = await fetch(url('/v2/'), { headers: basicOf(carol) });
      expect(base.status).toBe(200);
      await base.arrayBuffer();
      await expectDenied(await fetch(url('/v2/team-a/app/manifests/v1'), { headers: basicOf(carol) }));
      await expectDenied(await fetch(url(`/v2/team-a/app/blobs/${sha256(teamBlob)}`), { headers: basicOf(carol) }));
    });

    it('refuses a pull-only user pushes and deletes with 403 DENIED, and lets it pull', async () => {
      const pull = await fetch(url(`/v2/team-a/app/manifests/${appDigest}`), { method: 'HEAD', headers: basicOf(bob) });
      expect(pull.status).toBe(200);
      await expectDenied(await fetch(url('/v2/team-a/app/blobs/uploads/'), { method: 'POST', headers: basicOf(bob) }));
      await expectDenied(await fetch(url(`/v2/team-a/app/manifests/${appDigest}`), { method: 'DELETE', headers: basicOf(bob) }));
      const after = await fetch(url(`/v2/team-a/app/manifests/${appDigest}`), { method: 'HEAD', headers: basicOf(ADMIN) });
      expect(after.status).toBe(200);
    });
  });

  describe('catalog', () => {
    const catalogWith = async (headers: Record<string, string>): Promise<string[]> => {
      const res = await fetch(url('/v2/_catalog'), { headers });
      expect(res.status).toBe(200);
      return ((await res.json()) as { repositories: string[] }).repositories;
    };

    it('answers anonymous callers with 401 and a challenge for registry:catalog:*', async () => {
      await expectChallenge(await fetch(url('/v2/_catalog')), registry, { scope: 'registry:catalog:*' });
    });

    it('refuses a token without registry:catalog:* with 401 insufficient_scope', async () => {
      const token = await tokenFor(registry, alice, ['repository:team-a/app:pull']);
      await expectChallenge(await fetch(url('/v2/_catalog'), { headers: bearer(token) }), registry, { scope: 'registry:catalog:*', error: 'insufficient_scope' });
    });

    it('lists only the repositories the caller may pull, with a token and with Basic credentials', async () => {
      const all = await catalogWith(basicOf(ADMIN));
      expect(all).toEqual(expect.arrayContaining(['team-a/app', 'team-b/tool', 'secret/vault']));

      const token = await tokenFor(registry, alice, ['registry:catalog:*']);
      expect(await catalogWith(bearer(token))).toEqual(all.filter((r) => r.startsWith('team-a/') || r.startsWith('secret/')));
      expect(await catalogWith(basicOf(alice))).toEqual(all.filter((r) => r.startsWith('team-a/') || r.startsWith('secret/')));
      expect(await catalogWith(basicOf(bob))).toEqual(all.filter((r) => r.startsWith('team-a/') || r.startsWith('team-b/')));
      expect(await catalogWith(basicOf(carol))).toEqual([]);
      expect(await catalogWith(bearer(await tokenFor(registry, undefined, ['registry:catalog:*'])))).toEqual([]);
    });
  });

  describe('access tokens', () => {
    it('creates an rat_ secret that works as the password at /token (GET and POST) and with Basic on /v2/', async () => {
      const created = await createAccessToken(registry, 'alice', { name: 'laptop' });
      expect(created.secret).toMatch(/^rat_[A-Za-z0-9_-]{40,}$/);
      const login = { user: 'alice', password: created.secret };

      const got = await getToken(registry, login, ['repository:team-a/app:pull']);
      expect(decodeJwt(got.token).payload).toMatchObject({ sub: 'alice', access: [{ type: 'repository', name: 'team-a/app', actions: ['pull'] }] });
      const posted = await postToken(registry, { grant_type: 'password', username: 'alice', password: created.secret, scope: 'repository:team-a/app:pull' });
      expect(posted.status).toBe(200);
      const tags = await fetch(url('/v2/team-a/app/tags/list'), { headers: basicOf(login) });
      expect(tags.status).toBe(200);
      await tags.arrayBuffer();
      // The secret belongs to alice: another user name with it is a failed login.
      expect((await requestToken(registry, { user: 'bob', password: created.secret }, [])).status).toBe(401);

      const listed = await adminCall<{ tokens: { id: string; lastUsedAt: string | null }[] }>(registry, 'GET', '/api/v1/users/alice/tokens');
      expect(JSON.stringify(listed)).not.toContain(created.secret);
    });

    it('narrows what the user may do to the token repositories and actions', async () => {
      await adminClient.pushBlob('team-a/ci-2', deterministicBytes(10, 'ci-2'));
      const { secret } = await createAccessToken(registry, 'alice', { name: 'ci', repositories: 'team-a/ci-*', actions: ['pull'] });
      const login = { user: 'alice', password: secret };
      const token = await tokenFor(registry, login, ['repository:team-a/ci-1:pull,push', 'repository:team-a/app:pull', 'repository:secret/vault:pull']);
      expect(accessOf(token)).toEqual([{ type: 'repository', name: 'team-a/ci-1', actions: ['pull'] }]);

      const inside = await fetch(url('/v2/team-a/ci-1/tags/list'), { headers: basicOf(login) });
      expect(inside.status).toBe(404); // allowed; nothing there yet
      expect(await errorCodes(inside)).toEqual(['NAME_UNKNOWN']);
      await expectDenied(await fetch(url('/v2/team-a/ci-1/blobs/uploads/'), { method: 'POST', headers: basicOf(login) }));
      await expectDenied(await fetch(url('/v2/team-a/app/tags/list'), { headers: basicOf(login) }));
      const catalog = await fetch(url('/v2/_catalog'), { headers: basicOf(login) });
      expect(((await catalog.json()) as { repositories: string[] }).repositories).toEqual(['team-a/ci-2']);
      // With the password, alice still reaches team-a/app.
      expect((await fetch(url('/v2/team-a/app/tags/list'), { headers: basicOf(alice) })).status).toBe(200);
    });

    it('never gives a limited access token of an admin the admin API', async () => {
      const { secret } = await createAccessToken(registry, 'admin', { name: 'limited', repositories: 'team-a/*' });
      const login = { user: 'admin', password: secret };
      expect(accessOf(await tokenFor(registry, login, ['registry:admin:*', 'repository:team-b/tool:pull']))).toEqual([]);
      await expectDenied(await adminRequest(registry, 'GET', '/api/v1/users', undefined, login));
    });

    it('stops working once past its expiresAt', async () => {
      const { secret } = await createAccessToken(registry, 'alice', { name: 'short', expiresAt: new Date(Date.now() + 1500).toISOString() });
      const login = { user: 'alice', password: secret };
      expect((await requestToken(registry, login, [])).status).toBe(200);
      await sleep(1700);
      const res = await requestToken(registry, login, []);
      expect(res.status).toBe(401);
      expect(await errorCodes(res)).toEqual(['UNAUTHORIZED']);
      await expectChallenge(await fetch(url('/v2/team-a/app/tags/list'), { headers: basicOf(login) }), registry, {});
    });

    it('refuses an expiresAt in the past with 400', async () => {
      const res = await adminRequest(registry, 'POST', '/api/v1/users/alice/tokens', { name: 'past', expiresAt: new Date(Date.now() - 1000).toISOString() });
      expect(res.status).toBe(400);
      expect(await errorCodes(res)).toEqual(['INVALID_REQUEST']);
    });

    it('stops working when revoked, and its refresh tokens die with it', async () => {
      const { id, secret } = await createAccessToken(registry, 'alice', { name: 'revoked' });
      const login = { user: 'alice', password: secret };
      const { refresh_token } = await getToken(registry, login, [], { offline_token: 'true' });
      const refreshed = await postToken(registry, { grant_type: 'refresh_token', refresh_token: refresh_token!, scope: 'repository:team-a/app:pull' });
      expect(refreshed.status).toBe(200);
      // A refresh token from the password is not bound to the access token and survives.
      const { refresh_token: passwordRefresh } = await getToken(registry, alice, [], { offline_token: 'true' });

      const revoke = await adminRequest(registry, 'DELETE', `/api/v1/users/alice/tokens/${id}`);
      expect(revoke.status).toBe(204);

      expect((await requestToken(registry, login, [])).status).toBe(401);
      expect((await postToken(registry, { grant_type: 'password', username: 'alice', password: secret })).status).toBe(401);
      await expectChallenge(await fetch(url('/v2/team-a/app/tags/list'), { headers: basicOf(login) }), registry, {});
      const dead = await postToken(registry, { grant_type: 'refresh_token', refresh_token: refresh_token! });
      expect(dead.status).toBe(401);
      expect(await errorCodes(dead)).toEqual(['UNAUTHORIZED']);
      expect((await postToken(registry, { grant_type: 'refresh_token', refresh_token: passwordRefresh! })).status).toBe(200);
      const { tokens } = await adminCall<{ tokens: { id: string; revokedAt: string | null }[] }>(registry, 'GET', '/api/v1/users/alice/tokens');
      expect(tokens.find((t) => t.id === id)?.revokedAt).toEqual(expect.any(String));
    });

    it('takes the catalog away from a token issued with a since revoked access token', async () => {
      const { id, secret } = await createAccessToken(registry, 'alice', { name: 'catalog' });
      const token = await tokenFor(registry, { user: 'alice', password: secret }, ['registry:catalog:*']);
      const before = await fetch(url('/v2/_catalog'), { headers: bearer(token) });
      expect(((await before.json()) as { repositories: string[] }).repositories).toContain('team-a/app');
      await adminCall(registry, 'DELETE', `/api/v1/users/alice/tokens/${id}`);
      const after = await fetch(url('/v2/_catalog'), { headers: bearer(token) });
      expect(after.status).toBe(200);
      expect(((await after.json()) as { repositories: string[] }).repositories).toEqual([]);
    });
  });

  describe('audit log', () => {
    it('records login successes and failures, with how the user logged in, and denied access', async () => {
      const since = new Date(Date.now() - 1000).toISOString();
      const gina = await createUser(registry, 'gina');
      expect((await requestToken(registry, { user: 'gina', password: 'wrong-password' }, [])).status).toBe(401);
      expect((await requestToken(registry, gina, ['repository:team-a/app:pull'])).status).toBe(200);
      expect((await postToken(registry, { grant_type: 'password', username: 'gina', password: 'wrong-again' })).status).toBe(401);
      await expectDenied(await fetch(url('/v2/team-a/app/tags/list'), { headers: basicOf(gina) }));
      const token = await tokenFor(registry, gina, []);
      expect((await fetch(url('/v2/team-b/tool/tags/list'), { headers: bearer(token) })).status).toBe(401);

      const events = await auditEvents(registry, { actor: 'gina', since });
      const logins = events.filter((e) => e.type === 'login');
      expect(logins).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ outcome: 'failure', actor: 'gina', detail: expect.objectContaining({ via: 'token' }) }),
          expect.objectContaining({ outcome: 'failure', actor: 'gina', detail: expect.objectContaining({ via: 'oauth' }) }),
          expect.objectContaining({ outcome: 'success', actor: 'gina', detail: expect.objectContaining({ via: 'token', scopes: [] }) }),
        ]),
      );
      expect(logins.every((e) => e.clientIp !== undefined && e.clientIp !== null)).toBe(true);
      const denied = events.filter((e) => e.type === 'access.denied');
      expect(denied).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ outcome: 'denied', repository: 'team-a/app', action: 'pull' }),
          expect.objectContaining({ outcome: 'denied', repository: 'team-b/tool', action: 'pull' }),
        ]),
      );
    });

    it('records a bad token as access.denied', async () => {
      const since = new Date(Date.now() - 1000).toISOString();
      expect((await fetch(url('/v2/team-a/app/tags/list'), { headers: bearer('garbage.token.value') })).status).toBe(401);
      const events = await auditEvents(registry, { type: 'access.denied', since });
      expect(events).toEqual(expect.arrayContaining([expect.objectContaining({ outcome: 'denied', detail: expect.objectContaining({ reason: 'invalid token' }) })]));
      expect(JSON.stringify(events)).not.toContain('garbage.token.value');
    });
  });
});

/** A request from another client address (127.0.0.2; loopback answers the whole 127/8 on Linux). */
function fromOtherAddress(registry: RunningRegistry, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: registry.port, path, headers, localAddress: '127.0.0.2', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('login throttling (e2e)', () => {
  let registry: RunningRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ auth: true, env: { REGISTRY_AUTH_MAX_FAILURES: '3', REGISTRY_AUTH_LOCKOUT: '30', REGISTRY_GC_INTERVAL: '0' } });
    for (const name of ['tina', 'uma', 'vic', 'walt']) await createUser(registry, name);
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('answers the 4th attempt after 3 failures with 429 TOOMANYREQUESTS and Retry-After, even with the right password', async () => {
    for (let i = 0; i < 3; i++) expect((await requestToken(registry, { user: 'tina', password: `wrong-${i}` }, [])).status).toBe(401);
    const locked = await requestToken(registry, { user: 'tina', password: 'tina-password' }, []);
    expect(locked.status).toBe(429);
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(30);
    expect(await errorCodes(locked)).toEqual(['TOOMANYREQUESTS']);
  });

  it('locks the user out of every way in: POST /token and Basic on /v2/', async () => {
    const post = await postToken(registry, { grant_type: 'password', username: 'tina', password: 'tina-password' });
    expect(post.status).toBe(429);
    expect(post.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await errorCodes(post)).toEqual(['TOOMANYREQUESTS']);
    const direct = await fetch(`${registry.url}/v2/`, { headers: { authorization: basic('tina', 'tina-password') } });
    expect(direct.status).toBe(429);
    expect(await errorCodes(direct)).toEqual(['TOOMANYREQUESTS']);
  });

  it('leaves another user from the same address, and the same user from another address, unaffected', async () => {
    expect((await requestToken(registry, { user: 'uma', password: 'uma-password' }, [])).status).toBe(200);
    expect(await fromOtherAddress(registry, `/token?service=${TEST_SERVICE}`, { authorization: basic('tina', 'tina-password') })).toBe(200);
  });

  it('counts failures in a row: a success in between starts the count over', async () => {
    for (let i = 0; i < 2; i++) expect((await requestToken(registry, { user: 'vic', password: `wrong-${i}` }, [])).status).toBe(401);
    expect((await requestToken(registry, { user: 'vic', password: 'vic-password' }, [])).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await requestToken(registry, { user: 'vic', password: `wrong-again-${i}` }, [])).status).toBe(401);
    expect((await requestToken(registry, { user: 'vic', password: 'vic-password' }, [])).status).toBe(200);
  });

  it('counts failed Basic logins on /v2/ and failed POST logins too', async () => {
    expect((await fetch(`${registry.url}/v2/`, { headers: { authorization: basic('walt', 'wrong-1') } })).status).toBe(401);
    expect((await postToken(registry, { grant_type: 'password', username: 'walt', password: 'wrong-2' })).status).toBe(401);
    expect((await requestToken(registry, { user: 'walt', password: 'wrong-3' }, [])).status).toBe(401);
    expect((await requestToken(registry, { user: 'walt', password: 'walt-password' }, [])).status).toBe(429);
  });

  it('audits a throttled attempt as denied', async () => {
    const events = await auditEvents(registry, { actor: 'tina', type: 'login' });
    expect(events).toEqual(expect.arrayContaining([expect.objectContaining({ outcome: 'denied', detail: expect.objectContaining({ reason: 'throttled' }) })]));
    expect(events.filter((e) => e.outcome === 'failure')).toHaveLength(3);
  });
});

describe('address throttling across user names (e2e)', () => {
  let registry: RunningRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ auth: true, env: { REGISTRY_AUTH_MAX_FAILURES: '2', REGISTRY_AUTH_LOCKOUT: '30', REGISTRY_GC_INTERVAL: '0' } });
    await createUser(registry, 'yuri');
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('throttles an address spraying one password over many user names (10x the per-user limit), leaving other addresses alone', async () => {
    // One failure per name: the per-user limit (2) never trips; the address limit (20) does.
    for (let i = 0; i < 20; i++) expect((await requestToken(registry, { user: `spray-${i}`, password: 'Summer2026!' }, [])).status).toBe(401);
    const locked = await requestToken(registry, { user: 'yuri', password: 'yuri-password' }, []);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await fromOtherAddress(registry, `/token?service=${TEST_SERVICE}`, { authorization: basic('yuri', 'yuri-password') })).toBe(200);
  });
});

describe('login lockout expiry (e2e)', () => {
  let registry: RunningRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ auth: true, env: { REGISTRY_AUTH_MAX_FAILURES: '2', REGISTRY_AUTH_LOCKOUT: '1', REGISTRY_GC_INTERVAL: '0' } });
    await createUser(registry, 'xena');
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('lets the right password in again once the lockout has passed', async () => {
    for (let i = 0; i < 2; i++) expect((await requestToken(registry, { user: 'xena', password: `wrong-${i}` }, [])).status).toBe(401);
    const locked = await requestToken(registry, { user: 'xena', password: 'xena-password' }, []);
    expect(locked.status).toBe(429);
    expect(locked.headers.get('retry-after')).toBe('1');
    await sleep(1200);
    expect((await requestToken(registry, { user: 'xena', password: 'xena-password' }, [])).status).toBe(200);
  });
});

const TEST_PASSWORDS = {
  admin: TEST_ADMIN_PASSWORD,
  user: 'hank-Secret-Pa55word',
  wrong: 'hank-Wrong-Pa55word',
  changed: 'hank-Changed-Pa55word',
};

describe('secrets stay out of the audit log and the server log (e2e)', () => {
  let registry: RunningRegistry;
  /** The server log, at info as in production: exactly what would reach stdout. */
  const serverLog = new LogCapture();
  /** Anything else written to stdout or stderr meanwhile (a stray console.log). */
  const output: string[] = [];
  const spies: jest.SpyInstance[] = [];

  beforeAll(async () => {
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      spies.push(
        jest.spyOn(stream, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
          output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
          return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
        }) as typeof stream.write),
      );
    }
    registry = await startRegistry({ auth: true, logDestination: serverLog, env: { REGISTRY_LOG_LEVEL: 'info', REGISTRY_LOG_REQUESTS: 'true', REGISTRY_GC_INTERVAL: '0' } });
  });
  afterAll(async () => {
    await registry.stop();
    for (const spy of spies) spy.mockRestore();
  });

  it('never writes a password, token secret, refresh token, registry token or Authorization header to either', async () => {
    const secrets: string[] = [TEST_PASSWORDS.admin, TEST_PASSWORDS.user, TEST_PASSWORDS.wrong, TEST_PASSWORDS.changed];
    const hank = await createUser(registry, 'hank', TEST_PASSWORDS.user);
    const access = await createAccessToken(registry, 'hank', { name: 'ci' });
    secrets.push(access.secret);

    const got = await getToken(registry, hank, ['repository:hank/app:pull,push'], { offline_token: 'true' });
    secrets.push(got.token, got.refresh_token!);
    const viaSecret = await getToken(registry, { user: 'hank', password: access.secret }, ['repository:hank/app:pull'], { offline_token: 'true' });
    secrets.push(viaSecret.token, viaSecret.refresh_token!);
    expect((await requestToken(registry, { user: 'hank', password: TEST_PASSWORDS.wrong }, [])).status).toBe(401);
    expect((await postToken(registry, { grant_type: 'password', username: 'hank', password: TEST_PASSWORDS.wrong })).status).toBe(401);
    expect((await postToken(registry, { grant_type: 'password', username: 'hank', password: TEST_PASSWORDS.user, access_type: 'offline' })).status).toBe(200);
    expect((await postToken(registry, { grant_type: 'refresh_token', refresh_token: got.refresh_token!, scope: 'repository:hank/app:pull' })).status).toBe(200);
    expect((await postToken(registry, { grant_type: 'refresh_token', refresh_token: 'rrt_made-up-refresh-token-value' })).status).toBe(401);
    secrets.push('rrt_made-up-refresh-token-value');
    expect((await fetch(`${registry.url}/v2/`, { headers: { authorization: basic('hank', TEST_PASSWORDS.wrong) } })).status).toBe(401);
    expect((await fetch(`${registry.url}/v2/hank/app/tags/list`, { headers: { authorization: basic('hank', access.secret) } })).status).toBe(404);
    expect((await fetch(`${registry.url}/v2/hank/app/tags/list`, { headers: bearer(got.token) })).status).toBe(404);
    const tampered = withPayload(got.token, { ...decodeJwt(got.token).payload, sub: 'admin' });
    secrets.push(tampered);
    expect((await fetch(`${registry.url}/v2/hank/app/tags/list`, { headers: bearer(tampered) })).status).toBe(401);
    await adminCall(registry, 'PATCH', '/api/v1/users/hank', { password: TEST_PASSWORDS.changed });
    await adminCall(registry, 'DELETE', `/api/v1/users/hank/tokens/${access.id}`);
    // The Basic header values themselves, and the bare base64 of each credential pair.
    for (const password of [TEST_PASSWORDS.user, TEST_PASSWORDS.wrong, access.secret, TEST_PASSWORDS.admin]) {
      secrets.push(Buffer.from(`hank:${password}`).toString('base64'), Buffer.from(`admin:${password}`).toString('base64'));
    }

    const events = await auditEvents(registry, { limit: '1000' });
    expect(events.filter((e) => e.type === 'login').length).toBeGreaterThanOrEqual(8);
    const auditText = JSON.stringify(events);
    const logText = serverLog.text + output.join('');
    // The request log did run (a line for each of the 7 token requests): the check below looked at real output.
    expect(serverLog.requests.filter((r) => r['path'] === '/token').length).toBeGreaterThanOrEqual(7);
    for (const secret of secrets) {
      expect(auditText).not.toContain(secret);
      expect(logText).not.toContain(secret);
    }
    for (const text of [auditText, logText]) {
      expect(text).not.toMatch(/authorization/i);
      expect(text).not.toMatch(/\bBasic [A-Za-z0-9+/=]{8,}/);
      expect(text).not.toMatch(/Bearer ey/);
      expect(text).not.toMatch(/rat_[A-Za-z0-9_-]{20,}|rrt_[A-Za-z0-9_-]{20,}/);
    }
  });
});
