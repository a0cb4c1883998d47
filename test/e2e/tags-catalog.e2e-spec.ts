import { errorCodes, nextLink, OciClient } from '../utils/oci-client';
import { RunningRegistry, startRegistry } from '../utils/start-registry';

jest.setTimeout(30_000);

interface TagList {
  name: string;
  tags: string[];
}
interface Catalog {
  repositories: string[];
}

describe('tags list (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;
  const pushed = ['latest', 'b', 'a', 'C', '1.0', 'Z9', '_x', 'v1.10', 'v1.9'];
  const sorted = ['1.0', 'C', 'Z9', '_x', 'a', 'b', 'latest', 'v1.10', 'v1.9'];

  beforeAll(async () => {
    registry = await startRegistry();
    client = new OciClient(registry.url);
    const image = await client.pushImage('tags/repo', pushed[0]!);
    for (const tag of pushed.slice(1)) {
      const res = await client.putManifest('tags/repo', tag, image.bytes, image.mediaType);
      expect(res.status).toBe(201);
    }
  });
  afterAll(async () => {
    await registry.stop();
  });

  it('lists every tag in lexical order with the repository name', async () => {
    const res = await client.fetch('/v2/tags/repo/tags/list');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('link')).toBeNull();
    expect((await res.json()) as TagList).toEqual({ name: 'tags/repo', tags: sorted });
  });

  it('pages with n and a Link rel="next" header, each page exactly n tags until the end', async () => {
    const res = await client.fetch('/v2/tags/repo/tags/list?n=2');
    expect(res.status).toBe(200);
    expect(((await res.json()) as TagList).tags).toEqual(['1.0', 'C']);
    const link = nextLink(res);
    expect(link).toBeDefined();
    const u = new URL(link!, registry.url);
    expect(u.pathname).toBe('/v2/tags/repo/tags/list');
    expect(u.searchParams.get('n')).toBe('2');
    expect(u.searchParams.get('last')).toBe('C');

    const pages = await client.allPages<TagList>('/v2/tags/repo/tags/list?n=2');
    expect(pages.map((p) => p.tags.length)).toEqual([2, 2, 2, 2, 1]);
    expect(pages.flatMap((p) => p.tags)).toEqual(sorted);
  });

  it('sends no Link when a page reaches the end exactly', async () => {
    const res = await client.fetch(`/v2/tags/repo/tags/list?n=${sorted.length}`);
    expect(((await res.json()) as TagList).tags).toEqual(sorted);
    expect(res.headers.get('link')).toBeNull();
  });

  it('answers n=0 with an empty list and no Link', async () => {
    const res = await client.fetch('/v2/tags/repo/tags/list?n=0');
    expect(res.status).toBe(200);
    expect(res.headers.get('link')).toBeNull();
    expect(((await res.json()) as TagList).tags).toEqual([]);
  });

  it('treats last as exclusive', async () => {
    const res = await client.fetch('/v2/tags/repo/tags/list?last=Z9');
    expect(((await res.json()) as TagList).tags).toEqual(['_x', 'a', 'b', 'latest', 'v1.10', 'v1.9']);
    const paged = await client.fetch('/v2/tags/repo/tags/list?n=2&last=a');
    expect(((await paged.json()) as TagList).tags).toEqual(['b', 'latest']);
    const between = await client.fetch('/v2/tags/repo/tags/list?last=aa');
    expect(((await between.json()) as TagList).tags).toEqual(['b', 'latest', 'v1.10', 'v1.9']);
  });

  it('answers an unknown repository with 404 NAME_UNKNOWN', async () => {
    const res = await client.fetch('/v2/tags/unknown/tags/list');
    expect(res.status).toBe(404);
    expect(await errorCodes(res)).toEqual(['NAME_UNKNOWN']);
  });

  it('lists an existing repository without tags as an empty list', async () => {
    await client.pushBlob('tags/untagged', Buffer.from('only a blob'));
    const res = await client.fetch('/v2/tags/untagged/tags/list');
    expect(res.status).toBe(200);
    expect(((await res.json()) as TagList).tags).toEqual([]);
  });
});

