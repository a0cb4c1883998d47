/**
 * What operators rely on: /healthz (liveness, no auth, no database) and /readyz (database and a
 * storage write), read-only maintenance mode (REGISTRY_READ_ONLY: pulls work, every write under
 * /v2/ and GC answer 405 UNSUPPORTED) under both auth modes, and REGISTRY_TRUST_PROXY (the token
 * realm and the audited client address follow X-Forwarded-* only from a trusted proxy).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deterministicBytes, OciClient, parseBearerChallenge, parseErrorBody, PushedImage, sha256 } from '../utils/oci-client';
import { RunningRegistry, startRegistry, TEST_SERVICE } from '../utils/start-registry';
import { ADMIN, adminRequest, auditEvents, basic } from '../utils/tokens';
import { makeTempDir, removeDir } from '../utils/temp-dir';

jest.setTimeout(30_000);

interface CheckResult {
  ok: boolean;
  durationMs: number;
  error?: string;
}
interface ReadyBody {
  status: 'ok' | 'fail';
  checks: { database: CheckResult; storage: CheckResult };
}

describe('operations (e2e)', () => {
  describe('health and readiness (token auth)', () => {
    let registry: RunningRegistry;

    beforeAll(async () => {
      registry = await startRegistry({ auth: true });
    });
    afterAll(async () => {
      await registry.stop();
    });

    async function readyz(): Promise<{ status: number; body: ReadyBody; text: string; cacheControl: string | null }> {
      const res = await fetch(`${registry.url}/readyz`);
      const text = await res.text();
      return { status: res.status, body: JSON.parse(text) as ReadyBody, text, cacheControl: res.headers.get('cache-control') };
    }

    it('answers GET /healthz with 200 without credentials, while /v2/ asks for them', async () => {
      const health = await fetch(`${registry.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const v2 = await fetch(`${registry.url}/v2/`);
      expect(v2.status).toBe(401);
      await v2.arrayBuffer();
    });

    it('answers GET /readyz with 200 and both checks ok, without credentials', async () => {
      const ready = await readyz();
      expect(ready.status).toBe(200);
      expect(ready.cacheControl).toBe('no-store');
      expect(ready.body).toEqual({
        status: 'ok',
        checks: { database: { ok: true, durationMs: expect.any(Number) }, storage: { ok: true, durationMs: expect.any(Number) } },
      });
    });

    it('answers GET /readyz with 503 naming the storage check while storage refuses writes, and 200 again once fixed', async () => {
      // How storage is made unwritable: the tests run as root, so chmod stops nothing, and
      // `chattr +i` needs CAP_LINUX_IMMUTABLE and an ext2/3/4-like filesystem (not tmpfs or the
      // overlayfs of most CI containers). Replacing <data>/storage/probes — the directory the
      // probe writes into — with a regular file makes that write fail on any filesystem (its
      // mkdir answers EEXIST), and removing the file fixes it.
      const probes = path.join(registry.dataDir, 'storage', 'probes');
      fs.rmSync(probes, { recursive: true, force: true });
      fs.writeFileSync(probes, 'not a directory\n');
      try {
        const broken = await readyz();
        expect(broken.status).toBe(503);
        expect(broken.cacheControl).toBe('no-store');
        expect(broken.body.status).toBe('fail');
        expect(broken.body.checks.database.ok).toBe(true);
        expect(broken.body.checks.storage.ok).toBe(false);
        expect(broken.body.checks.storage.error).toMatch(/^E[A-Z]+$/); // the error code (EEXIST here)
        // The answer is public: it names the failure, not where the data lives.
        expect(broken.text).not.toContain(registry.dataDir);
        // Liveness is not readiness: the process is fine.
        expect((await fetch(`${registry.url}/healthz`)).status).toBe(200);
      } finally {
        fs.rmSync(probes, { force: true });
      }
      const fixed = await readyz();
      expect(fixed.status).toBe(200);
      expect(fixed.body.status).toBe('ok');
      expect(fixed.body.checks.storage.ok).toBe(true);
    });
  });

  describe.each([
    ['REGISTRY_AUTH=none', false],
    ['token auth, as admin', true],
  ])('read-only mode (%s)', (_mode, auth) => {
    const repo = 'ops/readonly';
    let dataDir: string;
    let registry: RunningRegistry | undefined;
    let client: OciClient;
    let image: PushedImage;
    let session: string;

    beforeAll(async () => {
      dataDir = makeTempDir('registry-readonly-');
      // First in normal mode: an image, a second tag and an open upload session.
      const writable = await startRegistry({ dataDir, auth });
      try {
        const writer = new OciClient(writable.url, auth ? { user: ADMIN.user, password: ADMIN.password } : undefined);
        image = await writer.pushImage(repo, 'v1');
        expect((await writer.putManifest(repo, 'v2', image.bytes, image.mediaType)).status).toBe(201);
        session = await writer.startUpload(repo);
      } finally {
        await writable.close();
      }
      registry = await startRegistry({ dataDir, auth, env: { REGISTRY_READ_ONLY: 'true' } });
      client = new OciClient(registry.url, auth ? { user: ADMIN.user, password: ADMIN.password } : undefined);
    });
    afterAll(async () => {
      await registry?.close();
      removeDir(dataDir);
    });

    async function expectReadOnly(res: Response): Promise<void> {
      expect(res.status).toBe(405);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const errors = parseErrorBody(await res.text());
      expect(errors.map((e) => e.code)).toEqual(['UNSUPPORTED']);
      expect(errors[0]!.message).toMatch(/read-only/);
    }

    it('serves pulls (manifest, blobs) and the tag list', async () => {
      const verified = await client.pullVerified(repo, 'v1', image.bytes);
      expect(verified).toEqual([image.config.digest, ...image.layers.map((l) => l.digest)]);
      const head = await client.fetch(`/v2/${repo}/manifests/${image.digest}`, { method: 'HEAD', headers: { Accept: image.mediaType } });
      expect(head.status).toBe(200);
      const tags = await client.fetch(`/v2/${repo}/tags/list`);
      expect(tags.status).toBe(200);
      expect(await tags.json()).toEqual({ name: repo, tags: ['v1', 'v2'] });
    });

    it('refuses starting an upload (POST) and a monolithic POST ?digest= with 405 UNSUPPORTED', async () => {
      await expectReadOnly(await client.fetch(`/v2/${repo}/blobs/uploads/`, { method: 'POST' }));
      const blob = deterministicBytes(1000, 'read-only');
      await expectReadOnly(await client.fetch(`/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: blob }));
      await expectReadOnly(await client.fetch(`/v2/${repo}/blobs/uploads/?mount=${image.layers[0]!.digest}&from=${repo}`, { method: 'POST' }));
    });

    it('refuses PATCH and PUT on an upload session opened before the restart with 405 UNSUPPORTED', async () => {
      const blob = deterministicBytes(1000, 'read-only-session');
      await expectReadOnly(await client.fetch(session, { method: 'PATCH', headers: { 'Content-Range': '0-999' }, body: blob }));
      await expectReadOnly(await client.fetch(client.withQuery(session, { digest: sha256(blob) }), { method: 'PUT', body: blob }));
    });

    it('refuses manifest PUT and DELETE (and blob DELETE) with 405 UNSUPPORTED, and the image stays intact', async () => {
      await expectReadOnly(await client.putManifest(repo, 'v3', image.bytes, image.mediaType));
      await expectReadOnly(await client.fetch(`/v2/${repo}/manifests/v2`, { method: 'DELETE' }));
      await expectReadOnly(await client.fetch(`/v2/${repo}/manifests/${image.digest}`, { method: 'DELETE' }));
      await expectReadOnly(await client.fetch(`/v2/${repo}/blobs/${image.layers[0]!.digest}`, { method: 'DELETE' }));
      await client.pullVerified(repo, 'v2', image.bytes);
      const tags = await client.fetch(`/v2/${repo}/tags/list`);
      expect(await tags.json()).toEqual({ name: repo, tags: ['v1', 'v2'] });
    });

    it('refuses POST /_gc with 405 UNSUPPORTED but runs POST /_gc?dryRun=true', async () => {
      const gc = (query: string): Promise<Response> =>
        auth ? adminRequest(registry!, 'POST', `/_gc${query}`) : fetch(`${registry!.url}/_gc${query}`, { method: 'POST' });
      await expectReadOnly(await gc(''));
      const dry = await gc('?dryRun=true');
      expect(dry.status).toBe(200);
      expect(await dry.json()).toMatchObject({ dryRun: true });
    });
  });

  describe('REGISTRY_TRUST_PROXY', () => {
    const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'forwarded.example', 'X-Forwarded-For': '203.0.113.7' };

    async function realmOf(registry: RunningRegistry): Promise<string | undefined> {
      const res = await fetch(`${registry.url}/v2/`, { headers: forwarded });
      expect(res.status).toBe(401);
      await res.arrayBuffer();
      return parseBearerChallenge(res.headers.get('www-authenticate'))?.['realm'];
    }

    /** A failed login (unknown user, through the proxy headers) and the address its audit event records. */
    async function failedLoginClientIp(registry: RunningRegistry, user: string): Promise<string | null | undefined> {
      const res = await fetch(`${registry.url}/token?service=${TEST_SERVICE}`, { headers: { ...forwarded, authorization: basic(user, 'wrong-password') } });
      expect(res.status).toBe(401);
      await res.arrayBuffer();
      const events = await auditEvents(registry, { type: 'login', actor: user });
      expect(events.map((e) => e.outcome)).toEqual(['failure']);
      return events[0]!.clientIp;
    }

    it('ignores X-Forwarded-Proto/-Host/-For when unset: the realm is the address the client used, the audit has the socket address', async () => {
      const registry = await startRegistry({ auth: true });
      try {
        expect(await realmOf(registry)).toBe(`http://127.0.0.1:${registry.port}/token`);
        expect(await failedLoginClientIp(registry, 'nobody-untrusted')).toBe('127.0.0.1');
      } finally {
        await registry.stop();
      }
    });

    it.each(['127.0.0.1', 'true'])(
      'with REGISTRY_TRUST_PROXY=%s builds the realm from X-Forwarded-Proto/-Host and audits the X-Forwarded-For address',
      async (trust) => {
        const registry = await startRegistry({ auth: true, env: { REGISTRY_TRUST_PROXY: trust } });
        try {
          expect(await realmOf(registry)).toBe('https://forwarded.example/token');
          expect(await failedLoginClientIp(registry, 'nobody-trusted')).toBe('203.0.113.7');
        } finally {
          await registry.stop();
        }
      },
    );

    it('with REGISTRY_TRUST_PROXY naming another address ignores the headers from 127.0.0.1', async () => {
      const registry = await startRegistry({ auth: true, env: { REGISTRY_TRUST_PROXY: '10.0.0.1' } });
      try {
        expect(await realmOf(registry)).toBe(`http://127.0.0.1:${registry.port}/token`);
        expect(await failedLoginClientIp(registry, 'nobody-other-proxy')).toBe('127.0.0.1');
      } finally {
        await registry.stop();
      }
    });
  });
});
