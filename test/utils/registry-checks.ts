/**
 * Checks of what a registry holds, over plain HTTP (fetch), for the real-client specs: manifests
 * and blobs compared with the test images byte for byte (clients that keep manifests intact) or by
 * content (clients that recompress: same config, each layer gunzips to the original diff_id).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { ImageContent, ImageIndex, ImageManifest, OciLayout, Platform, parseConfig, parseIndex, parseManifest } from './images';
import { MT, sha256 } from './oci-client';

export const MANIFEST_ACCEPT = [
  MT.ociManifest,
  MT.ociIndex,
  MT.dockerManifest,
  MT.dockerManifestList,
].join(', ');

const FETCH_TIMEOUT_MS = 120_000;

/**
 * Where checks send their requests: a registry URL, or a URL with the Authorization header to
 * send (e.g. an admin's Basic credentials for a registry with token auth).
 */
export type RegistryTarget = string | { url: string; authorization?: string };

function endpoint(target: RegistryTarget, path: string): { url: string; headers: Record<string, string> } {
  const { url, authorization } = typeof target === 'string' ? { url: target, authorization: undefined } : target;
  return { url: `${url}${path}`, headers: authorization === undefined ? {} : { authorization } };
}

export interface FetchedManifest {
  status: number;
  digest: string | null;
  contentType: string | null;
  body: Buffer;
}

