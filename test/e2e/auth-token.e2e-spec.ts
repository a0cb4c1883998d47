import { createPublicKey, verify } from 'node:crypto';
import { deterministicBytes, errorCodes, OciClient, parseBearerChallenge, parseErrorBody, sha256 } from '../utils/oci-client';
import { RunningRegistry, startRegistry, TEST_SERVICE } from '../utils/start-registry';
import {
  ADMIN,
  adminCall,
  basic,
  createUser,
  decodeJwt,
  deleteAllPolicies,
  createPolicy,
  getToken,
  jwks,
  type Login,
  postToken,
  requestToken,
  TEST_ISSUER,
  type TokenAnswer,
  tokenFor,
} from '../utils/tokens';

jest.setTimeout(30_000);

/** Docker token authentication as clients drive it: challenges, GET and POST /token, the JWT, refresh tokens, Basic on /v2/. */

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

interface Access {
  type: string;
  name: string;
  actions: string[];
}
const accessOf = (token: string): Access[] => decodeJwt(token).payload['access'] as Access[];

describe('token authentication with the seed policies (e2e)', () => {
  let registry: RunningRegistry;
  let dev: Login;

  beforeAll(async () => {
    registry = await startRegistry({ auth: true, env: { REGISTRY_GC_INTERVAL: '0' } });
    dev = await createUser(registry, 'dev');
  });
  afterAll(async () => {
    await registry.stop();
  });

  describe('challenges', () => {
    it('answers GET /v2/ without credentials with 401, UNAUTHORIZED and a Bearer challenge without scope', async () => {
      const res = await fetch(`${registry.url}/v2/`);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="http://127.0.0.1:${registry.port}/token",service="${TEST_SERVICE}"`);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
      expect(await errorCodes(res)).toEqual(['UNAUTHORIZED']);
    });

    it('answers HEAD /v2/ without credentials with 401 and the same challenge', async () => {
      const res = await fetch(`${registry.url}/v2/`, { method: 'HEAD' });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="http://127.0.0.1:${registry.port}/token",service="${TEST_SERVICE}"`);
    });

    it('names the pull scope of the repository in the challenge of a read', async () => {
      const res = await fetch(`${registry.url}/v2/chal/lenge/manifests/latest`);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(
        `Bearer realm="http://127.0.0.1:${registry.port}/token",service="${TEST_SERVICE}",scope="repository:chal/lenge:pull"`,
      );
      expect(await errorCodes(res)).toEqual(['UNAUTHORIZED']);
    });

    it('names pull,push in the challenge of an upload (POST) and delete in the challenge of a DELETE', async () => {
      const post = await fetch(`${registry.url}/v2/chal/lenge/blobs/uploads/`, { method: 'POST' });
      expect(post.status).toBe(401);
      expect(parseBearerChallenge(post.headers.get('www-authenticate'))?.['scope']).toBe('repository:chal/lenge:pull,push');
      await post.arrayBuffer();
      const del = await fetch(`${registry.url}/v2/chal/lenge/manifests/${sha256('x')}`, { method: 'DELETE' });
      expect(del.status).toBe(401);
      expect(parseBearerChallenge(del.headers.get('www-authenticate'))?.['scope']).toBe('repository:chal/lenge:delete');
      await del.arrayBuffer();
    });

    it('uses the realm and service of the challenge: a token fetched from it opens the route', async () => {
      const first = await fetch(`${registry.url}/v2/chal/lenge/tags/list`);
      const challenge = parseBearerChallenge(first.headers.get('www-authenticate'))!;
      await first.arrayBuffer();
      const url = new URL(challenge['realm']!);
      url.searchParams.set('service', challenge['service']!);
      url.searchParams.set('scope', challenge['scope']!);
      const tokenRes = await fetch(url, { headers: { authorization: basic(dev.user, dev.password) } });
      expect(tokenRes.status).toBe(200);
      const { token } = (await tokenRes.json()) as TokenAnswer;
      const retry = await fetch(`${registry.url}/v2/chal/lenge/tags/list`, { headers: { authorization: `Bearer ${token}` } });
      expect(retry.status).toBe(404); // through the gate: the repository just does not exist
      expect(await errorCodes(retry)).toEqual(['NAME_UNKNOWN']);
    });
  });

  describe('GET /token', () => {
    it('answers Basic credentials with 200 JSON: equal token and access_token, expires_in 300, issued_at in RFC 3339, no-store', async () => {
      const res = await requestToken(registry, dev, ['repository:dev/app:pull']);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const body = (await res.json()) as TokenAnswer;
      expect(typeof body.token).toBe('string');
      expect(body.access_token).toBe(body.token);
      expect(body.expires_in).toBe(300);
      expect(body.issued_at).toMatch(RFC3339);
      expect(Math.abs(Date.parse(body.issued_at) - Date.now())).toBeLessThan(10_000);
      expect(body.refresh_token).toBeUndefined();
      expect(body.scope).toBeUndefined();
    });

    it('signs an ES256 JWT whose kid is the JWKS key and whose signature that JWK verifies', async () => {
      const { token } = await getToken(registry, dev, ['repository:dev/app:pull']);
      const { header, signingInput, signature } = decodeJwt(token);
      const { keys } = await jwks(registry);
      expect(keys).toHaveLength(1);
      const jwk = keys[0]!;
      expect(header).toEqual({ alg: 'ES256', typ: 'JWT', kid: jwk.kid });
      expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(jwk).not.toHaveProperty('d'); // the public half only
      const key = createPublicKey({ key: jwk, format: 'jwk' });
      expect(verify('sha256', Buffer.from(signingInput), { key, dsaEncoding: 'ieee-p1363' }, signature)).toBe(true);
      expect(verify('sha256', Buffer.from(`${signingInput}x`), { key, dsaEncoding: 'ieee-p1363' }, signature)).toBe(false);
    });

    it('puts iss, sub, aud (the service), exp = iat + 300, nbf, iat, a unique jti and the granted access in the claims', async () => {
      const before = nowSeconds();
      const first = await getToken(registry, dev, ['repository:dev/app:pull,push']);
      const second = await getToken(registry, dev, ['repository:dev/app:pull,push']);
      const a = decodeJwt(first.token).payload;
      const b = decodeJwt(second.token).payload;
      expect(a).toMatchObject({ iss: TEST_ISSUER, sub: 'dev', aud: TEST_SERVICE });
      expect(a['iat']).toBeGreaterThanOrEqual(before);
      expect(a['iat']).toBeLessThanOrEqual(nowSeconds());
      expect((a['exp'] as number) - (a['iat'] as number)).toBe(300);
      expect(a['nbf']).toBeLessThanOrEqual(a['iat'] as number);
      expect(Date.parse(first.issued_at) / 1000).toBe(a['iat']);
      expect(typeof a['jti']).toBe('string');
      expect(a['jti']).not.toBe(b['jti']);
      expect(a['access']).toEqual([{ type: 'repository', name: 'dev/app', actions: ['pull', 'push'] }]);
    });

    it('grants the intersection of requested and allowed actions: unknown actions and registry:admin:* of a non-admin are dropped', async () => {
      const { token } = await getToken(registry, dev, ['repository:dev/app:pull,frobnicate', 'registry:admin:*']);
      expect(accessOf(token)).toEqual([{ type: 'repository', name: 'dev/app', actions: ['pull'] }]);
    });

    it('takes several scope parameters, one resource each, and merges repeats of one resource', async () => {
      const { token } = await getToken(registry, dev, ['repository:one/a:pull', 'repository:two/b:pull,push', 'repository:one/a:delete', 'registry:catalog:*']);
      expect(accessOf(token)).toEqual([
        { type: 'repository', name: 'one/a', actions: ['pull', 'delete'] },
        { type: 'repository', name: 'two/b', actions: ['pull', 'push'] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
      ]);
    });

    it('grants every one of 25 scope parameters (more than the query parser puts in an array)', async () => {
      const scopes = Array.from({ length: 25 }, (_, i) => `repository:many/r${i}:pull`);
      const { token } = await getToken(registry, dev, scopes);
      expect(accessOf(token)).toEqual(scopes.map((_, i) => ({ type: 'repository', name: `many/r${i}`, actions: ['pull'] })));
    });

    it('answers repository:x:* with every action the policies allow', async () => {
      const { token } = await getToken(registry, dev, ['repository:star/x:*']);
      expect(accessOf(token)).toEqual([{ type: 'repository', name: 'star/x', actions: ['pull', 'push', 'delete'] }]);
    });

    it('grants nothing, without an error, for a scope whose name is no repository name here (a host:port prefix)', async () => {
      const { token } = await getToken(registry, dev, [`repository:127.0.0.1:${registry.port}/dev/app:pull`]);
      // Not a valid repository name on this registry: nothing to grant, and no error.
      expect(accessOf(token)).toEqual([]);
    });

    it('ignores malformed scopes and answers 200 with what the rest grants', async () => {
      const { token } = await getToken(registry, dev, ['nonsense', 'repository::pull', 'repository:dev/app:pull']);
      expect(accessOf(token)).toEqual([{ type: 'repository', name: 'dev/app', actions: ['pull'] }]);
    });

    it('issues an anonymous token (sub "", empty access) without credentials: the seed policies grant anonymous nothing', async () => {
      const body = await getToken(registry, undefined, ['repository:dev/app:pull']);
      const { payload } = decodeJwt(body.token);
      expect(payload['sub']).toBe('');
      expect(payload['access']).toEqual([]);
      expect(body.refresh_token).toBeUndefined();
    });

    it('gives an anonymous token nothing on a repository: 401 insufficient_scope', async () => {
      const token = await tokenFor(registry, undefined, ['repository:dev/app:pull']);
      const res = await fetch(`${registry.url}/v2/dev/app/tags/list`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      expect(parseBearerChallenge(res.headers.get('www-authenticate'))).toMatchObject({ scope: 'repository:dev/app:pull', error: 'insufficient_scope' });
    });

    it('returns an rrt_ refresh token with offline_token=true and credentials, and none without credentials', async () => {
      const withCredentials = await getToken(registry, dev, [], { offline_token: 'true', client_id: 'docker', account: 'dev' });
      expect(withCredentials.refresh_token).toMatch(/^rrt_[A-Za-z0-9_-]{40,}$/);
      const anonymous = await getToken(registry, undefined, [], { offline_token: 'true' });
      expect(anonymous.refresh_token).toBeUndefined();
      const notAsked = await getToken(registry, dev, []);
      expect(notAsked.refresh_token).toBeUndefined();
    });

    it('hands out a different refresh token each time', async () => {
      const a = await getToken(registry, dev, [], { offline_token: 'true' });
      const b = await getToken(registry, dev, [], { offline_token: 'true' });
      expect(a.refresh_token).not.toBe(b.refresh_token);
    });

    it('refuses an unknown service with 400 JSON', async () => {
      const res = await requestToken(registry, dev, ['repository:dev/app:pull'], { service: 'someone-else' });
      expect(res.status).toBe(400);
      expect(await errorCodes(res)).toEqual(['INVALID_REQUEST']);
    });

    it('refuses a wrong password with 401 JSON and issues no token', async () => {
      const res = await requestToken(registry, { user: 'dev', password: 'not-the-password' }, ['repository:dev/app:pull']);
      expect(res.status).toBe(401);
      const text = await res.text();
      expect(parseErrorBody(text).map((e) => e.code)).toEqual(['UNAUTHORIZED']);
      expect(text).not.toContain('token"');
    });

    it('refuses a Bearer header at the token endpoint with 401', async () => {
      const token = await tokenFor(registry, dev);
      const res = await fetch(`${registry.url}/token?service=${TEST_SERVICE}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
      expect(await errorCodes(res)).toEqual(['UNAUTHORIZED']);
    });
  });

  describe('POST /token (OAuth2)', () => {
    it('answers grant_type=password with access_token, token, the granted scope, expires_in and issued_at', async () => {
      const res = await postToken(registry, {
        grant_type: 'password',
        username: 'dev',
        password: dev.password,
        client_id: 'containerd-client',
        scope: 'repository:dev/app:pull,push repository:other/b:pull registry:admin:*',
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await res.json()) as TokenAnswer;
      expect(body.access_token).toBe(body.token);
      expect(body.scope).toBe('repository:dev/app:pull,push repository:other/b:pull');
      expect(body.expires_in).toBe(300);
      expect(body.issued_at).toMatch(RFC3339);
      expect(body.refresh_token).toBeUndefined();
      expect(accessOf(body.access_token)).toEqual([
        { type: 'repository', name: 'dev/app', actions: ['pull', 'push'] },
        { type: 'repository', name: 'other/b', actions: ['pull'] },
      ]);
      expect(decodeJwt(body.access_token).payload['sub']).toBe('dev');
    });

    it('adds a refresh token for access_type=offline', async () => {
      const res = await postToken(registry, { grant_type: 'password', username: 'dev', password: dev.password, access_type: 'offline' });
      expect(res.status).toBe(200);
      expect(((await res.json()) as TokenAnswer).refresh_token).toMatch(/^rrt_/);
    });

    it('answers grant_type=refresh_token with a new token for the requested scope, bound to the same user', async () => {
      const { refresh_token } = await getToken(registry, dev, [], { offline_token: 'true', client_id: 'docker' });
      const res = await postToken(registry, { grant_type: 'refresh_token', refresh_token: refresh_token!, client_id: 'docker', scope: 'repository:dev/refreshed:pull,push' });
      expect(res.status).toBe(200);
      const body = (await res.json()) as TokenAnswer;
      expect(body.scope).toBe('repository:dev/refreshed:pull,push');
      expect(body.refresh_token).toBe(refresh_token);
      const { payload } = decodeJwt(body.access_token);
      expect(payload['sub']).toBe('dev');
      expect(payload['access']).toEqual([{ type: 'repository', name: 'dev/refreshed', actions: ['pull', 'push'] }]);
    });

    it('answers an unsupported grant_type with 400 JSON, not HTML', async () => {
      const res = await postToken(registry, { grant_type: 'client_credentials', client_id: 'x' });
      expect(res.status).toBe(400);
      expect(await errorCodes(res)).toEqual(['INVALID_REQUEST']);
    });

    it('answers a missing grant_type, username or refresh_token with 400 JSON', async () => {
      for (const form of [{}, { grant_type: 'password', password: 'x' }, { grant_type: 'refresh_token' }]) {
        const res = await postToken(registry, form);
        expect(res.status).toBe(400);
        expect(await errorCodes(res)).toEqual(['INVALID_REQUEST']);
      }
    });

    it('answers a bad password with 401 JSON', async () => {
      const res = await postToken(registry, { grant_type: 'password', username: 'dev', password: 'wrong-password', scope: 'repository:dev/app:pull' });
      expect(res.status).toBe(401);
      expect(await errorCodes(res)).toEqual(['UNAUTHORIZED']);
    });

    it('answers an unknown refresh token with 401 JSON', async () => {
      const res = await postToken(registry, { grant_type: 'refresh_token', refresh_token: 'rrt_not-a-real-one' });
      expect(res.status).toBe(401);
      expect(await errorCodes(res)).toEqual(['UNAUTHORIZED']);
    });

    it('answers an unknown service with 400 JSON', async () => {
      const res = await postToken(registry, { grant_type: 'password', username: 'dev', password: dev.password, service: 'someone-else' });
      expect(res.status).toBe(400);
      expect(await errorCodes(res)).toEqual(['INVALID_REQUEST']);
    });
  });

  describe('clients', () => {
    it('follows the docker login flow: ping, token without scope (offline), /v2/ with the token, then a refresh POST for a scope', async () => {
      const ping = await fetch(`${registry.url}/v2/`);
      expect(ping.status).toBe(401);
      const challenge = parseBearerChallenge(ping.headers.get('www-authenticate'))!;
      await ping.arrayBuffer();
      const url = new URL(challenge['realm']!);
      for (const [k, v] of Object.entries({ account: 'dev', client_id: 'docker', offline_token: 'true', service: challenge['service']! })) url.searchParams.set(k, v);
      const login = await fetch(url, { headers: { authorization: basic(dev.user, dev.password) } });
      expect(login.status).toBe(200);
      const answer = (await login.json()) as TokenAnswer;
      expect(accessOf(answer.token)).toEqual([]);
      const check = await fetch(`${registry.url}/v2/`, { headers: { authorization: `Bearer ${answer.token}` } });
      expect(check.status).toBe(200);
      await check.arrayBuffer();

      const refresh = await postToken(registry, {
        grant_type: 'refresh_token',
        refresh_token: answer.refresh_token!,
        service: challenge['service'],
        client_id: 'docker',
        scope: 'repository:dev/login:pull,push',
      });
      expect(refresh.status).toBe(200);
      const refreshed = (await refresh.json()) as TokenAnswer;
      const post = await fetch(`${registry.url}/v2/dev/login/blobs/uploads/`, { method: 'POST', headers: { authorization: `Bearer ${refreshed.access_token}` } });
      expect(post.status).toBe(202);
      await post.arrayBuffer();
    });

    it('lets curl users send Basic credentials straight to /v2/ and to repository routes', async () => {
      const auth = { authorization: basic(dev.user, dev.password) };
      const base = await fetch(`${registry.url}/v2/`, { headers: auth });
      expect(base.status).toBe(200);
      await base.arrayBuffer();
      const data = deterministicBytes(500, 'curl-flow');
      const push = await fetch(`${registry.url}/v2/curl/flow/blobs/uploads/?digest=${sha256(data)}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/octet-stream' },
        body: data,
      });
      expect(push.status).toBe(201);
      const pull = await fetch(`${registry.url}/v2/curl/flow/blobs/${sha256(data)}`, { headers: auth });
      expect(pull.status).toBe(200);
      expect(Buffer.from(await pull.arrayBuffer()).equals(data)).toBe(true);
    });

    it('answers Basic credentials with a wrong password on /v2/ with 401 and a Bearer challenge', async () => {
      const res = await fetch(`${registry.url}/v2/`, { headers: { authorization: basic('dev', 'wrong-password') } });
      expect(res.status).toBe(401);
      expect(parseBearerChallenge(res.headers.get('www-authenticate'))).toMatchObject({ service: TEST_SERVICE });
      expect(await errorCodes(res)).toEqual(['UNAUTHORIZED']);
    });

    it('pushes and pulls an image in repository A with a client that logs in (token for A)', async () => {
      const client = new OciClient(registry.url, dev);
      const image = await client.pushImage('team/a', 'v1');
      expect(await client.pullVerified('team/a', 'v1', image.bytes)).toEqual([image.config.digest, ...image.layers.map((l) => l.digest)]);
      expect(client.tokenFetches).toBeGreaterThan(0);

      const token = await tokenFor(registry, dev, ['repository:team/a:pull']);
      const inA = await fetch(`${registry.url}/v2/team/a/manifests/v1`, { method: 'HEAD', headers: { authorization: `Bearer ${token}`, accept: image.mediaType } });
      expect(inA.status).toBe(200);
      expect(inA.headers.get('docker-content-digest')).toBe(image.digest);
    });

    it('lets the admin do anything its token asks for, admin API included', async () => {
      const token = await tokenFor(registry, ADMIN, ['repository:any/thing:*', 'registry:admin:*']);
      expect(accessOf(token)).toEqual([
        { type: 'repository', name: 'any/thing', actions: ['pull', 'push', 'delete'] },
        { type: 'registry', name: 'admin', actions: ['*'] },
      ]);
      const users = await fetch(`${registry.url}/api/v1/users`, { headers: { authorization: `Bearer ${token}` } });
      expect(users.status).toBe(200);
      const names = ((await users.json()) as { users: { name: string }[] }).users.map((u) => u.name);
      expect(names).toEqual(expect.arrayContaining(['admin', 'dev']));
    });
  });
});

