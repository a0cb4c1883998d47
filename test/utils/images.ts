/**
 * Test images for the real-client specs (test/real-clients): OCI image layouts built by
 * ../shared/fixtures/make-images.sh (tiny, big, big2, multi; tag "latest" in each layout) and the
 * IMAGES.txt summary that script writes next to them.
 *
 * Where the layouts come from, first match wins:
 *   1. $REGISTRY_TEST_IMAGES, if it holds IMAGES.txt;
 *   2. <repo>/test-images, if it holds IMAGES.txt;
 *   3. with REGISTRY_TEST_REQUIRE_CLIENTS=1 only: build them into <repo>/test-images with
 *      make-images.sh (needs root and buildah umoci skopeo jq debootstrap openssl; ~2 min).
 *      Several spec files may ask at once (parallel jest workers), so the build runs under a
 *      lock directory and the others wait until the builder releases it.
 * Otherwise there are no images and the specs print why they did not run.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MT } from './oci-client';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const DEFAULT_IMAGES_DIR = path.join(REPO_ROOT, 'test-images');
export const MAKE_IMAGES_SCRIPT = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures', 'make-images.sh');
export const TEST_IMAGE_NAMES = ['tiny', 'big', 'big2', 'multi'] as const;
export type TestImageName = (typeof TEST_IMAGE_NAMES)[number];

/** True when REGISTRY_TEST_REQUIRE_CLIENTS=1: a missing client or image set is a failure, not a skip. */
export function clientsRequired(): boolean {
  return process.env.REGISTRY_TEST_REQUIRE_CLIENTS === '1';
}

// ------------------------------------------------------------------------------------ IMAGES.txt

export interface LayerSummary {
  digest: string;
  size: number;
}
export interface ManifestSummary {
  digest: string;
  config: string;
  layers: LayerSummary[];
}
export interface ImageSummary {
  name: string;
  /** Digest of the top manifest (an index for multi). */
  digest: string;
  mediaType: string;
  blobsBytes: number;
  /** The image manifest itself, or each manifest of the index in index order. */
  manifests: ManifestSummary[];
}

/**
 * Parses IMAGES.txt:
 *   <name> <digest> <mediaType> blobs_bytes=<n>
 *     manifest <digest> config <digest>
 *       layer <digest> <size>
 */
export function parseImagesTxt(text: string): Map<string, ImageSummary> {
  const images = new Map<string, ImageSummary>();
  let image: ImageSummary | undefined;
  let manifest: ManifestSummary | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line.trim() === '' || line.startsWith('#')) return;
    const f = line.trim().split(/\s+/);
    const bad = (): Error => new Error(`IMAGES.txt line ${i + 1} is malformed: ${JSON.stringify(raw)}`);
    if (!line.startsWith(' ')) {
      const m = /^blobs_bytes=(\d+)$/.exec(f[3] ?? '');
      if (f.length !== 4 || !isDigest(f[1]) || !m) throw bad();
      image = { name: f[0], digest: f[1], mediaType: f[2], blobsBytes: Number(m[1]), manifests: [] };
      manifest = undefined;
      images.set(image.name, image);
    } else if (f[0] === 'manifest') {
      if (!image || f.length !== 4 || f[2] !== 'config' || !isDigest(f[1]) || !isDigest(f[3])) throw bad();
      manifest = { digest: f[1], config: f[3], layers: [] };
      image.manifests.push(manifest);
    } else if (f[0] === 'layer') {
      if (!manifest || f.length !== 3 || !isDigest(f[1]) || !/^\d+$/.test(f[2])) throw bad();
      manifest.layers.push({ digest: f[1], size: Number(f[2]) });
    } else {
      throw bad();
    }
  });
  return images;
}

export function isDigest(s: string | undefined): s is string {
  return s !== undefined && /^sha256:[a-f0-9]{64}$/.test(s);
}

// ---------------------------------------------------------------------- OCI JSON (narrowed, typed)

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}
export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}
export interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  rootfs: { type: string; diff_ids: string[] };
}