export async function fetchManifest(target: RegistryTarget, name: string, ref: string): Promise<FetchedManifest> {
  const { url, headers } = endpoint(target, `/v2/${name}/manifests/${ref}`);
  const res = await fetch(url, {
    headers: { ...headers, accept: MANIFEST_ACCEPT },
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  return {
    status: res.status,
    digest: res.headers.get('docker-content-digest'),
    contentType: res.headers.get('content-type'),
    body: Buffer.from(await res.arrayBuffer()),
  };
}

/** GET a manifest that must exist; checks the digest header against the bytes served. */
export async function getManifest(target: RegistryTarget, name: string, ref: string): Promise<FetchedManifest & { digest: string }> {
  const m = await fetchManifest(target, name, ref);
  if (m.status !== 200) throw new Error(`GET /v2/${name}/manifests/${ref}: ${m.status} ${m.body.toString().slice(0, 300)}`);
  const computed = sha256(m.body);
  if (m.digest !== null && m.digest !== computed) {
    throw new Error(`GET /v2/${name}/manifests/${ref}: Docker-Content-Digest ${m.digest} but the body hashes to ${computed}`);
  }
  return { ...m, digest: computed };
}

export async function listTags(target: RegistryTarget, name: string): Promise<{ status: number; tags: string[] | null }> {
  const { url, headers } = endpoint(target, `/v2/${name}/tags/list`);
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  const body: unknown = await res.json().catch(() => undefined);
  const tags = typeof body === 'object' && body !== null && 'tags' in body && Array.isArray(body.tags) ? body.tags.map(String) : null;
  return { status: res.status, tags };
}

/** The repository's tags, sorted; empty when it has none (200 with [] or null, or 404). */
export async function tagsOf(target: RegistryTarget, name: string): Promise<string[]> {
  const { status, tags } = await listTags(target, name);
  if (status === 404) return [];
  if (status !== 200) throw new Error(`GET /v2/${name}/tags/list: ${status}`);
  return [...(tags ?? [])].sort();
}

export async function deleteManifest(target: RegistryTarget, name: string, digest: string): Promise<number> {
  const { url, headers } = endpoint(target, `/v2/${name}/manifests/${digest}`);
  const res = await fetch(url, {
    method: 'DELETE',
    headers,
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  await res.arrayBuffer();
  return res.status;
}

export async function headBlob(target: RegistryTarget, name: string, digest: string): Promise<{ status: number; size: number | null }> {
  const { url, headers } = endpoint(target, `/v2/${name}/blobs/${digest}`);
  const res = await fetch(url, { method: 'HEAD', headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  const length = res.headers.get('content-length');
  return { status: res.status, size: length === null ? null : Number(length) };
}

export interface BlobHashes {
  digest: string;
  size: number;
  /** sha256 of the gunzipped bytes (a layer's diff_id), when asked for */
  uncompressed?: string;
}

/** Streams a blob from the registry and hashes it (and its gunzipped form), never buffering it. */
export async function hashBlob(target: RegistryTarget, name: string, digest: string, gunzip = false): Promise<BlobHashes> {
  const { url, headers } = endpoint(target, `/v2/${name}/blobs/${digest}`);
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(10 * 60_000) });
  if (res.status !== 200 || !res.body) throw new Error(`GET /v2/${name}/blobs/${digest}: ${res.status}`);
  const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  const outer = createHash('sha256');
  let size = 0;
  const inner = createHash('sha256');
  const gz = gunzip ? createGunzip() : undefined;
  const unzipped = gz
    ? pipeline(gz, async (chunks: AsyncIterable<Buffer>) => {
        for await (const c of chunks) inner.update(c);
      })
    : Promise.resolve();
  await pipeline(body, async (chunks: AsyncIterable<Buffer>) => {
    for await (const c of chunks) {
      outer.update(c);
      size += c.length;
      if (gz && !gz.write(c)) await new Promise((r) => gz.once('drain', r));
    }
    gz?.end();
  });
  await unzipped;
  return {
    digest: `sha256:${outer.digest('hex')}`,
    size,
    ...(gz && { uncompressed: `sha256:${inner.digest('hex')}` }),
  };
}

async function getBlob(target: RegistryTarget, name: string, digest: string): Promise<Buffer> {
  const { url, headers } = endpoint(target, `/v2/${name}/blobs/${digest}`);
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (res.status !== 200) throw new Error(`GET /v2/${name}/blobs/${digest}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

// --------------------------------------------------------------------------- whole-image checks

/**
 * Asserts the registry serves `name:ref` exactly as the layout has it: the same top manifest bytes
 * (so the same digest), every child manifest by digest, and every blob with the right digest and
 * size. For skopeo and ctr, which push manifests unchanged.
 */
export async function expectIdenticalImage(target: RegistryTarget, name: string, ref: string, layout: OciLayout): Promise<void> {
  const top = await layout.top();
  const served = await getManifest(target, name, ref);
  expect(served.digest).toBe(top.digest);
  expect(served.body.equals(await layout.readBlob(top.digest))).toBe(true);
  expect(served.contentType).toBe(top.mediaType);
  for (const blob of await layout.blobs()) {
    if (blob.digest === top.digest) continue;
    if (blob.kind === 'manifest' || blob.kind === 'index') {
      const child = await getManifest(target, name, blob.digest);
      expect(child.body.equals(await layout.readBlob(blob.digest))).toBe(true);
    } else {
      const h = await hashBlob(target, name, blob.digest);
      expect({ digest: h.digest, size: h.size }).toEqual({ digest: blob.digest, size: blob.size });
    }
  }
}

/** What the registry holds for one image manifest, checked layer by layer. */
export interface ServedImage {
  digest: string;
  manifest: ImageManifest;
  content: ImageContent;
}

/**
 * Reads an image manifest from the registry and derives its content: the config (whose digest
 * and diff_ids must survive any recompression) and, by streaming every layer through gunzip, the
 * diff_id each layer really has. Throws if a layer's bytes do not match its descriptor.
 */
export async function readServedImage(target: RegistryTarget, name: string, ref: string): Promise<ServedImage> {
  const m = await getManifest(target, name, ref);
  const manifest = parseManifest(m.body);
  const configBytes = await getBlob(target, name, manifest.config.digest);
  expect(sha256(configBytes)).toBe(manifest.config.digest);
  const config = parseConfig(configBytes);
  const diffIds: string[] = [];
  for (const layer of manifest.layers) {
    const h = await hashBlob(target, name, layer.digest, true);
    expect({ digest: h.digest, size: h.size }).toEqual({ digest: layer.digest, size: layer.size });
    if (h.uncompressed === undefined) throw new Error('no uncompressed digest');
    diffIds.push(h.uncompressed);
  }
  expect(diffIds).toEqual(config.rootfs.diff_ids);
  const platform: Platform = { os: config.os, architecture: config.architecture, ...(config.variant && { variant: config.variant }) };
  return { digest: m.digest, manifest, content: { platform, configDigest: manifest.config.digest, diffIds } };
}

/**
 * Asserts the registry's `name:ref` has the same content as the original image (for clients that
 * recompress layers on push): same config digest, same number of layers, and each served layer
 * decompresses to the original diff_id. Returns what was served.
 */
export async function expectSameContent(target: RegistryTarget, name: string, ref: string, original: ImageContent): Promise<ServedImage> {
  const served = await readServedImage(target, name, ref);
  expect(served.content.configDigest).toBe(original.configDigest);
  expect(served.content.diffIds).toEqual(original.diffIds);
  return served;
}

function samePlatform(a: Platform | undefined, b: Platform): boolean {
  return !!a && a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/**
 * Asserts `name:ref` is a multi-platform index/list whose entries carry the original platforms and
 * resolve to images with the original content (any manifest media type, any compression).
 */
export async function expectSameIndexContent(
  target: RegistryTarget,
  name: string,
  ref: string,
  originals: ImageContent[],
): Promise<{ digest: string; index: ImageIndex; children: ServedImage[] }> {
  const m = await getManifest(target, name, ref);
  expect([MT.ociIndex, MT.dockerManifestList]).toContain(m.contentType);
  const index = parseIndex(m.body);
  expect(index.manifests).toHaveLength(originals.length);
  const children: ServedImage[] = [];
  for (const original of originals) {
    const entry = index.manifests.find((d) => samePlatform(d.platform, original.platform));
    if (!entry) throw new Error(`${name}:${ref} has no entry for ${JSON.stringify(original.platform)}: ${m.body.toString()}`);
    const child = await expectSameContent(target, name, entry.digest, original);
    expect(child.digest).toBe(entry.digest);
    children.push(child);
  }
  return { digest: m.digest, index, children };
}