describe('token grants under specific policies (e2e)', () => {
  let registry: RunningRegistry;
  let reader: Login;
  let writer: Login;

  beforeAll(async () => {
    registry = await startRegistry({ auth: true, env: { REGISTRY_GC_INTERVAL: '0' } });
    await deleteAllPolicies(registry);
    reader = await createUser(registry, 'reader');
    writer = await createUser(registry, 'writer');
    await createPolicy(registry, 'shop/*', 'reader', ['pull']);
    await createPolicy(registry, 'shop/*', 'writer', ['pull', 'push']);
    await createPolicy(registry, 'public/*', 'anonymous', ['pull']);
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('grants a pull-only user pull of pull,push,delete, and nothing outside its repositories', async () => {
    const { token } = await getToken(registry, reader, ['repository:shop/cart:pull,push,delete', 'repository:other/x:pull']);
    expect(accessOf(token)).toEqual([{ type: 'repository', name: 'shop/cart', actions: ['pull'] }]);
  });

  it('answers repository:x:* with exactly the allowed actions', async () => {
    const { token } = await getToken(registry, writer, ['repository:shop/cart:*']);
    expect(accessOf(token)).toEqual([{ type: 'repository', name: 'shop/cart', actions: ['pull', 'push'] }]);
  });

  it('reports only the granted scope in the POST answer', async () => {
    const res = await postToken(registry, { grant_type: 'password', username: 'reader', password: reader.password, scope: 'repository:shop/cart:pull,push repository:other/x:pull' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as TokenAnswer).scope).toBe('repository:shop/cart:pull');
  });

  it('grants anonymous (and everyone) what an anonymous policy allows', async () => {
    const anonymous = await getToken(registry, undefined, ['repository:public/base:pull,push', 'repository:shop/cart:pull']);
    expect(accessOf(anonymous.token)).toEqual([{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
    const loggedIn = await getToken(registry, reader, ['repository:public/base:pull']);
    expect(accessOf(loggedIn.token)).toEqual([{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
  });

  it('lets an anonymous client pull a public repository with the anonymous token its challenge leads to', async () => {
    const image = await new OciClient(registry.url, ADMIN).pushImage('public/base', 'v1');
    const anonymous = new OciClient(registry.url);
    expect(await anonymous.pullVerified('public/base', 'v1', image.bytes)).toHaveLength(2);
    expect(anonymous.tokenFetches).toBeGreaterThan(0);
    await expect(anonymous.pushBlob('public/base', deterministicBytes(10, 'anonymous-push'))).rejects.toThrow(/401/);
  });

  it('applies a policy change to the next token', async () => {
    const { policies } = await adminCall<{ policies: { id: string; user: string }[] }>(registry, 'GET', '/api/v1/policies');
    const readerPolicy = policies.find((p) => p.user === 'reader')!;
    await adminCall(registry, 'PATCH', `/api/v1/policies/${readerPolicy.id}`, { permissions: ['pull', 'push'] });
    try {
      const { token } = await getToken(registry, reader, ['repository:shop/cart:pull,push']);
      expect(accessOf(token)).toEqual([{ type: 'repository', name: 'shop/cart', actions: ['pull', 'push'] }]);
    } finally {
      await adminCall(registry, 'PATCH', `/api/v1/policies/${readerPolicy.id}`, { permissions: ['pull'] });
    }
  });

  it('applies the same policies to Basic credentials sent straight to /v2/', async () => {
    const auth = { authorization: basic(reader.user, reader.password) };
    const read = await fetch(`${registry.url}/v2/shop/cart/tags/list`, { headers: auth });
    expect(read.status).toBe(404); // allowed; the repository does not exist
    expect(await errorCodes(read)).toEqual(['NAME_UNKNOWN']);
    const write = await fetch(`${registry.url}/v2/shop/cart/blobs/uploads/`, { method: 'POST', headers: auth });
    expect(write.status).toBe(403);
    expect(await errorCodes(write)).toEqual(['DENIED']);
    const elsewhere = await fetch(`${registry.url}/v2/other/x/tags/list`, { headers: auth });
    expect(elsewhere.status).toBe(403);
    expect(await errorCodes(elsewhere)).toEqual(['DENIED']);
  });
});

describe('token configuration (e2e)', () => {
  let registry: RunningRegistry;

  beforeAll(async () => {
    registry = await startRegistry({
      auth: true,
      env: { REGISTRY_AUTH_TOKEN_TTL: '120', REGISTRY_AUTH_ISSUER: 'issuer.example', REGISTRY_PUBLIC_URL: 'https://registry.example.com', REGISTRY_GC_INTERVAL: '0' },
    });
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('honours REGISTRY_AUTH_TOKEN_TTL in expires_in and in exp - iat, on GET and POST', async () => {
    const got = await getToken(registry, ADMIN, ['repository:ttl/x:pull']);
    expect(got.expires_in).toBe(120);
    const claims = decodeJwt(got.token).payload;
    expect((claims['exp'] as number) - (claims['iat'] as number)).toBe(120);

    const res = await postToken(registry, { grant_type: 'password', username: ADMIN.user, password: ADMIN.password, scope: 'repository:ttl/x:pull' });
    expect(res.status).toBe(200);
    const posted = (await res.json()) as TokenAnswer;
    expect(posted.expires_in).toBe(120);
    const postedClaims = decodeJwt(posted.access_token).payload;
    expect((postedClaims['exp'] as number) - (postedClaims['iat'] as number)).toBe(120);
  });

  it('puts REGISTRY_AUTH_ISSUER in iss and accepts its own tokens with it', async () => {
    const { token } = await getToken(registry, ADMIN, ['repository:iss/x:pull']);
    expect(decodeJwt(token).payload['iss']).toBe('issuer.example');
    const res = await fetch(`${registry.url}/v2/iss/x/tags/list`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404); // through the gate
    expect(await errorCodes(res)).toEqual(['NAME_UNKNOWN']);
  });

  it('puts the realm under REGISTRY_PUBLIC_URL, whatever address the client used', async () => {
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="https://registry.example.com/token",service="${TEST_SERVICE}"`);
    await res.arrayBuffer();
  });
});