type Json = Record<string, unknown>;
function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function fail(what: string, v: unknown): never {
  throw new Error(`not ${what}: ${JSON.stringify(v).slice(0, 300)}`);
}

export function asDescriptor(v: unknown): Descriptor {
  if (!isObject(v) || typeof v.mediaType !== 'string' || !isDigest(String(v.digest)) || typeof v.size !== 'number') {
    return fail('a descriptor', v);
  }
  const d: Descriptor = { mediaType: v.mediaType, digest: String(v.digest), size: v.size };
  if (isObject(v.platform)) {
    const p = v.platform;
    if (typeof p.architecture !== 'string' || typeof p.os !== 'string') fail('a platform', p);
    d.platform = { architecture: p.architecture, os: p.os, ...(typeof p.variant === 'string' && { variant: p.variant }) };
  }
  if (isObject(v.annotations)) d.annotations = Object.fromEntries(Object.entries(v.annotations).map(([k, x]) => [k, String(x)]));
  return d;
}

export function parseManifest(bytes: Buffer | string): ImageManifest {
  const v: unknown = JSON.parse(bytes.toString());
  if (!isObject(v) || !Array.isArray(v.layers) || !isObject(v.config)) return fail('an image manifest', v);
  return {
    schemaVersion: Number(v.schemaVersion),
    ...(typeof v.mediaType === 'string' && { mediaType: v.mediaType }),
    config: asDescriptor(v.config),
    layers: v.layers.map(asDescriptor),
  };
}

export function parseIndex(bytes: Buffer | string): ImageIndex {
  const v: unknown = JSON.parse(bytes.toString());
  if (!isObject(v) || !Array.isArray(v.manifests)) return fail('an image index', v);
  return {
    schemaVersion: Number(v.schemaVersion),
    ...(typeof v.mediaType === 'string' && { mediaType: v.mediaType }),
    manifests: v.manifests.map(asDescriptor),
  };
}

export function parseConfig(bytes: Buffer | string): ImageConfig {
  const v: unknown = JSON.parse(bytes.toString());
  if (!isObject(v) || !isObject(v.rootfs) || !Array.isArray(v.rootfs.diff_ids)) return fail('an image config', v);
  return {
    architecture: String(v.architecture),
    os: String(v.os),
    ...(typeof v.variant === 'string' && { variant: v.variant }),
    rootfs: { type: String(v.rootfs.type), diff_ids: v.rootfs.diff_ids.map(String) },
  };
}

// ----------------------------------------------------------------------------------- OCI layouts

export async function sha256File(file: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(fs.createReadStream(file), async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) {
      hash.update(chunk);
      size += chunk.length;
    }
  });
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

/** What an image looks like once its layers are uncompressed: the comparison for clients that recompress. */
export interface ImageContent {
  platform: Platform;
  configDigest: string;
  diffIds: string[];
}

export interface LayoutBlob {
  digest: string;
  size: number;
  mediaType: string;
  kind: 'index' | 'manifest' | 'config' | 'layer';
}

/** An OCI image layout directory (one of make-images.sh's, or one a client pulled into). */
export class OciLayout {
  constructor(readonly dir: string) {}

