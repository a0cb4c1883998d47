import * as fs from 'node:fs';
import * as path from 'node:path';
import { filesUnder, OciClient, parseErrorBody, rawRequest, sha256 } from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';
import { makeTempDir, removeDir } from '../utils/temp-dir';

jest.setTimeout(30_000);

describe('repository names and path tricks (e2e)', () => {
  let root: string;
  let dataDir: string;
  let registry: RunningRegistry;
  let client: OciClient;
  const body = Buffer.from('escape attempt');
  const digest = sha256(body);

  beforeAll(async () => {
    root = makeTempDir('registry-names-');
    dataDir = path.join(root, 'data');
    registry = await startRegistry({ dataDir });
    client = new OciClient(registry.url);
  });
  afterAll(async () => {
    await registry.stop();
    removeDir(root);
  });

  /** Every kind of write and read for a raw (unnormalised, still-encoded) name. */
  function attempts(name: string): { method: string; path: string; body?: Buffer; headers?: Record<string, string> }[] {
    return [
      { method: 'POST', path: `/v2/${name}/blobs/uploads/?digest=${digest}`, body },
      { method: 'POST', path: `/v2/${name}/blobs/uploads/` },
      { method: 'PUT', path: `/v2/${name}/manifests/latest`, body: Buffer.from('{}'), headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } },
      { method: 'GET', path: `/v2/${name}/manifests/latest` },
      { method: 'GET', path: `/v2/${name}/blobs/${digest}` },
      { method: 'GET', path: `/v2/${name}/tags/list` },
      { method: 'GET', path: `/v2/${name}/referrers/${digest}` },
    ];
  }

  it.each([
    ['a %2F inside a component', 'a%2Fb'],
    ['an encoded traversal', '..%2F..%2F..%2Fescape'],
    ['encoded dots', '%2e%2e/%2e%2e/escape'],
    ['.. segments', 'a/../../escape'],
    ['a leading ..', '../escape'],
    ['a . segment', 'a/./b'],
    ['uppercase', 'Upper/case'],
    ['an empty component', 'a//b'],
    ['a leading separator', '-a/b'],
    ['a trailing separator', 'a-/b'],
    ['a backslash', 'a%5Cb'],
    ['a NUL byte', 'a%00b'],
    ['over 255 characters', 'a'.repeat(256)],
  ])('refuses a name with %s with 400 NAME_INVALID on every route', async (_what, name) => {
    for (const attempt of attempts(name)) {
      const res = await rawRequest(registry.url, attempt);
      expect({ path: attempt.path, method: attempt.method, status: res.status }).toEqual({ path: attempt.path, method: attempt.method, status: 400 });
      expect(parseErrorBody(res.body.toString()).map((e) => e.code)).toEqual(['NAME_INVALID']);
    }
  });

  it('refuses upload ids and digests that try to traverse', async () => {
    const location = await client.startUpload('names/ok');
    const session = new URL(location, registry.url).pathname;
    for (const p of [
      '/v2/names/ok/blobs/uploads/..%2F..%2Fblobs',
      '/v2/names/ok/blobs/uploads/%2e%2e',
      `${session}%2F..%2F..%2Fx`,
    ]) {
      const res = await rawRequest(registry.url, { method: 'PATCH', path: p, body: Buffer.from('x') });
      expect({ p, status: res.status }).toEqual({ p, status: 404 });
      expect(parseErrorBody(res.body.toString()).map((e) => e.code)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    }
    for (const p of ['/v2/names/ok/blobs/sha256:..%2F..%2Fetc', '/v2/names/ok/blobs/sha256:%2e%2e']) {
      const res = await rawRequest(registry.url, { method: 'GET', path: p });
      expect({ p, status: res.status }).toEqual({ p, status: 400 });
      expect(parseErrorBody(res.body.toString()).map((e) => e.code)).toEqual(['DIGEST_INVALID']);
    }
  });

  it('accepts the name grammar at its edges (separators, nesting, 255 characters)', async () => {
    const longest = `${'a'.repeat(127)}/${'b'.repeat(127)}`;
    expect(longest.length).toBe(255);
    for (const name of ['a', 'a.b_c__d---e/f0/9', 'x/y/z/w/v', longest]) {
      await client.pushBlob(name, Buffer.from(`blob for ${name}`));
      const res = await client.fetch(`/v2/${name}/blobs/${sha256(`blob for ${name}`)}`, { method: 'HEAD' });
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
    }
  });

  it('created nothing outside the data dir, and nothing for refused names inside it', async () => {
    expect(fs.readdirSync(root)).toEqual(['data']);
    for (const file of filesUnder(dataDir)) {
      expect(file).toMatch(/^(registry\.db(-wal|-shm|-journal)?|storage\/(blobs\/sha256\/[0-9a-f]{2}\/[0-9a-f]{64}|uploads\/[A-Za-z0-9_-]+\/data))$/);
    }
    expect(fs.existsSync(path.join(dataDir, 'storage', 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7)))).toBe(false);
    const catalog = (await (await client.fetch('/v2/_catalog')).json()) as { repositories: string[] };
    expect(catalog.repositories.every((r) => /^[a-z0-9]/.test(r) && !r.includes('..'))).toBe(true);
    expect(catalog.repositories).not.toContain('escape');
  });
});
