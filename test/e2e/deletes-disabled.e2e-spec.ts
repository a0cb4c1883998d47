import { errorCodes, OciClient, PushedImage } from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';

jest.setTimeout(30_000);

describe('deletes disabled (REGISTRY_DELETE_ENABLED=false) (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;
  let image: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry({ env: { REGISTRY_DELETE_ENABLED: 'false' } });
    client = new OciClient(registry.url);
    image = await client.pushImage('nodelete/repo', 'v1');
  });
  afterAll(async () => {
    await registry.stop();
  });

  it.each([
    ['a manifest by digest', () => `/v2/nodelete/repo/manifests/${image.digest}`],
    ['a manifest by tag', () => '/v2/nodelete/repo/manifests/v1'],
    ['a blob', () => `/v2/nodelete/repo/blobs/${image.layers[0]!.digest}`],
  ])('refuses to delete %s with 405 UNSUPPORTED', async (_what, path) => {
    const res = await client.fetch(path(), { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(await errorCodes(res)).toEqual(['UNSUPPORTED']);
  });

  it('still serves everything after the refused deletes', async () => {
    for (const reference of ['v1', image.digest]) {
      const res = await client.fetch(`/v2/nodelete/repo/manifests/${reference}`);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(image.bytes)).toBe(true);
    }
    for (const blob of [image.config, ...image.layers]) {
      expect((await client.fetch(`/v2/nodelete/repo/blobs/${blob.digest}`, { method: 'HEAD' })).status).toBe(200);
    }
  });

  it('still lets a client cancel its own upload session', async () => {
    const location = await client.startUpload('nodelete/repo');
    expect((await client.fetch(location, { method: 'DELETE' })).status).toBe(204);
    expect((await client.fetch(location)).status).toBe(404);
  });
});