  blobPath(digest: string): string {
    if (!isDigest(digest)) throw new Error(`bad digest ${digest}`);
    return path.join(this.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  }

  async readBlob(digest: string): Promise<Buffer> {
    return fs.promises.readFile(this.blobPath(digest));
  }

  /** The descriptor index.json lists for a ref name (make-images.sh tags everything "latest"). */
  async top(ref = 'latest'): Promise<Descriptor> {
    const index = parseIndex(await fs.promises.readFile(path.join(this.dir, 'index.json')));
    const found = index.manifests.filter((d) => (d.annotations?.['org.opencontainers.image.ref.name'] ?? ref) === ref);
    if (found.length !== 1) throw new Error(`${this.dir}: expected one manifest for ref ${ref}, found ${found.length}`);
    return found[0];
  }

  /** Every blob reachable from the top descriptor (indexes, manifests, configs, layers), top first, once each. */
  async blobs(ref = 'latest'): Promise<LayoutBlob[]> {
    const out = new Map<string, LayoutBlob>();
    const add = (d: Descriptor, kind: LayoutBlob['kind']): void => {
      if (!out.has(d.digest)) out.set(d.digest, { digest: d.digest, size: d.size, mediaType: d.mediaType, kind });
    };
    const visit = async (d: Descriptor): Promise<void> => {
      const bytes = await this.readBlob(d.digest);
      if (d.mediaType === MT.ociIndex || d.mediaType === MT.dockerManifestList) {
        add(d, 'index');
        for (const child of parseIndex(bytes).manifests) await visit(child);
      } else {
        add(d, 'manifest');
        const m = parseManifest(bytes);
        add(m.config, 'config');
        for (const l of m.layers) add(l, 'layer');
      }
    };
    await visit(await this.top(ref));
    return [...out.values()];
  }

  /** Config digest and diff_ids of each image manifest reachable from the top (index order). */
  async contents(ref = 'latest'): Promise<ImageContent[]> {
    const top = await this.top(ref);
    const manifests =
      top.mediaType === MT.ociIndex ? parseIndex(await this.readBlob(top.digest)).manifests : [top];
    const out: ImageContent[] = [];
    for (const d of manifests) {
      const m = parseManifest(await this.readBlob(d.digest));
      const config = parseConfig(await this.readBlob(m.config.digest));
      out.push({
        platform: { os: config.os, architecture: config.architecture, ...(d.platform?.variant && { variant: d.platform.variant }) },
        configDigest: m.config.digest,
        diffIds: config.rootfs.diff_ids,
      });
    }
    return out;
  }
}

/** The test images: their directory, the IMAGES.txt summary and a layout per image. */
export class TestImages {
  readonly summaries: Map<string, ImageSummary>;

  constructor(readonly dir: string) {
    this.summaries = parseImagesTxt(fs.readFileSync(path.join(dir, 'IMAGES.txt'), 'utf8'));
    for (const name of TEST_IMAGE_NAMES) {
      if (!this.summaries.has(name)) throw new Error(`${dir}/IMAGES.txt lists no image "${name}"`);
    }
  }

  summary(name: TestImageName): ImageSummary {
    const s = this.summaries.get(name);
    if (!s) throw new Error(`no test image ${name}`);
    return s;
  }

  layout(name: TestImageName): OciLayout {
    return new OciLayout(path.join(this.dir, name));
  }

