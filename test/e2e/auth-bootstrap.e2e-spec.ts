import * as fs from 'node:fs';
import * as path from 'node:path';
import { OciClient, parseErrorBody } from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';
import { makeTempDir, removeDir } from '../utils/temp-dir';
import { basic, decodeJwt, jwks, type Login } from '../utils/tokens';

jest.setTimeout(30_000);

/**
 * What a start with token auth sets up on its own: the first admin (a random password saved
 * 0600, or REGISTRY_ADMIN_PASSWORD), the seed policies (from REGISTRY_AUTH_POLICIES_FILE), the
 * token signing key; and what REGISTRY_AUTH=none leaves out.
 */

/**
 * Token auth exactly as production starts it: startRegistry's `auth: true` always sets an
 * admin password, so these specs start "without auth" and switch token auth on themselves.
 */
const tokenAuth = (dataDir: string, env: Record<string, string> = {}): Promise<RunningRegistry> =>
  startRegistry({ auth: false, dataDir, env: { REGISTRY_AUTH: 'token', REGISTRY_GC_INTERVAL: '0', ...env } });

const mode = (file: string): number => fs.statSync(file).mode & 0o777;

/** GET /token with Basic credentials (or none) for `scopes`: the status and, on 200, the token. */
async function token(registry: RunningRegistry, login: Login | undefined, scopes: string[] = []): Promise<{ status: number; token?: string }> {
  const url = new URL('/token', registry.url);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  const res = await fetch(url, { headers: login ? { authorization: basic(login.user, login.password) } : {} });
  if (res.status !== 200) {
    await res.arrayBuffer();
    return { status: res.status };
  }
  return { status: 200, token: ((await res.json()) as { token: string }).token };
}