describe('tags list cache (e2e)', () => {
  // Pages are cached with the repository's tags state; every change must show at once,
  // whichever process made it (two apps on one data directory, as cluster workers are).
  let first: RunningRegistry;
  let second: RunningRegistry;
  let a: OciClient;
  let b: OciClient;

  beforeAll(async () => {
    first = await startRegistry();
    second = await startRegistry({ dataDir: first.dataDir });
    a = new OciClient(first.url);
    b = new OciClient(second.url);
  });
  afterAll(async () => {
    await second.close();
    await first.stop();
  });

  const tagsVia = async (client: OciClient, repo: string, query = ''): Promise<string[]> => {
    const res = await client.fetch(`/v2/${repo}/tags/list${query}`);
    expect(res.status).toBe(200);
    return ((await res.json()) as TagList).tags;
  };

  it('shows tags added, moved and deleted by another process right after the change', async () => {
    const repo = 'cache/cross';
    const image = await b.pushImage(repo, 'v1');
    expect(await tagsVia(a, repo)).toEqual(['v1']);
    expect(await tagsVia(a, repo, '?n=1')).toEqual(['v1']);

    expect((await b.putManifest(repo, 'v2', image.bytes, image.mediaType)).status).toBe(201);
    expect(await tagsVia(a, repo)).toEqual(['v1', 'v2']);
    expect(await tagsVia(a, repo, '?n=1')).toEqual(['v1']);

    expect(await b.deleteManifest(repo, 'v1')).toBe(202);
    expect(await tagsVia(a, repo)).toEqual(['v2']);

    const other = await b.pushImage(repo, 'v3');
    expect(await tagsVia(a, repo)).toEqual(['v2', 'v3']);
    // Deleting a manifest by digest removes every tag pointing at it.
    expect(await b.deleteManifest(repo, other.digest)).toBe(202);
    expect(await tagsVia(a, repo)).toEqual(['v2']);
  });

  it('serves a cached page again until something changes, then the new page', async () => {
    const repo = 'cache/same';
    await a.pushImage(repo, 'x1');
    expect(await tagsVia(a, repo)).toEqual(['x1']);
    expect(await tagsVia(a, repo)).toEqual(['x1']);
    await b.pushImage(repo, 'x0');
    expect(await tagsVia(a, repo)).toEqual(['x0', 'x1']);
  });
});

describe('catalog (e2e)', () => {
  let registry: RunningRegistry;
  let client: OciClient;
  const repositories = ['cat/b', 'cat/a', 'other', 'cat/a/deeper', 'zeta', 'alpha-1'];
  const sorted = [...repositories].sort();

  beforeAll(async () => {
    registry = await startRegistry();
    client = new OciClient(registry.url);
    for (const repo of repositories) await client.pushBlob(repo, Buffer.from(`blob of ${repo}`));
  });
  afterAll(async () => {
    await registry.stop();
  });

  it.each(['/v2/_catalog', '/_catalog'])('lists every repository in lexical order at %s', async (path) => {
    const res = await client.fetch(path);
    expect(res.status).toBe(200);
    expect(res.headers.get('link')).toBeNull();
    expect((await res.json()) as Catalog).toEqual({ repositories: sorted });
  });

  it.each(['/v2/_catalog', '/_catalog'])('pages %s with n, last and Link rel="next"', async (path) => {
    const first = await client.fetch(`${path}?n=4`);
    expect(((await first.json()) as Catalog).repositories).toEqual(sorted.slice(0, 4));
    const link = nextLink(first);
    expect(link).toBeDefined();
    expect(new URL(link!, registry.url).searchParams.get('last')).toBe(sorted[3]);
    const pages = await client.allPages<Catalog>(`${path}?n=4`);
    expect(pages.map((p) => p.repositories.length)).toEqual([4, 2]);
    expect(pages.flatMap((p) => p.repositories)).toEqual(sorted);
  });

  it('treats last as exclusive and answers n=0 with an empty list and no Link', async () => {
    const after = await client.fetch('/v2/_catalog?last=cat/a');
    expect(((await after.json()) as Catalog).repositories).toEqual(sorted.slice(sorted.indexOf('cat/a') + 1));
    const none = await client.fetch('/v2/_catalog?n=0');
    expect(none.headers.get('link')).toBeNull();
    expect(((await none.json()) as Catalog).repositories).toEqual([]);
  });
});