  /** The single image manifest of a non-index image. */
  manifest(name: Exclude<TestImageName, 'multi'>): ManifestSummary {
    const [m, ...rest] = this.summary(name).manifests;
    if (!m || rest.length > 0) throw new Error(`${name} is not a single-manifest image`);
    return m;
  }
}

// ----------------------------------------------------------------------------- finding / building

function hasImagesTxt(dir: string | undefined): dir is string {
  return !!dir && fs.existsSync(path.join(dir, 'IMAGES.txt'));
}

/** The images directory if it already exists (no building); synchronous, for test registration. */
export function locateTestImages(): string | undefined {
  const fromEnv = process.env.REGISTRY_TEST_IMAGES;
  if (hasImagesTxt(fromEnv)) return path.resolve(fromEnv);
  if (hasImagesTxt(DEFAULT_IMAGES_DIR)) return DEFAULT_IMAGES_DIR;
  return undefined;
}

/** Why the images are unavailable and will not be built, or undefined when tests can get them. */
export function missingImagesReason(): string | undefined {
  if (locateTestImages() || clientsRequired()) return undefined;
  return (
    `no test images: neither $REGISTRY_TEST_IMAGES nor ${DEFAULT_IMAGES_DIR} holds IMAGES.txt ` +
    `(build them with: IMAGES_DIR=${DEFAULT_IMAGES_DIR} bash ${MAKE_IMAGES_SCRIPT}, ` +
    `or set REGISTRY_TEST_REQUIRE_CLIENTS=1 to have the tests build them)`
  );
}

const BUILD_TIMEOUT_MS = 20 * 60_000;

/**
 * The directory holding the OCI layouts, building it when REGISTRY_TEST_REQUIRE_CLIENTS=1 and
 * none exists; undefined when there are none and building is not asked for.
 */
export async function ensureTestImages(): Promise<string | undefined> {
  const fromEnv = process.env.REGISTRY_TEST_IMAGES;
  if (hasImagesTxt(fromEnv)) return path.resolve(fromEnv);
  if (!clientsRequired()) return locateTestImages();
  await buildTestImagesLocked(DEFAULT_IMAGES_DIR);
  return DEFAULT_IMAGES_DIR;
}

/**
 * Builds the images into `dir` unless they are there, under a lock directory: make-images.sh
 * writes IMAGES.txt progressively, so its presence means "complete" only while nobody holds the
 * lock. Whoever gets the lock either finds a finished build or runs one; the others wait.
 */
async function buildTestImagesLocked(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, '.build-lock');
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  for (;;) {
    try {
      fs.mkdirSync(lock);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (lockIsStale(lock)) fs.rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`gave up waiting for ${lock} (another test is building images)`);
      else await new Promise((r) => setTimeout(r, 2000));
      continue;
    }
    try {
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      if (!hasImagesTxt(dir)) await runMakeImages(dir);
      return;
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

function lockIsStale(lock: string): boolean {
  try {
    const pid = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'));
    process.kill(pid, 0);
    return false;
  } catch {
    // no pid file yet (holder just created the lock) or holder gone: stale only if it is old
    try {
      return Date.now() - fs.statSync(lock).mtimeMs > 60_000;
    } catch {
      return false;
    }
  }
}

function runMakeImages(dir: string): Promise<void> {
  if (!fs.existsSync(MAKE_IMAGES_SCRIPT)) {
    return Promise.reject(new Error(`cannot build test images: ${MAKE_IMAGES_SCRIPT} does not exist`));
  }
  const logFile = path.join(dir, 'make-images.log');
  const log = fs.openSync(logFile, 'w');
  return new Promise<void>((resolve, reject) => {
    const child = spawn('bash', [MAKE_IMAGES_SCRIPT], {
      env: { ...process.env, IMAGES_DIR: dir },
      stdio: ['ignore', log, log],
      detached: true,
    });
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, BUILD_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fs.closeSync(log);
      if (code === 0 && hasImagesTxt(dir)) return resolve();
      const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-25).join('\n');
      reject(new Error(`make-images.sh failed (${signal ?? `exit ${code}`}); ${logFile} ends with:\n${tail}`));
    });
  });
}

/**
 * Differences between a layout a client pulled and the original one, as readable lines (empty when
 * identical): the top descriptor must match and every blob the original reaches must exist in the
 * pulled layout with the same bytes (its file hashes to its digest and has the original size).
 */
export async function diffLayouts(pulled: OciLayout, original: OciLayout, ref = 'latest'): Promise<string[]> {
  const problems: string[] = [];
  const [a, b] = [await pulled.top(ref), await original.top(ref)];
  if (a.digest !== b.digest) problems.push(`top manifest ${a.digest}, expected ${b.digest}`);
  for (const blob of await original.blobs(ref)) {
    const file = pulled.blobPath(blob.digest);
    if (!fs.existsSync(file)) {
      problems.push(`missing ${blob.kind} ${blob.digest}`);
      continue;
    }
    const h = await sha256File(file);
    if (h.digest !== blob.digest || h.size !== blob.size) {
      problems.push(`${blob.kind} ${blob.digest} (${blob.size} B) has bytes hashing to ${h.digest} (${h.size} B)`);
    }
  }
  return problems;
}