async function adminGet<T>(registry: RunningRegistry, urlPath: string, login: Login): Promise<{ status: number; body: T }> {
  const res = await fetch(`${registry.url}${urlPath}`, { headers: { authorization: basic(login.user, login.password) } });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

interface PolicyView {
  repository: string;
  user: string;
  permissions: string[];
}

describe('First admin (e2e)', () => {
  const dirs: string[] = [];
  const running: RunningRegistry[] = [];
  const newDir = (): string => {
    const dir = makeTempDir('auth-bootstrap-');
    dirs.push(dir);
    return dir;
  };
  const start = async (dataDir: string, env?: Record<string, string>): Promise<RunningRegistry> => {
    const registry = await tokenAuth(dataDir, env);
    running.push(registry);
    return registry;
  };
  afterEach(async () => {
    for (const r of running.splice(0)) await r.close();
  });
  afterAll(() => {
    for (const dir of dirs) removeDir(dir);
  });

  it('creates `admin` with a random password saved to <dataDir>/initial-admin-password (mode 0600) that works at /token', async () => {
    const dataDir = newDir();
    const registry = await start(dataDir);
    const file = path.join(dataDir, 'initial-admin-password');
    expect(fs.existsSync(file)).toBe(true);
    expect(mode(file)).toBe(0o600);
    const content = fs.readFileSync(file, 'utf8');
    expect(content).toMatch(/^\S{16,}\n$/);
    const password = content.trim();

    const login = await token(registry, { user: 'admin', password }, ['registry:admin:*']);
    expect(login.status).toBe(200);
    expect(decodeJwt(login.token!).payload).toMatchObject({ sub: 'admin', access: [{ type: 'registry', name: 'admin', actions: ['*'] }] });
    expect((await token(registry, { user: 'admin', password: `${password}x` })).status).toBe(401);

    const users = await adminGet<{ users: { name: string; role: string }[] }>(registry, '/api/v1/users', { user: 'admin', password });
    expect(users.status).toBe(200);
    expect(users.body.users.map((u) => [u.name, u.role])).toEqual([['admin', 'admin']]);
  });

  it('picks a different random password for each new data dir', async () => {
    const a = newDir();
    const b = newDir();
    await start(a);
    await start(b);
    const read = (dir: string): string => fs.readFileSync(path.join(dir, 'initial-admin-password'), 'utf8');
    expect(read(a)).not.toBe(read(b));
  });

  it('does not change the admin or the password file on a second start', async () => {
    const dataDir = newDir();
    const file = path.join(dataDir, 'initial-admin-password');
    const first = await start(dataDir);
    const password = fs.readFileSync(file, 'utf8').trim();
    await first.close();
    const before = fs.statSync(file);

    const second = await start(dataDir);
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(password);
    expect(fs.statSync(file).mtimeMs).toBe(before.mtimeMs);
    expect((await token(second, { user: 'admin', password })).status).toBe(200);
  });

  it('does not write the password file again once an admin exists, even when it was deleted', async () => {
    const dataDir = newDir();
    const file = path.join(dataDir, 'initial-admin-password');
    const first = await start(dataDir);
    const password = fs.readFileSync(file, 'utf8').trim();
    await first.close();
    fs.rmSync(file);

    const second = await start(dataDir);
    expect(fs.existsSync(file)).toBe(false);
    expect((await token(second, { user: 'admin', password })).status).toBe(200);
  });

  it('uses REGISTRY_ADMIN_PASSWORD when set, and writes no password file', async () => {
    const dataDir = newDir();
    const registry = await start(dataDir, { REGISTRY_ADMIN_PASSWORD: 'chosen-admin-password' });
    expect(fs.existsSync(path.join(dataDir, 'initial-admin-password'))).toBe(false);
    expect((await token(registry, { user: 'admin', password: 'chosen-admin-password' })).status).toBe(200);
    expect((await adminGet(registry, '/api/v1/users', { user: 'admin', password: 'chosen-admin-password' })).status).toBe(200);
  });

  it('only applies REGISTRY_ADMIN_PASSWORD on the first start: a later value does not reset the password', async () => {
    const dataDir = newDir();
    const first = await start(dataDir, { REGISTRY_ADMIN_PASSWORD: 'first-admin-password' });
    await first.close();

    const second = await start(dataDir, { REGISTRY_ADMIN_PASSWORD: 'second-admin-password' });
    expect((await token(second, { user: 'admin', password: 'first-admin-password' })).status).toBe(200);
    expect((await token(second, { user: 'admin', password: 'second-admin-password' })).status).toBe(401);
  });

  it('refuses to start with a REGISTRY_ADMIN_PASSWORD shorter than 8 characters, naming the variable', async () => {
    const dataDir = newDir();
    await expect(tokenAuth(dataDir, { REGISTRY_ADMIN_PASSWORD: 'short' })).rejects.toThrow(/REGISTRY_ADMIN_PASSWORD/);
  });
});

describe('Seed policies (e2e)', () => {
  const dirs: string[] = [];
  const running: RunningRegistry[] = [];
  const ADMIN = { user: 'admin', password: 'seed-admin-password' };
  const newDir = (): string => {
    const dir = makeTempDir('auth-seed-');
    dirs.push(dir);
    return dir;
  };
  const start = async (dataDir: string, policiesFile: string): Promise<RunningRegistry> => {
    const registry = await tokenAuth(dataDir, { REGISTRY_ADMIN_PASSWORD: ADMIN.password, REGISTRY_AUTH_POLICIES_FILE: policiesFile });
    running.push(registry);
    return registry;
  };
  const policiesOf = async (registry: RunningRegistry): Promise<[string, string, string[]][]> =>
    (await adminGet<{ policies: PolicyView[] }>(registry, '/api/v1/policies', ADMIN)).body.policies.map((p) => [p.repository, p.user, p.permissions]);
  afterEach(async () => {
    for (const r of running.splice(0)) await r.close();
  });
  afterAll(() => {
    for (const dir of dirs) removeDir(dir);
  });

  it('seeds the policies of REGISTRY_AUTH_POLICIES_FILE ({"policies": [...]}), permissions in canonical order', async () => {
    const dir = newDir();
    const file = path.join(dir, 'my-policies.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        policies: [
          { repository: 'seeded/*', user: 'anonymous', permissions: ['pull'] },
          { repository: '*', user: 'group:ops', permissions: ['delete', 'pull'] },
          { repository: 'robots/*', user: 'ci', permissions: ['push', 'pull'] },
        ],
      }),
    );
    const registry = await start(path.join(dir, 'data'), file);
    expect(await policiesOf(registry)).toEqual([
      ['seeded/*', 'anonymous', ['pull']],
      ['*', 'group:ops', ['pull', 'delete']],
      ['robots/*', 'ci', ['pull', 'push']],
    ]);

    const anonymous = await token(registry, undefined, ['repository:seeded/app:pull,push']);
    expect(decodeJwt(anonymous.token!).payload['access']).toEqual([{ type: 'repository', name: 'seeded/app', actions: ['pull'] }]);
    const elsewhere = await token(registry, undefined, ['repository:other/app:pull']);
    expect(decodeJwt(elsewhere.token!).payload['access']).toEqual([]);
  });

  it('keeps the file\'s order: the first seeded policy that grants an action is the one the check endpoint names', async () => {
    const dir = newDir();
    const file = path.join(dir, 'ordered.json');
    const globs = ['order/a/*', 'order/*', '*', 'order/a/b', 'order/*/b'];
    fs.writeFileSync(file, JSON.stringify(globs.map((repository) => ({ repository, user: '*', permissions: ['pull'] }))));
    const registry = await start(path.join(dir, 'data'), file);
    expect((await policiesOf(registry)).map(([repository]) => repository)).toEqual(globs);

    const create = await fetch(`${registry.url}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: basic(ADMIN.user, ADMIN.password), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'reader', password: 'reader-password' }),
    });
    expect(create.status).toBe(201);
    for (const [repository, deciding] of [
      ['order/a/b', 'order/a/*'],
      ['order/x/b', 'order/*'],
      ['elsewhere', '*'],
    ]) {
      const res = await fetch(`${registry.url}/api/v1/access/check`, {
        method: 'POST',
        headers: { authorization: basic(ADMIN.user, ADMIN.password), 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'reader', repository, action: 'pull' }),
      });
      const decision = (await res.json()) as { allowed: boolean; policy: PolicyView };
      expect([repository, decision.allowed, decision.policy.repository]).toEqual([repository, true, deciding]);
    }
  });

  it('accepts a bare array of policies', async () => {
    const dir = newDir();
    const file = path.join(dir, 'array.json');
    fs.writeFileSync(file, JSON.stringify([{ repository: 'only/*', user: '*', permissions: ['pull'] }]));
    const registry = await start(path.join(dir, 'data'), file);
    expect(await policiesOf(registry)).toEqual([['only/*', '*', ['pull']]]);
  });

  it('seeds nothing from an empty list (no built-in default then)', async () => {
    const dir = newDir();
    const file = path.join(dir, 'empty.json');
    fs.writeFileSync(file, '{"policies": []}');
    const registry = await start(path.join(dir, 'data'), file);
    expect(await policiesOf(registry)).toEqual([]);
  });

  it('seeds the built-in default (every logged-in user: pull, push, delete) when the file does not exist', async () => {
    const dir = newDir();
    const registry = await start(path.join(dir, 'data'), path.join(dir, 'no-such-file.json'));
    expect(await policiesOf(registry)).toEqual([['*', '*', ['pull', 'push', 'delete']]]);
  });

  it('seeds only once: a changed file on a later start does not add policies', async () => {
    const dir = newDir();
    const file = path.join(dir, 'policies.json');
    fs.writeFileSync(file, JSON.stringify([{ repository: 'first/*', user: '*', permissions: ['pull'] }]));
    const first = await start(path.join(dir, 'data'), file);
    await first.close();

    fs.writeFileSync(file, JSON.stringify([{ repository: 'second/*', user: '*', permissions: ['pull'] }]));
    const second = await start(path.join(dir, 'data'), file);
    expect(await policiesOf(second)).toEqual([['first/*', '*', ['pull']]]);
  });

  const invalid: [string, string, RegExp][] = [
    ['not JSON', '{"policies": [', /not valid JSON/],
    ['neither an array nor {"policies": [...]}', '{"rules": []}', /expected/],
    ['a bad repository glob', JSON.stringify([{ repository: 'Bad Repo', user: '*', permissions: ['pull'] }]), /policies\[0\]\.repository/],
    ['a bad user', JSON.stringify([{ repository: 'a', user: '*', permissions: ['pull'] }, { repository: 'b', user: 'group:', permissions: ['pull'] }]), /policies\[1\]\.user/],
    ['no permissions', JSON.stringify([{ repository: 'a', user: '*' }]), /policies\[0\]\.permissions/],
    ['an unknown permission', JSON.stringify([{ repository: 'a', user: '*', permissions: ['pull', 'admin'] }]), /policies\[0\]\.permissions/],
    ['empty permissions', JSON.stringify([{ repository: 'a', user: '*', permissions: [] }]), /policies\[0\]\.permissions/],
    ['a null entry', JSON.stringify([{ repository: 'a', user: '*', permissions: ['pull'] }, null]), /policies\[1\]\.repository/],
  ];

  it.each(invalid)('stops the start with an error naming the file for a policies file with %s', async (_what, content, detail) => {
    const dir = newDir();
    const file = path.join(dir, 'broken-policies.json');
    fs.writeFileSync(file, content);
    const dataDir = path.join(dir, 'data');

    const failure = await tokenAuth(dataDir, { REGISTRY_AUTH_POLICIES_FILE: file }).then(
      async (r) => {
        await r.close();
        return undefined;
      },
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(failure!.message).toContain(file);
    expect(failure!.message).toMatch(detail);
    // Nothing was set up: no admin, no password file.
    expect(fs.existsSync(path.join(dataDir, 'initial-admin-password'))).toBe(false);

    // Fixed, the next start is a normal first start.
    fs.writeFileSync(file, JSON.stringify([{ repository: 'fixed/*', user: '*', permissions: ['pull'] }]));
    const registry = await tokenAuth(dataDir, { REGISTRY_AUTH_POLICIES_FILE: file });
    running.push(registry);
    const password = fs.readFileSync(path.join(dataDir, 'initial-admin-password'), 'utf8').trim();
    const policies = await adminGet<{ policies: PolicyView[] }>(registry, '/api/v1/policies', { user: 'admin', password });
    expect(policies.body.policies.map((p) => p.repository)).toEqual(['fixed/*']);
  });
});

describe('Token signing key (e2e)', () => {
  let dataDir: string;
  let otherDir: string;
  let registry: RunningRegistry | undefined;
  let other: RunningRegistry | undefined;
  const ADMIN = { user: 'admin', password: 'key-admin-password' };
  const env = { REGISTRY_ADMIN_PASSWORD: ADMIN.password };

  beforeAll(() => {
    dataDir = makeTempDir('auth-key-');
    otherDir = makeTempDir('auth-key-other-');
  });
  afterAll(async () => {
    await registry?.close();
    await other?.close();
    removeDir(dataDir);
    removeDir(otherDir);
  });

  it('generates <dataDir>/auth/token-signing-key.pem with mode 0600 on first start', async () => {
    const keyFile = path.join(dataDir, 'auth', 'token-signing-key.pem');
    expect(fs.existsSync(keyFile)).toBe(false);
    registry = await tokenAuth(dataDir, env);
    expect(fs.existsSync(keyFile)).toBe(true);
    expect(mode(keyFile)).toBe(0o600);
    expect(mode(path.dirname(keyFile))).toBe(0o700);
    expect(fs.readFileSync(keyFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);

    const issued = await token(registry, ADMIN, ['registry:admin:*']);
    const header = decodeJwt(issued.token!).header;
    expect(header['alg']).toBe('ES256');
    expect((await jwks(registry)).keys.map((k) => k.kid)).toEqual([header['kid']]);
  });

  it('keeps the key across a restart: a token issued before the restart still works after it', async () => {
    registry ??= await tokenAuth(dataDir, env);
    const keyFile = path.join(dataDir, 'auth', 'token-signing-key.pem');
    const keyBefore = fs.readFileSync(keyFile, 'utf8');
    const kidBefore = (await jwks(registry)).keys[0]!.kid;
    const admin = await token(registry, ADMIN, ['registry:admin:*', 'registry:catalog:*']);
    expect(admin.status).toBe(200);
    await registry.close();

    registry = await tokenAuth(dataDir, env);
    expect(fs.readFileSync(keyFile, 'utf8')).toBe(keyBefore);
    expect((await jwks(registry)).keys[0]!.kid).toBe(kidBefore);

    const base = await fetch(`${registry.url}/v2/`, { headers: { authorization: `Bearer ${admin.token}` } });
    expect(base.status).toBe(200);
    await base.arrayBuffer();
    const users = await fetch(`${registry.url}/api/v1/users`, { headers: { authorization: `Bearer ${admin.token}` } });
    expect(users.status).toBe(200);
    expect(((await users.json()) as { users: { name: string }[] }).users.map((u) => u.name)).toEqual(['admin']);
  });

  it('refuses a token signed by another registry\'s key (another data dir) with 401 invalid_token', async () => {
    registry ??= await tokenAuth(dataDir, env);
    other = await tokenAuth(otherDir, env);
    const foreign = await token(other, ADMIN, ['registry:admin:*']);
    expect(fs.readFileSync(path.join(otherDir, 'auth', 'token-signing-key.pem'), 'utf8')).not.toBe(fs.readFileSync(path.join(dataDir, 'auth', 'token-signing-key.pem'), 'utf8'));

    const res = await fetch(`${registry.url}/api/v1/users`, { headers: { authorization: `Bearer ${foreign.token}` } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    await res.arrayBuffer();
  });
});

describe('REGISTRY_AUTH=none (e2e)', () => {
  let registry: RunningRegistry;

  beforeAll(async () => {
    registry = await startRegistry({ env: { REGISTRY_AUTH: 'none', REGISTRY_GC_INTERVAL: '0' } });
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('answers GET /v2/ with 200 without credentials', async () => {
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('www-authenticate')).toBeNull();
    await res.arrayBuffer();
  });

  it('answers /token and the JWKS with 404 and a JSON error', async () => {
    for (const urlPath of ['/token', '/token?scope=repository:a:pull', '/.well-known/jwks.json']) {
      const res = await fetch(`${registry.url}${urlPath}`);
      expect([urlPath, res.status]).toEqual([urlPath, 404]);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(parseErrorBody(await res.text()).map((e) => e.code)).toEqual(['NOT_FOUND']);
    }
    const post = await fetch(`${registry.url}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=password&username=a&password=b' });
    expect(post.status).toBe(404);
    expect(parseErrorBody(await post.text()).map((e) => e.code)).toEqual(['NOT_FOUND']);
  });

  it('lets anyone push and pull, and creates no admin, password file or signing key', async () => {
    const client = new OciClient(registry.url);
    const image = await client.pushImage('open/app', 'v1');
    await client.pullVerified('open/app', 'v1', image.bytes);
    expect(client.tokenFetches).toBe(0);

    expect(fs.existsSync(path.join(registry.dataDir, 'initial-admin-password'))).toBe(false);
    expect(fs.existsSync(path.join(registry.dataDir, 'auth', 'token-signing-key.pem'))).toBe(false);
    const users = await fetch(`${registry.url}/api/v1/users`);
    expect(users.status).toBe(200);
    expect(await users.json()).toEqual({ users: [] });
  });
});
